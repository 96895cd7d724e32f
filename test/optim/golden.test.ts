// Every golden trajectory, every step, every element, on cpu and wasm, fused and op by op.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  applyStep,
  BACKENDS,
  caseVariables,
  disposeAll,
  firstMismatch,
  loadGoldenCases,
  optimizerForCase,
  PATHS,
  useBackend,
  type GoldenCase,
} from './helpers.js';

const cases = loadGoldenCases();

function runCase(c: GoldenCase, fused: boolean): void {
  const vars = caseVariables(c);
  const opt = optimizerForCase(c, fused);
  try {
    expect(opt.usesFusedPath()).toBe(fused);
    c.steps.forEach((step, k) => {
      applyStep(opt, c, vars, k);
      for (const [name, want] of Object.entries(step.expected)) {
        const problem = firstMismatch(vars[name].dataSync(), want);
        if (problem !== null) throw new Error(`${c.file} step ${k} variable '${name}': ${problem}`);
      }
    });
    expect(opt.iterations).toBe(c.steps.length);
  } finally {
    opt.dispose();
    disposeAll(vars);
  }
}

it('finds the golden cases of every optimizer', () => {
  expect(new Set(cases.map((c) => c.optimizer))).toEqual(new Set(['lion', 'adamw', 'adafactor']));
});

describe.each(BACKENDS)('on the %s backend', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });
  describe.each(PATHS)('$label', ({ fused }) => {
    it.each(cases.map((c) => [c.file, c] as const))('%s follows the reference trajectory', (_file, c) => {
      runCase(c, fused);
    });
  });
});

describe('zero gradients', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  it.each(cases.map((c) => [c.file, c] as const))(
    '%s: both paths agree with zero gradients on rank 0 to 4 tensors',
    (_file, c) => {
      // Zero gradients everywhere: Lion's sign(0) = 0, Adafactor's rsqrt(ε1)·0 = 0, AdamW's 0/ε = 0.
      const shapes: Record<string, number[]> = { s: [], v: [3], k: [2, 5], c: [2, 3, 4], d: [2, 1, 3, 2] };
      const results: Float32Array[][] = [];
      for (const fused of [true, false]) {
        const vars: Record<string, tf.Variable> = {};
        for (const [name, shape] of Object.entries(shapes)) {
          vars[name] = tf.variable(tf.randomNormal(shape, 0, 1, 'float32', 7), true, `zero-${name}`);
        }
        const opt = optimizerForCase(c, fused);
        for (let k = 0; k < 5; k++) {
          const grads: tf.NamedTensorMap = {};
          for (const [name, v] of Object.entries(vars)) grads[v.name] = tf.zerosLike(v);
          if (k === 3) grads['zero-k'] = tf.randomNormal([2, 5], 0, 1, 'float32', k);
          opt.applyGradients(grads);
          tf.dispose(grads);
        }
        results.push(Object.values(vars).map((v) => v.dataSync() as Float32Array));
        for (const arr of results[results.length - 1]) expect(arr.every(Number.isFinite)).toBe(true);
        opt.dispose();
        disposeAll(vars);
      }
      results[0].forEach((got, i) => expect(firstMismatch(got, results[1][i])).toBeNull());
    },
  );
});
