// Optimizer state: getWeights / setWeights round-trips continue a run exactly; stateBytes.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  applyStep,
  BACKENDS,
  caseVariables,
  disposeAll,
  firstMismatch,
  loadGoldenCases,
  makeOptimizer,
  optimizerForCase,
  useBackend,
  type GoldenCase,
} from './helpers.js';

const cases = loadGoldenCases();

/** Runs the case, restoring the optimizer into a fresh one after `restoreAt` steps (or never). */
async function finalValues(c: GoldenCase, fused: boolean, restoreAt: number | null): Promise<Record<string, Float32Array>> {
  const vars = caseVariables(c);
  let opt = optimizerForCase(c, fused);
  try {
    for (let k = 0; k < c.steps.length; k++) {
      if (k === restoreAt) {
        const weights = await opt.getWeights();
        expect(weights[0].name).toBe('iter');
        expect(weights[0].tensor.dtype).toBe('int32');
        expect(weights[0].tensor.dataSync()[0]).toBe(k);
        const saved = weights.map((w) => ({ name: w.name, tensor: w.tensor.clone() }));
        tf.dispose(weights[0].tensor);
        opt.dispose(); // the restored optimizer must not depend on the old one
        opt = optimizerForCase(c, fused);
        await opt.setWeights(saved);
        tf.dispose(saved.map((w) => w.tensor)); // nor on the tensors it was given
        expect(opt.iterations).toBe(k);
      }
      applyStep(opt, c, vars, k);
    }
    return Object.fromEntries(Object.entries(vars).map(([n, v]) => [n, v.dataSync() as Float32Array]));
  } finally {
    opt.dispose();
    disposeAll(vars);
  }
}

describe.each(BACKENDS)('on the %s backend', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });
  describe.each([true, false])('fused: %s', (fused) => {
    it.each(cases.map((c) => [c.file, c] as const))(
      '%s: a state round trip halfway gives the same end values as an uninterrupted run',
      async (_file, c) => {
        const straight = await finalValues(c, fused, null);
        const restored = await finalValues(c, fused, Math.floor(c.steps.length / 2));
        expect(restored).toEqual(straight);
        const last = c.steps[c.steps.length - 1].expected;
        for (const [name, want] of Object.entries(last)) expect(firstMismatch(restored[name], want)).toBeNull();
      },
    );
  });
});

describe('state layout', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  const shapes: Record<string, number[]> = { 'head.bias': [7], 'head.kernel': [5, 4], 'conv.kernel': [2, 3, 4] };

  async function stateAfterOneStep(kind: 'lion' | 'adamw' | 'adafactor', options: Record<string, unknown> = {}) {
    const vars = Object.entries(shapes).map(([n, s]) => tf.variable(tf.ones(s), true, n));
    const opt = makeOptimizer(kind, options);
    expect(opt.stateBytes()).toBe(0);
    opt.applyGradients(Object.fromEntries(vars.map((v) => [v.name, tf.onesLike(v)])));
    const weights = await opt.getWeights();
    const layout = weights.map((w) => `${w.name} [${w.tensor.shape}]`);
    const bytes = opt.stateBytes();
    tf.dispose(weights[0].tensor);
    opt.dispose();
    tf.dispose(vars);
    return { layout, bytes };
  }

  it('Lion keeps one momentum per variable', async () => {
    const { layout, bytes } = await stateAfterOneStep('lion');
    expect(layout).toEqual(['iter []', 'head.bias/m [7]', 'head.kernel/m [5,4]', 'conv.kernel/m [2,3,4]']);
    expect(bytes).toBe(4 * (7 + 20 + 24));
  });

  it('AdamW keeps two moments per variable', async () => {
    const { layout, bytes } = await stateAfterOneStep('adamw');
    expect(layout).toEqual([
      'iter []',
      'head.bias/m [7]',
      'head.bias/v [7]',
      'head.kernel/m [5,4]',
      'head.kernel/v [5,4]',
      'conv.kernel/m [2,3,4]',
      'conv.kernel/v [2,3,4]',
    ]);
    expect(bytes).toBe(2 * 4 * (7 + 20 + 24));
  });

  it('Adafactor keeps row and column factors per leading index, a full moment for rank 1', async () => {
    const { layout, bytes } = await stateAfterOneStep('adafactor');
    expect(layout).toEqual([
      'iter []',
      'head.bias/v [7]',
      'head.kernel/vRow [5]',
      'head.kernel/vCol [4]',
      'conv.kernel/vRow [2,3]',
      'conv.kernel/vCol [2,4]',
    ]);
    expect(bytes).toBe(4 * (7 + 5 + 4 + 6 + 8));
  });

  it('Adafactor with beta1 adds a first moment of full size', async () => {
    const { layout, bytes } = await stateAfterOneStep('adafactor', { beta1: 0.9 });
    expect(layout.filter((l) => l.includes('/m '))).toEqual(['head.bias/m [7]', 'head.kernel/m [5,4]', 'conv.kernel/m [2,3,4]']);
    expect(bytes).toBe(4 * (7 + 5 + 4 + 6 + 8) + 4 * (7 + 20 + 24));
  });

  it('setWeights refuses state that does not fit the variable it is matched to', async () => {
    const v = tf.variable(tf.ones([3]), true, 'misfit');
    const opt = makeOptimizer('adamw');
    await opt.setWeights([
      { name: 'iter', tensor: tf.scalar(4, 'int32') },
      { name: 'misfit/m', tensor: tf.zeros([4]) },
      { name: 'misfit/v', tensor: tf.zeros([4]) },
    ]);
    expect(() => opt.applyGradients({ misfit: tf.onesLike(v) })).toThrow(/misfit.*does not fit/);
    opt.dispose();
    v.dispose();
  });
});
