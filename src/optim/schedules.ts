/**
 * Learning-rate schedules as pure functions of the 0-based step: lr(step) = peak · multiplier(step).
 *   1. warmup: the multiplier rises linearly, (step + 1) / warmup, reaching 1 at the last warmup step;
 *   2. then the named shape runs from 1 towards endFactor, which it reaches at step `total` (the step
 *      after the last, so no step is wasted at the end value):
 *      constant: 1 · cosine: half a cosine wave · linear: a straight line ·
 *      rsqrt: sqrt(τ / (step + 1)) once step + 1 ≥ τ = max(warmup, timescale), 1 before ·
 *      wsd (warmup-stable-decay): 1 until the last decayFraction of the steps, then a straight line.
 */
import type { ScheduleConfig } from '../config/types.generated.js';

export type Schedule = (step: number) => number;

export interface ScheduleSpec {
  name: ScheduleConfig['name'];
  warmupSteps: number;
  endFactor: number;
  timescale: number;
  decayFraction: number;
}

const shapes: Record<ScheduleSpec['name'], (progress: number, step: number, spec: ScheduleSpec, total: number) => number> = {
  constant: () => 1,
  cosine: (p, _s, { endFactor }) => endFactor + (1 - endFactor) * 0.5 * (1 + Math.cos(Math.PI * p)),
  linear: (p, _s, { endFactor }) => 1 - (1 - endFactor) * p,
  rsqrt: (_p, step, { warmupSteps, timescale }) => {
    const tau = Math.max(warmupSteps, timescale);
    return Math.sqrt(tau / Math.max(step + 1, tau));
  },
  wsd: (_p, step, { endFactor, decayFraction }, total) => {
    const decaySteps = Math.max(1, Math.round(decayFraction * total));
    const decayStart = total - decaySteps;
    if (step < decayStart) return 1;
    return 1 - (1 - endFactor) * Math.min(1, (step - decayStart) / decaySteps);
  },
};

/** The multiplier schedule for a run of `totalSteps` steps. */
export function multiplierSchedule(spec: ScheduleSpec, totalSteps: number): Schedule {
  const warmup = Math.min(spec.warmupSteps, totalSteps);
  const shape = shapes[spec.name];
  return (step) => {
    if (step < warmup) return (step + 1) / warmup;
    const decaySpan = Math.max(1, totalSteps - warmup);
    const progress = Math.min(1, Math.max(0, (step - warmup) / decaySpan));
    return shape(progress, step, spec, totalSteps);
  };
}

/** The spec of a config's schedule section, with warmupFraction turned into steps. */
export function scheduleSpec(config: ScheduleConfig, totalSteps: number): ScheduleSpec {
  const warmupSteps = config.warmupFraction === null ? config.warmupSteps : Math.round(config.warmupFraction * totalSteps);
  return { name: config.name, warmupSteps, endFactor: config.endFactor, timescale: config.timescale, decayFraction: config.decayFraction };
}

/** lr(step) = peak · multiplier(step). */
export function learningRateSchedule(peak: number, config: ScheduleConfig, totalSteps: number): Schedule {
  const multiplier = multiplierSchedule(scheduleSpec(config, totalSteps), totalSteps);
  return (step) => peak * multiplier(step);
}
