// The SIMD kernels, the fused JS loop and the tfjs-op path are independent implementations of each
// rule: they must agree on shapes of rank 0 to 4, gradient scales 1e-6 to 1e3 and zero gradients.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  disposeAll,
  firstMismatch,
  makeOptimizer,
  PATHS,
  selectImplementation,
  useBackend,
  type OptimizerKind,
  type UpdatePath,
} from './helpers.js';

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

function trajectory(kind: OptimizerKind, options: Record<string, unknown>, path: UpdatePath, grad: GradFn): Float32Array[] {
  selectImplementation(path.implementation);
  const vars: Record<string, tf.Variable> = {};
  for (const [name, shape] of Object.entries(SHAPES)) {
    vars[name] = tf.variable(tf.randomNormal(shape, 0, 0.5, 'float32', 11), true, `paths.${name}`);
  }
  const opt = makeOptimizer(kind, { ...options, fused: path.fused });
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
    selectImplementation(undefined);
  }
}

function expectPathsAgree(kind: OptimizerKind, options: Record<string, unknown>, grad: GradFn): void {
  const [simd, js, ops] = PATHS.map((path) => trajectory(kind, options, path, grad));
  const names = Object.keys(SHAPES);
  for (const [label, fused] of [['SIMD', simd], ['JS loop', js]] as const) {
    fused.forEach((got, i) => {
      const problem = firstMismatch(got, ops[i]);
      if (problem !== null) throw new Error(`${label}, variable ${names[i]}: ${problem}`);
      expect(got.every(Number.isFinite)).toBe(true);
    });
  }
}

describe.each(BACKENDS)('on the %s backend', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  describe.each(CONFIGS)('%s', (_label, kind, options) => {
    it.each([1e-6, 1e-3, 1, 1e3])('fused (SIMD, JS loop) and op-by-op paths agree with gradients of scale %s', (scale) => {
      expectPathsAgree(kind, options, (name, shape, k) =>
        tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 100 * k + name.length), scale),
      );
    });

    it('fused (SIMD, JS loop) and op-by-op paths agree with zero gradients, also mixed with nonzero steps', () => {
      expectPathsAgree(kind, options, (name, shape, k) =>
        k === 3 && name === 'kernel' ? tf.randomNormal(shape, 0, 1, 'float32', k) : tf.zeros(shape),
      );
    });
  });
});
