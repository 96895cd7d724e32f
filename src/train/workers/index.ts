/** train.workers: data-parallel steps over worker threads (see step.ts for the maths, pool.ts for the threads). */
import { availableParallelism } from 'node:os';
import type { Plan } from '../plan.js';
import { layoutOf } from './layout.js';
import { WorkerPool } from './pool.js';

export { trainStepWithWorkers } from './step.js';
export { WorkerFailure, WorkerPool } from './pool.js';

/**
 * The run's worker threads, or undefined when it trains on the main thread alone: train.workers 1, or
 * a native backend (gpu, node), which already uses every core and does not load in worker threads, or webgpu.
 */
export async function startWorkers(plan: Plan, log: (line: string) => void): Promise<WorkerPool | undefined> {
  const { train, model } = plan.config;
  if (train.workers === 1) return undefined;
  if (plan.backend.name === 'gpu' || plan.backend.name === 'node' || plan.backend.name === 'webgpu') {
    const why = plan.backend.name === 'webgpu' ? 'the step runs on the GPU' : 'it uses every core by itself';
    log(`train.workers ${train.workers}: not used on the ${plan.backend.name} backend (${why}); training on one thread`);
    return undefined;
  }
  const cores = availableParallelism();
  if (train.workers > cores) {
    log(`train.workers ${train.workers}: this machine has ${cores} core${cores > 1 ? 's' : ''}, so its threads take turns (any train.workers that divides accumulationSteps gives the same numbers)`);
  }
  const share = train.accumulationSteps / train.workers;
  const started = performance.now();
  const pool = await WorkerPool.start({
    threads: train.workers,
    share,
    backend: plan.backend.name,
    model,
    spec: plan.dataset.spec,
    labelSmoothing: train.labelSmoothing,
    seed: train.seed,
    layout: layoutOf(plan.model),
  });
  const micro = train.batchSize / train.accumulationSteps;
  log(
    `workers: ${train.workers} threads (this one + ${train.workers - 1}), ${share} micro-batch${share > 1 ? 'es' : ''} of ${micro} each per step; ` +
      `started in ${Math.round(performance.now() - started)} ms`,
  );
  return pool;
}
