import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { VitModelConfig } from '../../src/config/types.generated.js';
import { synthetic } from '../../src/data/synthetic.js';
import { useAutodiffReference } from '../../src/models/layers.js';
import type { InputSpec, Model } from '../../src/models/model.js';
import { modelFamily } from '../../src/models/registry.js';
import { patchify, vit } from '../../src/models/vit.js';
import {
  adamSteps,
  BACKENDS,
  crossEntropy,
  finiteDifferenceError,
  fixedTensor,
  maxAbsDiff,
  parameterGrads,
  parameterValues,
  useBackend,
} from './helpers.js';

/** A tiny ViT: 8x8x1 images, 4x4 patches (4 tokens), width 8, one block of 2 heads, MLP 12, 3 classes. */
const config = (overrides: Partial<VitModelConfig> = {}): VitModelConfig => ({
  name: 'vit',
  patchSize: 4,
  width: 8,
  depth: 1,
  heads: 2,
  mlpWidth: 12,
  pooling: 'mean',
  gelu: 'sigmoid',
  dropout: 0,
  ...overrides,
});
const image: InputSpec = { kind: 'image', shape: [8, 8, 1], classes: 3 };

let live: Model[] = [];
function build(c: VitModelConfig, input: InputSpec = image, seed = 1): Model {
  const model = vit.build(c, input, seed);
  live.push(model);
  return model;
}
function disposeLast(): void {
  live.pop()!.dispose();
}
afterEach(() => {
  live.forEach((m) => m.dispose());
  live = [];
});

describe('vit config checks', () => {
  it('is registered under its name', () => {
    expect(modelFamily('vit')).toBe(vit);
  });

  it('needs image input', () => {
    expect(vit.check(config(), { kind: 'vector', shape: [16] })).toEqual([
      { path: 'model.name', message: 'vit needs image input ([height, width, channels]), got vector' },
    ]);
  });

  it('needs a patch size that divides the image and heads that divide the width', () => {
    expect(vit.check(config({ patchSize: 5, heads: 5, width: 64 }), { kind: 'image', shape: [28, 28, 1] })).toEqual([
      { path: 'model.patchSize', message: 'must divide the image size 28, got 5' },
      { path: 'model.heads', message: 'must divide the width 64, got 5' },
    ]);
    expect(vit.check(config({ patchSize: 4 }), { kind: 'image', shape: [28, 30, 1] })).toEqual([
      { path: 'model.patchSize', message: 'must divide the image width 30, got 4' },
    ]);
    expect(vit.check(config({ patchSize: 7 }), { kind: 'image', shape: [28, 28, 1] })).toEqual([]);
  });
});

describe('vit', () => {
  it('patchify then matMul equals a strided convolution', async () => {
    await useBackend('cpu');
    const images = fixedTensor([2, 8, 12, 3], 1) as tf.Tensor4D;
    const kernel = fixedTensor([4, 4, 3, 5], 2) as tf.Tensor4D;
    const viaPatches = tf.matMul(patchify(images, 4), tf.reshape(kernel, [48, 5]));
    const viaConv = tf.reshape(tf.conv2d(images, kernel, 4, 'valid'), [2 * 2 * 3, 5]);
    expect(maxAbsDiff(viaPatches.dataSync(), viaConv.dataSync())).toBeLessThan(1e-5);
  });

  it('names its parameters and counts them as by hand', async () => {
    await useBackend('cpu');
    const model = build(config());
    const shapes = Object.fromEntries([...model.params].map(([name, v]) => [name, v.shape]));
    const dense = (name: string, i: number, o: number) => ({ [`${name}.kernel`]: [i, o], [`${name}.bias`]: [o] });
    const norm = (name: string) => ({ [`${name}.scale`]: [8], [`${name}.bias`]: [8] });
    expect(shapes).toEqual({
      ...dense('patch', 16, 8),
      posEmbedding: [4, 8],
      ...norm('blocks.0.norm1'),
      ...dense('blocks.0.attn.q', 8, 8),
      ...dense('blocks.0.attn.k', 8, 8),
      ...dense('blocks.0.attn.v', 8, 8),
      ...dense('blocks.0.attn.out', 8, 8),
      ...norm('blocks.0.norm2'),
      ...dense('blocks.0.mlp.fc1', 8, 12),
      ...dense('blocks.0.mlp.fc2', 12, 8),
      ...norm('norm'),
      ...dense('head', 8, 3),
    });
    // patch 16·8+8, position 4·8, block: 2 norms 2·16, q/k/v/out 4·(8·8+8), fc1 8·12+12, fc2 12·8+8; final norm 16; head 8·3+3
    const byHand = 136 + 32 + (32 + 288 + 108 + 104) + 16 + 27;
    expect(model.parameterCount).toBe(byHand);
    expect(model.params.get('blocks.0.norm1.scale')!.dataSync().every((v) => v === 1)).toBe(true);
    disposeLast();

    const withCls = build(config({ pooling: 'cls' }));
    expect(withCls.params.get('cls')!.shape).toEqual([1, 1, 8]);
    expect(withCls.params.get('posEmbedding')!.shape).toEqual([5, 8]);
    expect(withCls.parameterCount).toBe(byHand + 8 + 8);
  });

  it('counts FLOPs as 3x the forward matMuls, attention products included', async () => {
    await useBackend('cpu');
    // n = 4 patches of P = 16 features, d = 8, m = 12, k = 3 classes; t tokens.
    const perBlock = (t: number) => 4 * 2 * t * 8 * 8 + 2 * 2 * t * t * 8 + 2 * 2 * t * 8 * 12;
    const forward = (t: number) => 2 * 4 * 16 * 8 + perBlock(t) + 2 * 8 * 3;
    expect(build(config()).flopsPerExample).toBe(3 * forward(4));
    disposeLast();
    expect(build(config({ pooling: 'cls', depth: 2 })).flopsPerExample).toBe(3 * (forward(5) + perBlock(5)));
  });

  it('maps images to logits [batch, classes] with either pooling', async () => {
    await useBackend('wasm');
    expect(build(config()).forward(tf.zeros([3, 8, 8, 1]), { training: false }).shape).toEqual([3, 3]);
    disposeLast();
    expect(build(config({ pooling: 'cls' })).forward(tf.zeros([2, 8, 8, 1]), { training: false }).shape).toEqual([2, 3]);
  });

  it('initialises identically from the same seed, on cpu and wasm, and differently from another seed', async () => {
    await useBackend('cpu');
    const first = parameterValues(build(config({ pooling: 'cls' }), image, 5));
    disposeLast();
    await useBackend('wasm');
    const second = parameterValues(build(config({ pooling: 'cls' }), image, 5));
    disposeLast();
    const other = parameterValues(build(config({ pooling: 'cls' }), image, 6));
    for (const [name, values] of first) expect(second.get(name), name).toEqual(values);
    expect(maxAbsDiff(first.get('blocks.0.attn.q.kernel')!, other.get('blocks.0.attn.q.kernel')!)).toBeGreaterThan(0.01);
  });

  describe.each(BACKENDS)('gradients on %s', (backend) => {
    it.each(['mean', 'cls'] as const)('match tfjs autodiff of the same forward within 1e-5 (%s pooling)', async (pooling) => {
      await useBackend(backend);
      const model = build(config({ pooling, depth: 2, gelu: pooling === 'cls' ? 'tanh' : 'sigmoid' }));
      const x = fixedTensor([5, 8, 8, 1], 3);
      const labels = tf.tensor1d([0, 1, 2, 0, 1], 'int32');
      const loss = () => crossEntropy(model.forward(x, { training: false }), labels);
      const custom = parameterGrads(model, loss);
      useAutodiffReference(true);
      const reference = parameterGrads(model, loss);
      useAutodiffReference(false);
      expect([...custom.keys()]).toEqual([...model.params.keys()]);
      for (const [name, g] of custom) expect(maxAbsDiff(g, reference.get(name)!), name).toBeLessThan(1e-5);
    });
  });

  it('gradients match finite differences', async () => {
    // (Mean pooling: with a class token, the token starts near zero and its LayerNorm is too curved for ε = 1e-2.)
    await useBackend('cpu');
    const model = build(config());
    const x = fixedTensor([4, 8, 8, 1], 4);
    const labels = tf.tensor1d([0, 1, 2, 1], 'int32');
    const loss = () => crossEntropy(model.forward(x, { training: false }), labels);
    const grads = parameterGrads(model, loss);
    for (const name of ['patch.kernel', 'posEmbedding', 'blocks.0.norm1.scale', 'blocks.0.attn.q.kernel', 'blocks.0.attn.v.bias', 'blocks.0.mlp.fc1.kernel', 'head.kernel']) {
      expect(finiteDifferenceError(model, loss, grads, name), name).toBeLessThan(0.02);
    }
  });

  it('dropout repeats for a seed, changes with it, and is off outside training', async () => {
    await useBackend('wasm');
    const model = build(config({ dropout: 0.3 }));
    const x = fixedTensor([2, 8, 8, 1], 5);
    const run = (options: { training: boolean; seed?: number }) => model.forward(x, options).dataSync();
    expect(run({ training: true, seed: 1 })).toEqual(run({ training: true, seed: 1 }));
    expect(maxAbsDiff(run({ training: true, seed: 1 }), run({ training: true, seed: 2 }))).toBeGreaterThan(1e-4);
    expect(run({ training: false, seed: 1 })).toEqual(run({ training: false, seed: 2 }));
  });

  it('learns synthetic images with Adam, with a flat tensor count', async () => {
    await useBackend('wasm');
    const data = await synthetic.load(
      { name: 'synthetic', inputShape: [8, 8, 1], classes: 3, trainExamples: 48, testExamples: 3, noise: 1, seed: 4, validationFraction: 0, augment: { cropPadding: 0, flipHorizontal: false } },
      { seed: 1 },
    );
    const batch = data.train.gather(Array.from({ length: 48 }, (_, i) => i));
    const model = build(config({ dropout: 0.1 }), data.spec);
    const { losses, tensors } = adamSteps(model, tf.tensor(batch.x, batch.xShape), tf.tensor1d(batch.y, 'int32'), 15);
    expect(losses[14]).toBeLessThan(losses[0] * 0.5);
    expect(new Set(tensors.slice(1)).size).toBe(1);
  });
});
