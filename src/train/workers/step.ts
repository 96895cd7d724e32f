/**
 * One optimizer step over several threads. The step's accumulationSteps micro-batches are cut as
 * trainStep cuts them; the main thread computes the first `share`, worker w the next `share`, and so on.
 * The sums run in micro-batch order on the main thread and the one optimizer applies the update, so the
 * step is trainStep's step with the same micro-batches, whatever the number of threads.
 *
 *   1. parameters → shared memory (one copy); the workers' micro-batches → the workers (transferred)
 *   2. the main thread's share, summed
 *   3. each worker's gradients added in micro-batch order and averaged, in one pass over flat arrays (float32
 *      arithmetic: the additions and division tf.add and tf.div make, without 2 kernel calls per parameter);
 *      clip, apply
 * `whileWaiting` runs between 2 and 3, while the workers may still compute (the loop prepares its next batch there).
 */
import * as tf from '../../tf.js';
import type { Batch } from '../../data/dataset.js';
import { addMicroBatch, applySums, dropoutSeedFor, microBatchGradients, readStepResult, splitBatch, type MicroGradients, type StepResult, type StepSettings } from '../step.js';
import { readFlat, writeFlat } from './layout.js';
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
    const { layout } = pool;
    const grads = new Float32Array(layout.total);
    writeFlat(local.grads, layout, grads);
    tf.dispose(Object.values(local.grads));
    let { loss, correct } = local;
    shares.forEach(({ losses, corrects }, w) =>
      losses.forEach((workerLoss, j) => {
        addFloat32(grads, pool.gradientSlot(w, j));
        loss = tf.add(loss, workerLoss) as tf.Scalar;
        correct = tf.add(correct, corrects[j]) as tf.Scalar;
      }),
    );
    divideFloat32(grads, accumulationSteps);
    // Made outside this tidy (and `correct` kept by microBatchGradients): disposed by hand once summed.
    if (loss !== local.loss) local.loss.dispose();
    if (correct !== local.correct) local.correct.dispose();
    return applySums(settings, { loss, correct, grads: readFlat(layout, grads) }, accumulationSteps, measureNorms, true);
  });
  return readStepResult(out);
}

/** sums[i] += add[i] in float32 (Math.fround of the exact double sum is the float32 sum, as tf.add gives). */
function addFloat32(sums: Float32Array, add: Float32Array): void {
  for (let i = 0; i < sums.length; i++) sums[i] += add[i];
}

/** values[i] /= count in float32 (as tf.div gives: a double quotient of float32s rounds to the float32 one). */
function divideFloat32(values: Float32Array, count: number): void {
  if (count === 1) return;
  for (let i = 0; i < values.length; i++) values[i] /= count;
}
