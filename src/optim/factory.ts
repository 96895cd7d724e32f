/** The optimizer a config names, with the run's schedule as its learning rate and its decay exclusions. */
import type * as tf from '../tf.js';
import type { ResolvedOptimizer } from '../config/optimizer-options.js';
import { Adafactor } from './adafactor.js';
import { AdamW } from './adamw.js';
import { Lion } from './lion.js';
import { ProgramOptimizer } from './program.js';
import type { StateSpec } from './kernel.js';
import type { Schedule } from './schedules.js';

export type RunOptimizer = tf.Optimizer & {
  stateBytes(): number;
  /** The state tensors kept for a variable `name` of `shape` (key and shape each). */
  stateLayout(name: string, shape: number[]): StateSpec[];
};

export interface OptimizerSetup {
  resolved: ResolvedOptimizer;
  /** The multiplier schedule; the optimizer's learning rate is peak · multiplier(step). */
  multiplier: Schedule;
  weightDecayExclude: string[];
}

export function createOptimizer({ resolved, multiplier, weightDecayExclude }: OptimizerSetup): RunOptimizer {
  switch (resolved.name) {
    case 'program': {
      const peak = resolved.options.learningRate;
      return new ProgramOptimizer({ program: resolved.options.program, learningRate: (step: number) => peak * multiplier(step), weightDecayExclude });
    }
    case 'lion': {
      const peak = resolved.options.learningRate;
      return new Lion({ ...resolved.options, learningRate: (step: number) => peak * multiplier(step), weightDecayExclude });
    }
    case 'adamw': {
      const peak = resolved.options.learningRate;
      return new AdamW({ ...resolved.options, learningRate: (step: number) => peak * multiplier(step), weightDecayExclude });
    }
    case 'adafactor': {
      const peak = resolved.options.learningRate;
      // With relativeStep, Adafactor computes its own step size and the schedule does not apply.
      const learningRate = peak === null ? undefined : (step: number) => peak * multiplier(step);
      return new Adafactor({ ...resolved.options, learningRate, weightDecayExclude });
    }
  }
}

/**
 * The learning rate applied at `step`, for logs. For Adafactor's relative step this is
 * min(1e-2 or 1e-6·t, 1/sqrt(t)) before its per-parameter RMS scaling.
 */
export function scheduledLearningRate(resolved: ResolvedOptimizer, multiplier: Schedule, step: number): number {
  if (resolved.name === 'adafactor' && resolved.options.learningRate === null) {
    const t = step + 1;
    return Math.min(resolved.options.warmupInit ? 1e-6 * t : 1e-2, 1 / Math.sqrt(t));
  }
  return (resolved.options.learningRate as number) * multiplier(step);
}
