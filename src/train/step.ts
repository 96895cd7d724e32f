/**
 * One optimizer step: forward and backward over accumulationSteps micro-batches, gradients averaged,
 * clipped by global norm, applied by the optimizer. Everything inside tf.tidy: no tensor outlives it.
 */
import * as tf from '@tensorflow/tfjs';
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

export function globalNorm(tensors: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.addN(tensors.map((t) => tf.sum(tf.square(t))))) as tf.Scalar);
}

/** As torch.nn.utils.clip_grad_norm_: scale every gradient by maxNorm / (norm + 1e-6) when that is below 1. */
export function clipByGlobalNorm(grads: tf.NamedTensorMap, norm: tf.Scalar, maxNorm: number): tf.NamedTensorMap {
  return tf.tidy(() => {
    const scale = tf.minimum(tf.scalar(1), tf.div(maxNorm, tf.add(norm, 1e-6)));
    return Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.mul(g, scale)]));
  });
}

export function trainStep(settings: StepSettings, batch: Batch, step: number, measureNorms: boolean): StepResult {
  const { model, optimizer, accumulationSteps, gradClipNorm, labelSmoothing, seed } = settings;
  const params = [...model.params.values()];
  const out = tf.tidy(() => {
    let gradSum: tf.NamedTensorMap = {};
    let lossSum = tf.scalar(0);
    let correctSum = tf.scalar(0);
    splitBatch(batch, accumulationSteps).forEach((micro, i) => {
      const dropoutSeed = Rng.derive(seed, 'dropout', step, i).nextUint32();
      const { x, y } = batchTensors(micro);
      let correct: tf.Scalar | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const result = lossAndCorrect(model.forward(x, { training: true, seed: dropoutSeed }), y, labelSmoothing);
        correct = tf.keep(result.correct);
        return result.loss;
      }, params);
      for (const [name, grad] of Object.entries(grads)) {
        const previous = gradSum[name];
        gradSum[name] = previous ? tf.add(previous, grad) : grad;
        if (previous) {
          previous.dispose();
          grad.dispose();
        }
      }
      lossSum = tf.add(lossSum, value);
      correctSum = tf.add(correctSum, correct!);
      correct!.dispose();
    });
    if (accumulationSteps > 1) gradSum = Object.fromEntries(Object.entries(gradSum).map(([k, g]) => [k, tf.div(g, accumulationSteps)]));
    const grads = gradSum;
    const needNorm = measureNorms || gradClipNorm !== null;
    const gradNorm = needNorm ? globalNorm(Object.values(grads)) : tf.scalar(Number.NaN);
    const clipped = gradClipNorm === null ? grads : clipByGlobalNorm(grads, gradNorm, gradClipNorm);
    const before = measureNorms ? params.map((p) => p.clone()) : [];
    optimizer.applyGradients(clipped);
    const updateNorm = measureNorms ? globalNorm(params.map((p, i) => tf.sub(p, before[i]))) : tf.scalar(Number.NaN);
    return { loss: tf.div(lossSum, accumulationSteps), correct: correctSum, gradNorm, updateNorm };
  });
  const [loss, correct, gradNorm, updateNorm] = [out.loss, out.correct, out.gradNorm, out.updateNorm].map((t) => {
    const v = t.dataSync()[0];
    t.dispose();
    return v;
  });
  return { loss, correct, gradNorm, updateNorm };
}
