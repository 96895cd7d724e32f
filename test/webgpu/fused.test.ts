// The fused WGSL updates (src/optim/wgsl.ts) on the webgpu backend, on lavapipe where there is no GPU: every
// golden trajectory, every step and element, within the golden tolerance, with the passes counted so that the
// fused path is known to have run; larger and rank-3 tensors (many workgroups, several slices) against the cpu
// backend's fused kernels; no tensor left behind.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend.js';
import { dispatchCounts } from '../../src/optim/wgsl.js';
import { takeDeviceError } from '../../src/webgpu.js';
import { applyStep, caseVariables, disposeAll, firstMismatch, KINDS, loadGoldenCases, makeOptimizer, optimizerForCase, type OptimizerKind } from '../optim/helpers.js';
import { useTestAdapter } from '../helpers/webgpu.js';

useTestAdapter();

/** The pass that ends one variable's update, by optimizer, for rank < 2 and rank >= 2. */
const LAST_PASS: Record<OptimizerKind, [string, string]> = {
  lion: ['lion', 'lion'],
  adamw: ['adamw', 'adamw'],
  adafactor: ['adafactor.vectorFinish', 'adafactor.finish'],
};

function passesRun(kind: OptimizerKind): { vector: number; matrix: number } {
  const counts = dispatchCounts();
  const [vector, matrix] = LAST_PASS[kind];
  return vector === matrix ? { vector: counts[vector] ?? 0, matrix: 0 } : { vector: counts[vector] ?? 0, matrix: counts[matrix] ?? 0 };
}

/** Worst error against the golden values, by optimizer: absolute, and as a fraction of the golden tolerance. */
const worst = new Map<OptimizerKind, { abs: number; ofTolerance: number }>();

function record(kind: OptimizerKind, got: ArrayLike<number>, want: number[]): void {
  const w = worst.get(kind) ?? { abs: 0, ofTolerance: 0 };
  want.forEach((x, i) => {
    const error = Math.abs(got[i] - x);
    w.abs = Math.max(w.abs, error);
    w.ofTolerance = Math.max(w.ofTolerance, error / (1e-6 + 1e-5 * Math.abs(x)));
  });
  worst.set(kind, w);
}

afterAll(() => {
  for (const [kind, w] of worst) console.log(`fused WGSL ${kind}: worst |error| vs golden ${w.abs.toExponential(2)}, ${(100 * w.ofTolerance).toFixed(1)} % of the tolerance`);
});

describe('webgpu: the golden trajectories through the fused WGSL passes', () => {
  it.each(loadGoldenCases().map((c) => [c.file, c] as const))('%s follows the reference trajectory', async (_file, c) => {
    await initBackend('webgpu');
    const vars = caseVariables(c);
    const opt = optimizerForCase(c, true);
    try {
      expect(opt.usesFusedPath()).toBe(true);
      const vectors = Object.values(vars).filter((v) => v.rank < 2).length;
      for (let k = 0; k < c.steps.length; k++) {
        const before = passesRun(c.optimizer);
        applyStep(opt, c, vars, k);
        const after = passesRun(c.optimizer);
        if (LAST_PASS[c.optimizer][0] === LAST_PASS[c.optimizer][1]) {
          expect(after.vector - before.vector).toBe(Object.keys(vars).length);
        } else {
          expect([after.vector - before.vector, after.matrix - before.matrix]).toEqual([vectors, Object.keys(vars).length - vectors]);
        }
        for (const [name, want] of Object.entries(c.steps[k].expected)) {
          const got = await vars[name].data();
          record(c.optimizer, got, want);
          const problem = firstMismatch(got, want);
          if (problem !== null) throw new Error(`${c.file} step ${k} variable '${name}': ${problem}`);
        }
      }
      expect(takeDeviceError()).toBeUndefined();
    } finally {
      opt.dispose();
      disposeAll(vars);
    }
  });
});

/** Deterministic values in [-1, 1) (the same on every backend). */
function values(n: number, seed: number): Float32Array {
  let x = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 31 - 1;
  });
}

const SHAPES = [[1000], [33, 70], [2, 17, 130], [3], []];
const OPTIONS: Array<[OptimizerKind, Record<string, unknown>]> = [
  ['lion', { learningRate: 1e-3, weightDecay: 0.1 }],
  ['adamw', { learningRate: 1e-3, weightDecay: 0.01 }],
  ['adafactor', {}],
  ['adafactor', { beta1: 0.9, weightDecay: 0.01, clipThreshold: 0.5 }],
];

/** The parameters after 6 fused updates of `kind` on `backend`. */
async function trajectory(backend: 'cpu' | 'webgpu', kind: OptimizerKind, options: Record<string, unknown>): Promise<Float32Array[]> {
  await initBackend(backend);
  const vars = SHAPES.map((shape, i) => tf.tidy(() => tf.variable(tf.tensor(values(tf.util.sizeFromShape(shape), i + 1), shape), true, `wide.${backend}.${i}`)));
  const opt = makeOptimizer(kind, { ...options, fused: true });
  try {
    for (let k = 0; k < 6; k++) {
      const grads = vars.map((v, i) => ({ name: v.name, tensor: tf.tensor(values(v.size, 100 * k + i + 7), v.shape) }));
      opt.applyGradients(grads);
      tf.dispose(grads.map((g) => g.tensor));
    }
    return await Promise.all(vars.map(async (v) => (await v.data()) as Float32Array));
  } finally {
    opt.dispose();
    tf.dispose(vars);
  }
}

describe('webgpu: the fused WGSL passes on larger tensors agree with the cpu backend’s fused kernels', () => {
  it.each(OPTIONS.map(([kind, options]) => [`${kind} ${JSON.stringify(options)}`, kind, options] as const))('%s', async (_label, kind, options) => {
    const cpu = await trajectory('cpu', kind, options);
    const gpu = await trajectory('webgpu', kind, options);
    expect(takeDeviceError()).toBeUndefined();
    SHAPES.forEach((shape, i) => {
      const problem = firstMismatch(gpu[i], cpu[i]);
      if (problem !== null) throw new Error(`${kind} [${shape}]: ${problem}`);
    });
  });
});

describe('webgpu: which path runs', () => {
  it.each(KINDS)('%s: fused by default (auto), tfjs ops with fused: false; the tensor count stays flat', async (kind) => {
    await initBackend('webgpu');
    const start = tf.memory().numTensors;
    const vars = [[7], [5, 4], [2, 3, 4]].map((s, i) => tf.tidy(() => tf.variable(tf.tensor(values(tf.util.sizeFromShape(s), i), s), true, `path.${kind}.${i}`)));
    for (const fused of ['auto', false] as const) {
      const opt = makeOptimizer(kind, { beta1: kind === 'adafactor' ? 0.9 : undefined, fused });
      expect(opt.usesFusedPath()).toBe(fused === 'auto');
      const step = (k: number) => {
        const grads = vars.map((v) => ({ name: v.name, tensor: tf.tensor(values(v.size, k), v.shape) }));
        opt.applyGradients(grads);
        tf.dispose(grads.map((g) => g.tensor));
      };
      step(0);
      const before = tf.memory();
      const counted = passesRun(kind);
      for (let k = 1; k <= 10; k++) step(k);
      const after = tf.memory();
      expect([after.numTensors, after.numBytes]).toEqual([before.numTensors, before.numBytes]);
      const ran = passesRun(kind).vector + passesRun(kind).matrix - counted.vector - counted.matrix;
      expect(ran).toBe(fused === 'auto' ? 10 * vars.length : 0);
      opt.dispose();
    }
    tf.dispose(vars);
    expect(tf.memory().numTensors).toBe(start);
    expect(takeDeviceError()).toBeUndefined();
  });
});
