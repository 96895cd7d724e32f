import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { CnnModelConfig } from '../../src/config/types.generated.js';
import { synthetic } from '../../src/data/synthetic.js';
import { cnn, cnnShapes } from '../../src/models/cnn.js';
import type { InputSpec, Model } from '../../src/models/model.js';
import { modelFamily } from '../../src/models/registry.js';
import { adamSteps, BACKENDS, crossEntropy, finiteDifferenceError, fixedTensor, maxAbsDiff, parameterGrads, parameterValues, useBackend } from './helpers.js';

/** Two conv layers on 8x8x2 images: 3x3 same → 4 channels, pool 2; 2x2 valid stride 1 → 5 channels; dense 6; 3 classes. */
const config = (overrides: Partial<CnnModelConfig> = {}): CnnModelConfig => ({
  name: 'cnn',
  conv: [
    { channels: 4, kernel: 3, stride: 1, padding: 'same', pool: 2 },
    { channels: 5, kernel: 2, stride: 1, padding: 'valid', pool: 1 },
  ],
  dense: [6],
  activation: 'tanh',
  dropout: 0,
  ...overrides,
});
const image: InputSpec = { kind: 'image', shape: [8, 8, 2], classes: 3 };

let live: Model[] = [];
function build(c: CnnModelConfig = config(), input: InputSpec = image, seed = 1): Model {
  const model = cnn.build(c, input, seed);
  live.push(model);
  return model;
}
afterEach(() => {
  live.forEach((m) => m.dispose());
  live = [];
});

describe('cnn config checks', () => {
  it('is registered under its name', () => {
    expect(modelFamily('cnn')).toBe(cnn);
  });

  it('needs image input', () => {
    expect(cnn.check(config(), { kind: 'vector', shape: [16] })).toEqual([
      { path: 'model.name', message: 'cnn needs image input ([height, width, channels]), got vector' },
    ]);
    expect(cnn.check(config(), { kind: 'tokens' })[0].path).toBe('model.name');
  });

  it('names the layer where the feature map shrinks below one pixel', () => {
    const pools = config({ conv: [{ channels: 4, kernel: 3, stride: 1, padding: 'same', pool: 4 }, { channels: 4, kernel: 3, stride: 1, padding: 'same', pool: 4 }] });
    expect(cnn.check(pools, { kind: 'image', shape: [8, 8, 1] })).toEqual([
      { path: 'model.conv.1.pool', message: 'a 4x4 pool does not fit the 2x2 feature map it gets' },
    ]);
    const valid = config({ conv: [{ channels: 4, kernel: 5, stride: 2, padding: 'valid', pool: 1 }, { channels: 4, kernel: 3, stride: 1, padding: 'valid', pool: 1 }] });
    expect(cnn.check(valid, { kind: 'image', shape: [8, 8, 1] })).toEqual([
      { path: 'model.conv.1.kernel', message: 'a 3x3 valid convolution does not fit the 2x2 feature map it gets' },
    ]);
    expect(cnn.check(config(), { kind: 'image', shape: [28, 28, 1] })).toEqual([]);
  });

  it('follows the shapes through the stack', () => {
    expect(cnnShapes(config(), [8, 8, 2]).layers).toEqual([
      { in: [8, 8, 2], conv: [8, 8, 4], pooled: [4, 4, 4] },
      { in: [4, 4, 4], conv: [3, 3, 5], pooled: [3, 3, 5] },
    ]);
  });
});

describe('cnn', () => {
  it('names its parameters and counts them as by hand', async () => {
    await useBackend('cpu');
    const model = build();
    const shapes = Object.fromEntries([...model.params].map(([name, v]) => [name, v.shape]));
    expect(shapes).toEqual({
      'conv.0.kernel': [3, 3, 2, 4],
      'conv.0.bias': [4],
      'conv.1.kernel': [2, 2, 4, 5],
      'conv.1.bias': [5],
      'dense.0.kernel': [45, 6],
      'dense.0.bias': [6],
      'head.kernel': [6, 3],
      'head.bias': [3],
    });
    // conv 3·3·2·4+4, conv 2·2·4·5+5, dense 45·6+6, head 6·3+3
    expect(model.parameterCount).toBe(76 + 85 + 276 + 21);
  });

  it('counts FLOPs as 3x the forward convolutions and matMuls', async () => {
    await useBackend('cpu');
    // conv0: 8·8 outputs · 3·3·2 · 4;  conv1: 3·3 outputs · 2·2·4 · 5;  dense 45·6;  head 6·3 (2 FLOPs per multiply-add).
    const forward = 2 * (64 * 18 * 4 + 9 * 16 * 5 + 45 * 6 + 6 * 3);
    expect(build().flopsPerExample).toBe(3 * forward);
  });

  it.each(BACKENDS)('maps images to logits [batch, classes] on %s', async (backend) => {
    await useBackend(backend);
    const y = build().forward(fixedTensor([3, 8, 8, 2]), { training: false });
    expect(y.shape).toEqual([3, 3]);
    live.pop()!.dispose();
    const strided = build(config({ conv: [{ channels: 3, kernel: 3, stride: 2, padding: 'same', pool: 1 }], dense: [] }), { kind: 'image', shape: [9, 7, 1], classes: 4 }, 2);
    expect(strided.forward(fixedTensor([2, 9, 7, 1]), { training: false }).shape).toEqual([2, 4]);
  });

  it('initialises identically from the same seed, on cpu and wasm, and differently from another seed', async () => {
    await useBackend('cpu');
    const first = parameterValues(build(config(), image, 5));
    live.pop()!.dispose();
    await useBackend('wasm');
    const second = parameterValues(build(config(), image, 5));
    live.pop()!.dispose();
    const other = parameterValues(build(config(), image, 6));
    for (const [name, values] of first) expect(second.get(name), name).toEqual(values);
    expect(maxAbsDiff(first.get('conv.0.kernel')!, other.get('conv.0.kernel')!)).toBeGreaterThan(0.01);
  });

  it.each(BACKENDS)('gradients on %s match finite differences', async (backend) => {
    // Without pooling: a max has kinks that finite differences step across (conv.test.ts checks pooling exactly).
    await useBackend(backend);
    const conv = [{ ...config().conv[0], pool: 1 }, { channels: 5, kernel: 2, stride: 2, padding: 'same' as const, pool: 1 }] as CnnModelConfig['conv'];
    const model = build(config({ conv }));
    const x = fixedTensor([4, 8, 8, 2], 3);
    const labels = tf.tensor1d([0, 1, 2, 1], 'int32');
    const loss = () => crossEntropy(model.forward(x, { training: false }), labels);
    const grads = parameterGrads(model, loss);
    expect([...grads.keys()]).toEqual([...model.params.keys()]);
    for (const name of model.params.keys()) expect(finiteDifferenceError(model, loss, grads, name), name).toBeLessThan(0.02);
  });

  it('learns synthetic images on wasm, with a flat tensor count', async () => {
    await useBackend('wasm');
    const data = await synthetic.load(
      { name: 'synthetic', inputShape: [8, 8, 2], classes: 3, trainExamples: 48, testExamples: 3, noise: 1, seed: 4, validationFraction: 0, augment: { cropPadding: 0, flipHorizontal: false } },
      { seed: 1 },
    );
    const batch = data.train.gather(Array.from({ length: 48 }, (_, i) => i));
    const model = build(config({ activation: 'relu', dropout: 0.1 }), data.spec);
    const { losses, tensors } = adamSteps(model, tf.tensor(batch.x, batch.xShape), tf.tensor1d(batch.y, 'int32'), 15);
    expect(losses[14]).toBeLessThan(losses[0] * 0.5);
    expect(new Set(tensors.slice(1)).size).toBe(1);
  });
});
