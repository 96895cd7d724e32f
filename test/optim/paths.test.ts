// The fused kernel and the tfjs-op path are two independent implementations of each rule:
// they must agree on shapes of rank 0 to 4, gradient scales 1e-6 to 1e3 and zero gradients.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, disposeAll, firstMismatch, makeOptimizer, useBackend, type OptimizerKind } from './helpers.js';

const SHAPES: Record<string, number[]> = {
  scalar: [],
  bias: [7],
  kernel: [6, 5],
  conv: [2, 3, 4],
  conv4: [2, 3, 1, 5],
  tall: [33, 2],
};

const CONFIGS: Array<[string, OptimizerKind, Record<string, unknown>]> = [
  ['lion', 'lion', { learningRate: 1e-3, weightDecay: 0.3 }],
  ['adamw', 'adamw', { learningRate: 1e-2, weightDecay: 0.1 }],
  ['adafactor relative step', 'adafactor', {}],
  ['adafactor lr + beta1 + wd', 'adafactor', { learningRate: 1e-2, beta1: 0.9, weightDecay: 0.1, scaleParameter: false }],
  ['adafactor warmup', 'adafactor', { warmupInit: true, clipThreshold: 0.5 }],
];

type GradFn = (name: string, shape: number[], step: number) => tf.Tensor;

function trajectory(kind: OptimizerKind, options: Record<string, unknown>, fused: boolean, grad: GradFn): Float32Array[] {
  const vars: Record<string, tf.Variable> = {};
  for (const [name, shape] of Object.entries(SHAPES)) {
    vars[name] = tf.variable(tf.randomNormal(shape, 0, 0.5, 'float32', 11), true, `paths.${name}`);
  }
  const opt = makeOptimizer(kind, { ...options, fused });
  try {
    for (let k = 0; k < 8; k++) {
      const grads: tf.NamedTensorMap = {};
      for (const [name, shape] of Object.entries(SHAPES)) grads[`paths.${name}`] = grad(name, shape, k);
      opt.applyGradients(grads);
      tf.dispose(grads);
    }
    return Object.values(vars).map((v) => v.dataSync() as Float32Array);
  } finally {
    opt.dispose();
    disposeAll(vars);
  }
}

function expectPathsAgree(kind: OptimizerKind, options: Record<string, unknown>, grad: GradFn): void {
  const fused = trajectory(kind, options, true, grad);
  const ops = trajectory(kind, options, false, grad);
  const names = Object.keys(SHAPES);
  fused.forEach((got, i) => {
    const problem = firstMismatch(got, ops[i]);
    if (problem !== null) throw new Error(`variable ${names[i]}: ${problem}`);
    expect(got.every(Number.isFinite)).toBe(true);
  });
}

describe.each(BACKENDS)('on the %s backend', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  describe.each(CONFIGS)('%s', (_label, kind, options) => {
    it.each([1e-6, 1e-3, 1, 1e3])('fused and op-by-op paths agree with gradients of scale %s', (scale) => {
      expectPathsAgree(kind, options, (name, shape, k) =>
        tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 100 * k + name.length), scale),
      );
    });

    it('fused and op-by-op paths agree with zero gradients, also mixed with nonzero steps', () => {
      expectPathsAgree(kind, options, (name, shape, k) =>
        k === 3 && name === 'kernel' ? tf.randomNormal(shape, 0, 1, 'float32', k) : tf.zeros(shape),
      );
    });
  });
});
