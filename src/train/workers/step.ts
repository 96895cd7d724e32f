/**
 * One optimizer step over several threads. The step's accumulationSteps micro-batches are cut as
 * trainStep cuts them; the main thread computes the first `share`, worker w the next `share`, and so on.
 * The sums run in micro-batch order on the main thread and the one optimizer applies the update, so the
 * step is trainStep's step with the same micro-batches, whatever the number of threads.
 *
 *   1. parameters → shared memory (one copy); the workers' micro-batches → the workers (transferred)
 *   2. the main thread's share, summed
 *   3. each worker's gradients added in micro-batch order and averaged, the division in the pass of the last
 *      addition, over flat arrays (float32 arithmetic: the additions and division tf.add and tf.div make,
 *      without 2 kernel calls per parameter; on wasm as kernels on flat tensors: averageGradients);
 *      clip, apply
 * `whileWaiting` runs between 2 and 3, while the workers may still compute (the loop prepares its next batch there).
 */
import * as tf from '../../tf.js';
import type { Batch } from '../../data/dataset.js';
import { addMicroBatch, applySums, dropoutSeedFor, microBatchGradients, readStepResult, splitBatch, type MicroGradients, type StepResult, type StepSettings } from '../step.js';
import { layerKernelsRun } from '../../models/fused.js';
import { packFlat, sumDivided, unpackFlat } from './flat-wasm.js';
import { readFlat, writeFlat, type ParamLayout } from './layout.js';
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
    const slots = shares.flatMap(({ losses }, w) => losses.map((_, j) => pool.gradientSlot(w, j)));
    const grads = averageGradients(local.grads, slots, accumulationSteps, pool.layout);
    tf.dispose(Object.values(local.grads));
    let { loss, correct } = local;
    shares.forEach(({ losses, corrects }) =>
      losses.forEach((workerLoss, j) => {
        loss = tf.add(loss, workerLoss) as tf.Scalar;
        correct = tf.add(correct, corrects[j]) as tf.Scalar;
      }),
    );
    // Made outside this tidy (and `correct` kept by microBatchGradients): disposed by hand once summed.
    if (loss !== local.loss) local.loss.dispose();
    if (correct !== local.correct) local.correct.dispose();
    return applySums(settings, { loss, correct, grads }, accumulationSteps, measureNorms, true);
  });
  return readStepResult(out);
}

/**
 * The step's averaged gradients by parameter name: this thread's sums, then each worker slot added in micro-batch
 * order, the division by `count` in the pass of the last addition. On wasm three kinds of kernel call on flat
 * tensors (flat-wasm.ts); elsewhere one JavaScript pass per slot over flat arrays. Call inside tf.tidy.
 */
function averageGradients(local: tf.NamedTensorMap, slots: Float32Array[], count: number, layout: ParamLayout): tf.NamedTensorMap {
  if (layerKernelsRun()) {
    let sums = packFlat((name) => local[name], layout);
    slots.forEach((slot, i) => (sums = sumDivided(sums, tf.tensor1d(slot, 'float32'), i === slots.length - 1 ? count : 1)));
    return unpackFlat(sums, layout);
  }
  const sums = new Float32Array(layout.total);
  writeFlat(local, layout, sums);
  slots.forEach((slot, i) => addFloat32(sums, slot, i === slots.length - 1 ? count : 1));
  return readFlat(layout, sums);
}

/**
 * sums[i] = (sums[i] + add[i]) / divisor in float32, in one pass: Math.fround of the exact double sum is the
 * float32 sum (as tf.add gives), and the double quotient of two float32s rounds to the float32 quotient (as
 * tf.div gives). `divisor` 1 adds only.
 */
function addFloat32(sums: Float32Array, add: Float32Array, divisor: number): void {
  if (divisor === 1) {
    for (let i = 0; i < sums.length; i++) sums[i] += add[i];
    return;
  }
  for (let i = 0; i < sums.length; i++) sums[i] = Math.fround(sums[i] + add[i]) / divisor;
}
