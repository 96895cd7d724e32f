import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { CnnModelConfig, GptModelConfig, VitModelConfig } from '../../src/config/types.generated.js';
import type { Model } from '../../src/models/model.js';
import { modelFamily } from '../../src/models/registry.js';
import { fixedTensor, maxAbsDiff, useBackend } from './helpers.js';

const FAMILIES: { name: string; build: (dropout: number) => Model; input: () => tf.Tensor }[] = [
  {
    name: 'vit',
    build: (dropout) =>
      modelFamily('vit').build(
        { name: 'vit', patchSize: 4, width: 8, depth: 1, heads: 2, mlpWidth: 12, pooling: 'mean', gelu: 'sigmoid', dropout } as VitModelConfig,
        { kind: 'image', shape: [8, 8, 1], classes: 3 },
        1,
      ),
    input: () => fixedTensor([2, 8, 8, 1], 5),
  },
  {
    name: 'gpt',
    build: (dropout) =>
      modelFamily('gpt').build(
        { name: 'gpt', contextLength: 5, width: 8, depth: 1, heads: 2, mlpWidth: 12, tiedEmbeddings: true, gelu: 'sigmoid', dropout } as GptModelConfig,
        { kind: 'tokens', shape: [5], classes: 6 },
        1,
      ),
    input: () => tf.tensor2d([0, 1, 2, 3, 4, 5, 4, 3, 2, 1], [2, 5], 'int32'),
  },
  {
    name: 'cnn',
    build: (dropout) =>
      modelFamily('cnn').build(
        { name: 'cnn', conv: [{ channels: 3, kernel: 3, stride: 1, padding: 'same', pool: 2 }], dense: [6], activation: 'relu', dropout } as CnnModelConfig,
        { kind: 'image', shape: [8, 8, 1], classes: 3 },
        1,
      ),
    input: () => fixedTensor([2, 8, 8, 1], 5),
  },
];

describe.each(FAMILIES)('$name dropout', ({ build, input }) => {
  it('is active in training, off in evaluation, and repeats exactly for a seed', async () => {
    await useBackend('wasm');
    const x = input();
    const model = build(0.3);
    const run = (options: { training: boolean; seed?: number }) => model.forward(x, options).dataSync();
    const evaluation = run({ training: false });
    expect(maxAbsDiff(run({ training: true, seed: 1 }), evaluation)).toBeGreaterThan(1e-4); // active in training
    expect(run({ training: true, seed: 1 })).toEqual(run({ training: true, seed: 1 })); // deterministic per seed
    expect(maxAbsDiff(run({ training: true, seed: 1 }), run({ training: true, seed: 2 }))).toBeGreaterThan(1e-4);
    expect(run({ training: false, seed: 7 })).toEqual(evaluation); // no seed matters outside training
    model.dispose();
    const none = build(0);
    expect(none.forward(x, { training: true, seed: 1 }).dataSync()).toEqual(none.forward(x, { training: false }).dataSync());
    none.dispose();
  });
});
