/** Shared test helpers for the model families: backends, losses, comparisons. */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { expect } from 'vitest';
import type { Model } from '../../src/models/model.js';
import { Rng } from '../../src/random.js';

export const BACKENDS = ['cpu', 'wasm'] as const;

/** Switches the tfjs backend, failing loudly when it does not come up (setBackend returns false rather than throwing). */
export async function useBackend(name: (typeof BACKENDS)[number]): Promise<void> {
  const ok = await tf.setBackend(name);
  expect(ok, `tf.setBackend('${name}')`).toBe(true);
  await tf.ready();
  expect(tf.getBackend()).toBe(name);
}

/** Mean softmax cross-entropy of logits [batch, classes] against class ids. */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor1D): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, logits.shape[1] as number), logits) as tf.Scalar;
}

/** Gradients of `loss` with respect to every parameter of `model`, as plain arrays by name. */
export function parameterGrads(model: Model, loss: () => tf.Scalar): Map<string, Float32Array> {
  const { value, grads } = tf.variableGrads(loss, [...model.params.values()]);
  const out = new Map(Object.entries(grads).map(([name, g]) => [name, g.dataSync() as Float32Array]));
  tf.dispose([value, grads]);
  return out;
}

export function parameterValues(model: Model): Map<string, Float32Array> {
  return new Map([...model.params].map(([name, v]) => [name, v.dataSync() as Float32Array]));
}

/** Largest absolute difference between two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Seeded standard-normal test values. */
export function fixedValues(n: number, seed = 1): Float32Array {
  const rng = Rng.derive(seed, 'test-values');
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal();
  return out;
}

export function fixedTensor(shape: number[], seed = 1): tf.Tensor {
  return tf.tensor(fixedValues(shape.reduce((a, b) => a * b, 1), seed), shape);
}

/**
 * Central finite differences of `loss` for the `count` entries of parameter `name` with the largest
 * gradient, compared with `grads`: returns the largest relative error.
 */
export function finiteDifferenceError(
  model: Model,
  loss: () => tf.Scalar,
  grads: Map<string, Float32Array>,
  name: string,
  count = 3,
  epsilon = 1e-2,
): number {
  const variable = model.params.get(name);
  if (!variable) throw new Error(`no parameter ${name}`);
  const grad = grads.get(name)!;
  const order = [...grad.keys()].sort((a, b) => Math.abs(grad[b]) - Math.abs(grad[a])).slice(0, count);
  const original = variable.dataSync().slice() as Float32Array;
  const lossAt = (index: number, delta: number) => {
    const values = original.slice();
    values[index] += delta;
    variable.assign(tf.tensor(values, variable.shape));
    return tf.tidy(() => loss().dataSync()[0]);
  };
  let worst = 0;
  for (const i of order) {
    const numeric = (lossAt(i, epsilon) - lossAt(i, -epsilon)) / (2 * epsilon);
    worst = Math.max(worst, Math.abs(numeric - grad[i]) / Math.max(Math.abs(grad[i]), 1e-3));
  }
  variable.assign(tf.tensor(original, variable.shape));
  return worst;
}

/**
 * `steps` Adam steps, each inside tf.tidy, on one fixed batch: the losses and the tensor count after each step.
 */
export function adamSteps(model: Model, x: tf.Tensor, labels: tf.Tensor1D, steps: number, learningRate = 1e-2) {
  const optimizer = tf.train.adam(learningRate);
  const vars = [...model.params.values()];
  const losses: number[] = [];
  const tensors: number[] = [];
  for (let step = 0; step < steps; step++) {
    const loss = tf.tidy(() => optimizer.minimize(() => crossEntropy(model.forward(x, { training: true, seed: step }), labels), true, vars)!.dataSync()[0]);
    losses.push(loss);
    tensors.push(tf.memory().numTensors);
  }
  optimizer.dispose();
  return { losses, tensors };
}
