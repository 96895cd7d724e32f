/**
 * One optimizer step over several threads. The step's accumulationSteps micro-batches are cut as
 * trainStep cuts them; the main thread computes the first `share`, worker w the next `share`, and so on.
 * The sums run in micro-batch order on the main thread and the one optimizer applies the update, so the
 * step is trainStep's step with the same micro-batches, whatever the number of threads.
 *
 *   1. parameters → shared memory (one copy); the workers' micro-batches → the workers (transferred)
 *   2. the main thread's share, summed
 *   3. each worker's gradients (shared memory) added in micro-batch order; average, clip, apply
 * `whileWaiting` runs between 2 and 3, while the workers may still compute (the loop prepares its next batch there).
 */
import * as tf from '../../tf.js';
import type { Batch } from '../../data/dataset.js';
import { addMicroBatch, applySums, dropoutSeedFor, microBatchGradients, readStepResult, splitBatch, type MicroGradients, type StepResult, type StepSettings } from '../step.js';
import type { WorkerPool, WorkerShare } from './pool.js';

export async function trainStepWithWorkers(
  settings: StepSettings,
  pool: WorkerPool,
  batch: Batch,
  step: number,
  measureNorms: boolean,
  whileWaiting?: () => void,
): Promise<StepResult> {
  const { model, accumulationSteps, labelSmoothing, seed } = settings;
  const micros = splitBatch(batch, accumulationSteps);
  const { share } = pool;

  // 1. Broadcast and hand out.
  pool.publishParameters(model);
  const remote = pool.compute(step, micros.slice(share));
  remote.catch(() => {}); // awaited below; this keeps a failure while this thread throws from going unhandled

  // 2. This thread's share: micro-batches 0 … share − 1.
  const local = tf.tidy(() => {
    let sums: MicroGradients | null = null;
    for (let i = 0; i < share; i++) sums = addMicroBatch(sums, microBatchGradients(model, micros[i], dropoutSeedFor(seed, step, i), labelSmoothing));
    return sums!;
  });

  // 3. The workers' shares, in order, then the update.
  let shares: WorkerShare[];
  try {
    whileWaiting?.();
    shares = await remote;
  } catch (error) {
    tf.dispose(local);
    throw error;
  }
  const out = tf.tidy(() => {
    let sums = local;
    shares.forEach(({ losses, corrects }, w) =>
      losses.forEach((loss, j) => {
        sums = addMicroBatch(sums, { loss: tf.scalar(loss), correct: tf.scalar(corrects[j]), grads: pool.gradients(w, j) });
      }),
    );
    return applySums(settings, sums, accumulationSteps, measureNorms);
  });
  return readStepResult(out);
}
