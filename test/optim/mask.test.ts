// Weight-decay masks: excluded variables are not decayed, all others are.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileDecayMask } from '../../src/optim/index.js';
import { makeOptimizer, PATHS, selectImplementation, useBackend, type OptimizerKind } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('name patterns', () => {
  const names = [
    'blocks.0.attn.q.kernel',
    'blocks.0.attn.q.bias',
    'blocks.0.norm1.scale',
    'blocks.11.mlp.fc1.kernel',
    'head.bias',
    'head.kernel',
    'headXbias',
    'dense_Dense1/bias',
  ];
  const cases: Array<[string, unknown, string[]]> = [
    ['*.bias', ['*.bias'], ['blocks.0.attn.q.bias', 'head.bias']],
    ['*norm*', ['*norm*'], ['blocks.0.norm1.scale']],
    ['blocks.*.attn.*', ['blocks.*.attn.*'], ['blocks.0.attn.q.kernel', 'blocks.0.attn.q.bias']],
    ['an exact name (dots are literal)', ['head.bias'], ['head.bias']],
    ['a RegExp, unanchored', [/bias$/g], ['blocks.0.attn.q.bias', 'head.bias', 'headXbias', 'dense_Dense1/bias']],
    ['a predicate', (n: string) => n.startsWith('head'), ['head.bias', 'head.kernel', 'headXbias']],
    ['no mask', undefined, []],
  ];
  it.each(cases)('%s excludes exactly the matching names', (_label, exclude, excluded) => {
    const isExcluded = compileDecayMask('Test', exclude);
    expect(names.filter(isExcluded)).toEqual(excluded);
    expect(names.filter(isExcluded)).toEqual(excluded); // no RegExp lastIndex state
  });
});

describe.each(PATHS)('$label path', ({ fused, implementation }) => {
  beforeAll(() => selectImplementation(implementation));
  afterAll(() => selectImplementation(undefined));
  // With zero gradients every optimizer's update is zero, leaving only the decay p ← p·(1 − lr·wd).
  const options: Record<OptimizerKind, Record<string, unknown>> = {
    lion: { learningRate: 0.1, weightDecay: 0.5 },
    adamw: { learningRate: 0.1, weightDecay: 0.5 },
    adafactor: { learningRate: 0.1, weightDecay: 0.5, scaleParameter: false },
  };
  it.each(['lion', 'adamw', 'adafactor'] as const)('%s decays every variable unless the mask excludes it', (kind) => {
    const init = [0.5, -2, 3, 0.25];
    const names = ['mask.blocks.0.norm1.scale', 'mask.head.bias', 'mask.head.kernel'];
    const vars = names.map((n) => tf.variable(tf.tensor2d(init, [2, 2]), true, n));
    const opt = makeOptimizer(kind, { ...options[kind], fused, weightDecayExclude: ['*norm*', /\.bias$/] });
    const grads = Object.fromEntries(vars.map((v) => [v.name, tf.zerosLike(v)]));
    opt.applyGradients(grads);
    const [norm, bias, kernel] = vars.map((v) => Array.from(v.dataSync()));
    expect(norm).toEqual(init);
    expect(bias).toEqual(init);
    expect(kernel).toEqual(init.map((x) => Math.fround(x * Math.fround(1 - 0.1 * 0.5))));
    expect(names.map((n) => opt.isDecayed(n))).toEqual([false, false, true]);
    tf.dispose([...vars, ...Object.values(grads)]);
    opt.dispose();
  });

  it('without a mask every variable is decayed', () => {
    const v = tf.variable(tf.ones([3]), true, `mask.all.${fused}`);
    const opt = makeOptimizer('lion', { learningRate: 0.1, weightDecay: 0.5, fused });
    const g = tf.zerosLike(v);
    opt.applyGradients({ [v.name]: g });
    expect(Array.from(v.dataSync())).toEqual([0.95, 0.95, 0.95].map(Math.fround));
    tf.dispose([v, g]);
    opt.dispose();
  });
});
