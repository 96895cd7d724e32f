/**
 * One optimizer step: forward and backward over accumulationSteps micro-batches, gradients averaged,
 * clipped by global norm, applied by the optimizer. Everything inside tf.tidy: no tensor outlives it.
 */
import * as tf from '../tf.js';
import type { Batch } from '../data/dataset.js';
import type { Model } from '../models/model.js';
import { Rng } from '../random.js';
import { lossAndCorrect } from './task.js';

export interface StepSettings {
  model: Model;
  optimizer: tf.Optimizer;
  accumulationSteps: number;
  gradClipNorm: number | null;
  labelSmoothing: number;
  seed: number;
}

export interface StepResult {
  loss: number;
  /** Correct argmax predictions in the batch. */
  correct: number;
  /** Global L2 norm of the averaged gradient before clipping (NaN when not measured). */
  gradNorm: number;
  /** L2 norm of the parameter change (NaN when not measured). */
  updateNorm: number;
}

export function batchTensors(batch: Batch): { x: tf.Tensor; y: tf.Tensor } {
  const x = batch.x instanceof Int32Array ? tf.tensor(batch.x, batch.xShape, 'int32') : tf.tensor(batch.x, batch.xShape, 'float32');
  return { x, y: tf.tensor(batch.y, batch.yShape, 'int32') };
}

/** Splits a batch along its first axis into `parts` equal micro-batches. */
export function splitBatch(batch: Batch, parts: number): Batch[] {
  if (parts === 1) return [batch];
  const n = batch.xShape[0] / parts;
  const xPer = batch.x.length / batch.xShape[0];
  const yPer = batch.y.length / batch.yShape[0];
  return Array.from({ length: parts }, (_, i) => ({
    x: batch.x.slice(i * n * xPer, (i + 1) * n * xPer),
    xShape: [n, ...batch.xShape.slice(1)],
    y: batch.y.slice(i * n * yPer, (i + 1) * n * yPer),
    yShape: [n, ...batch.yShape.slice(1)],
  }));
}

/** Operands per addN: WebGPU gives a shader 8 storage buffers (the output takes one). */
const ADD_N_MAX = 7;

/**
 * Σ tensors, added left to right in addN calls of at most 7 operands: the same order (so the same sums) as one
 * addN, and within the webgpu backend's limit of storage buffers per shader (a larger addN fails validation,
 * and the GPU then drops the whole step's work).
 */
export function addMany(tensors: tf.Tensor[]): tf.Tensor {
  let sum = tensors.length <= ADD_N_MAX ? tf.addN(tensors) : tf.addN(tensors.slice(0, ADD_N_MAX));
  for (let i = ADD_N_MAX; i < tensors.length; i += ADD_N_MAX - 1) sum = tf.addN([sum, ...tensors.slice(i, i + ADD_N_MAX - 1)]);
  return sum;
}

export function globalNorm(tensors: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.sqrt(addMany(tensors.map((t) => tf.sum(tf.square(t))))) as tf.Scalar);
}

/** As torch.nn.utils.clip_grad_norm_: scale every gradient by maxNorm / (norm + 1e-6) when that is below 1. */
export function clipByGlobalNorm(grads: tf.NamedTensorMap, norm: tf.Scalar, maxNorm: number): tf.NamedTensorMap {
  return tf.tidy(() => {
    const scale = tf.minimum(tf.scalar(1), tf.div(maxNorm, tf.add(norm, 1e-6)));
    return Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.mul(g, scale)]));
  });
}

/** The dropout seed of micro-batch `microIndex` of `step`: the same whichever thread computes it. */
export function dropoutSeedFor(seed: number, step: number, microIndex: number): number {
  return Rng.derive(seed, 'dropout', step, microIndex).nextUint32();
}

/** One micro-batch's mean loss, correct count and gradients by parameter name. */
export type MicroGradients = {
  loss: tf.Scalar;
  correct: tf.Scalar;
  grads: tf.NamedTensorMap;
};

/** Forward and backward over one micro-batch (call inside tf.tidy). The worker threads run this too. */
export function microBatchGradients(model: Model, micro: Batch, dropoutSeed: number, labelSmoothing: number): MicroGradients {
  const { x, y } = batchTensors(micro);
  let correct: tf.Scalar | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const result = lossAndCorrect(model.forward(x, { training: true, seed: dropoutSeed }), y, labelSmoothing);
    correct = tf.keep(result.correct);
    return result.loss;
  }, [...model.params.values()]);
  return { loss: value, correct: correct!, grads };
}

/**
 * Adds one micro-batch to the running sums (null before the first), in micro-batch order: the order
 * fixes the rounding, so a step gives the same sums whichever threads computed its micro-batches.
 * Gradient tensors that are summed are disposed; call inside tf.tidy.
 */
export function addMicroBatch(sums: MicroGradients | null, micro: MicroGradients): MicroGradients {
  if (sums === null) return micro;
  const grads: tf.NamedTensorMap = {};
  for (const [name, grad] of Object.entries(micro.grads)) {
    const previous = sums.grads[name];
    grads[name] = tf.add(previous, grad);
    previous.dispose();
    grad.dispose();
  }
  const loss = tf.add(sums.loss, micro.loss) as tf.Scalar;
  const correct = tf.add(sums.correct, micro.correct) as tf.Scalar;
  // `correct` is tf.keep-ed in microBatchGradients (it leaves variableGrads' scope): dispose it by hand.
  tf.dispose([sums.loss, sums.correct, micro.loss, micro.correct]);
  return { loss, correct, grads };
}

/**
 * Sums over `count` micro-batches → averaged gradient (already averaged with `gradsAveraged`; the loss is always
 * a sum), its norm, clipping, the optimizer update (call inside tf.tidy).
 */
export function applySums(settings: StepSettings, sums: MicroGradients, count: number, measureNorms: boolean, gradsAveraged = false) {
  const { model, optimizer, gradClipNorm } = settings;
  const params = [...model.params.values()];
  const grads = count > 1 && !gradsAveraged ? Object.fromEntries(Object.entries(sums.grads).map(([k, g]) => [k, tf.div(g, count)])) : sums.grads;
  const needNorm = measureNorms || gradClipNorm !== null;
  const gradNorm = needNorm ? globalNorm(Object.values(grads)) : tf.scalar(Number.NaN);
  const clipped = gradClipNorm === null ? grads : clipByGlobalNorm(grads, gradNorm, gradClipNorm);
  const before = measureNorms ? params.map((p) => p.clone()) : [];
  optimizer.applyGradients(clipped);
  const updateNorm = measureNorms ? globalNorm(params.map((p, i) => tf.sub(p, before[i]))) : tf.scalar(Number.NaN);
  return { loss: tf.div(sums.loss, count), correct: sums.correct, gradNorm, updateNorm };
}

/** Reads (and disposes) the scalars applySums returns. */
export function readStepResult(out: ReturnType<typeof applySums>): StepResult {
  const [loss, correct, gradNorm, updateNorm] = [out.loss, out.correct, out.gradNorm, out.updateNorm].map((t) => {
    const v = t.dataSync()[0];
    t.dispose();
    return v;
  });
  return { loss, correct, gradNorm, updateNorm };
}

/**
 * The same read without a synchronous read-back: one data() of the four scalars stacked. The webgpu backend
 * cannot read synchronously in Node, and a GPU step should not stall on the CPU.
 */
export async function readStepResultAsync(out: ReturnType<typeof applySums>): Promise<StepResult> {
  const all = tf.tidy(() => tf.stack([out.loss, tf.cast(out.correct, 'float32'), out.gradNorm, out.updateNorm]));
  tf.dispose([out.loss, out.correct, out.gradNorm, out.updateNorm]);
  const [loss, correct, gradNorm, updateNorm] = await all.data();
  all.dispose();
  return { loss, correct, gradNorm, updateNorm };
}

/** A step's four results as one float32 tensor [loss, correct, gradNorm, updateNorm] (disposes the scalars). */
export function stepScalars(out: ReturnType<typeof applySums>): tf.Tensor1D {
  const all = tf.tidy(() => tf.stack([out.loss, tf.cast(out.correct, 'float32'), out.gradNorm, out.updateNorm]) as tf.Tensor1D);
  tf.dispose([out.loss, out.correct, out.gradNorm, out.updateNorm]);
  return all;
}

/** Tensors per concat: a WebGPU shader binds 8 storage buffers, the output takes one. */
const CONCAT_MAX = 7;

/**
 * The results of several steps, each a `stepScalars` tensor, read back with ONE asynchronous data() (disposes
 * them): the training loop reads a log interval's steps this way, so a GPU step never waits for the CPU.
 */
export async function readStepScalars(steps: tf.Tensor1D[]): Promise<StepResult[]> {
  if (steps.length === 0) return [];
  const joined = tf.tidy(() => {
    let parts: tf.Tensor1D[] = steps;
    while (parts.length > 1) {
      const next: tf.Tensor1D[] = [];
      for (let i = 0; i < parts.length; i += CONCAT_MAX) next.push(tf.concat(parts.slice(i, i + CONCAT_MAX)));
      parts = next;
    }
    return parts[0].clone();
  });
  tf.dispose(steps);
  const values = await joined.data();
  joined.dispose();
  return steps.map((_, k) => ({ loss: values[4 * k], correct: values[4 * k + 1], gradNorm: values[4 * k + 2], updateNorm: values[4 * k + 3] }));
}

/** trainStep's update, its scalars left as tensors (for readStepResult or readStepResultAsync). */
export function trainStepTensors(settings: StepSettings, batch: Batch, step: number, measureNorms: boolean): ReturnType<typeof applySums> {
  const { model, accumulationSteps, labelSmoothing, seed } = settings;
  return tf.tidy(() => {
    let sums: MicroGradients | null = null;
    splitBatch(batch, accumulationSteps).forEach((micro, i) => {
      sums = addMicroBatch(sums, microBatchGradients(model, micro, dropoutSeedFor(seed, step, i), labelSmoothing));
    });
    return applySums(settings, sums!, accumulationSteps, measureNorms);
  });
}

export function trainStep(settings: StepSettings, batch: Batch, step: number, measureNorms: boolean): StepResult {
  const { model, accumulationSteps, labelSmoothing, seed } = settings;
  const out = tf.tidy(() => {
    let sums: MicroGradients | null = null;
    splitBatch(batch, accumulationSteps).forEach((micro, i) => {
      sums = addMicroBatch(sums, microBatchGradients(model, micro, dropoutSeedFor(seed, step, i), labelSmoothing));
    });
    return applySums(settings, sums!, accumulationSteps, measureNorms);
  });
  return readStepResult(out);
}
