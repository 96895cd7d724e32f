import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { MlpModelConfig } from '../../src/config/types.generated.js';
import { synthetic } from '../../src/data/synthetic.js';
import { useAutodiffReference } from '../../src/models/layers.js';
import { mlp } from '../../src/models/mlp.js';
import type { InputSpec, Model } from '../../src/models/model.js';
import { modelFamily } from '../../src/models/registry.js';
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

const config = (overrides: Partial<MlpModelConfig> = {}): MlpModelConfig => ({ name: 'mlp', hidden: [8, 6], activation: 'relu', dropout: 0, ...overrides });
const image: InputSpec = { kind: 'image', shape: [4, 4, 1], classes: 3 };

let live: Model[] = [];
function build(c: MlpModelConfig, input: InputSpec, seed = 1): Model {
  const model = mlp.build(c, input, seed);
  live.push(model);
  return model;
}
afterEach(() => {
  live.forEach((m) => m.dispose());
  live = [];
});

describe('mlp', () => {
  it('is registered under its name', () => {
    expect(modelFamily('mlp')).toBe(mlp);
  });

  it('refuses token input and accepts images and vectors', () => {
    expect(mlp.check(config(), { kind: 'tokens' })).toEqual([{ path: 'model.name', message: 'mlp needs image or vector input, got tokens' }]);
    expect(mlp.check(config(), { kind: 'image', shape: [28, 28, 1] })).toEqual([]);
    expect(mlp.check(config(), { kind: 'vector' })).toEqual([]);
  });

  it('names its parameters and counts them as by hand', async () => {
    await useBackend('cpu');
    const model = build(config(), image);
    const shapes = Object.fromEntries([...model.params].map(([name, v]) => [name, v.shape]));
    expect(shapes).toEqual({
      'layers.0.kernel': [16, 8],
      'layers.0.bias': [8],
      'layers.1.kernel': [8, 6],
      'layers.1.bias': [6],
      'head.kernel': [6, 3],
      'head.bias': [3],
    });
    expect(model.parameterCount).toBe(16 * 8 + 8 + 8 * 6 + 6 + 6 * 3 + 3);
    expect(model.params.get('layers.0.bias')!.dataSync().every((v) => v === 0)).toBe(true);
  });

  it('counts FLOPs as 3x the forward matMuls', async () => {
    await useBackend('cpu');
    const forward = 2 * 16 * 8 + 2 * 8 * 6 + 2 * 6 * 3;
    expect(build(config(), image).flopsPerExample).toBe(3 * forward);
    live.pop()!.dispose();
    expect(build(config({ hidden: [] }), { kind: 'vector', shape: [5], classes: 2 }).flopsPerExample).toBe(3 * 2 * 5 * 2);
  });

  it('maps images and vectors to logits [batch, classes]', async () => {
    await useBackend('wasm');
    const a = build(config(), image);
    expect(a.forward(tf.zeros([5, 4, 4, 1]), { training: false }).shape).toEqual([5, 3]);
    a.dispose();
    const b = build(config(), { kind: 'vector', shape: [7], classes: 4 });
    expect(b.forward(tf.zeros([2, 7]), { training: false }).shape).toEqual([2, 4]);
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
    expect(maxAbsDiff(first.get('layers.0.kernel')!, other.get('layers.0.kernel')!)).toBeGreaterThan(0.01);
  });

  it('throws a clear error when a model with the same parameter names is alive', async () => {
    await useBackend('cpu');
    build(config(), image);
    expect(() => mlp.build(config(), image, 1)).toThrow(/"layers.0.kernel" is already registered.*dispose/);
  });

  describe.each(BACKENDS)('gradients on %s', (backend) => {
    it('match tfjs autodiff of the same forward within 1e-5', async () => {
      await useBackend(backend);
      const model = build(config({ activation: 'gelu' }), image);
      const x = fixedTensor([9, 4, 4, 1], 3);
      const labels = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2], 'int32');
      const loss = () => crossEntropy(model.forward(x, { training: false }), labels);
      const custom = parameterGrads(model, loss);
      useAutodiffReference(true);
      const reference = parameterGrads(model, loss);
      useAutodiffReference(false);
      for (const [name, g] of custom) expect(maxAbsDiff(g, reference.get(name)!), name).toBeLessThan(1e-5);
    });
  });

  it('gradients match finite differences', async () => {
    await useBackend('cpu');
    const model = build(config({ activation: 'tanh' }), image);
    const x = fixedTensor([6, 4, 4, 1], 4);
    const labels = tf.tensor1d([0, 1, 2, 2, 1, 0], 'int32');
    const loss = () => crossEntropy(model.forward(x, { training: false }), labels);
    const grads = parameterGrads(model, loss);
    for (const name of ['layers.0.kernel', 'layers.1.bias', 'head.kernel']) expect(finiteDifferenceError(model, loss, grads, name), name).toBeLessThan(0.02);
  });

  it('learns synthetic data with Adam, with a flat tensor count', async () => {
    await useBackend('wasm');
    const data = await synthetic.load(
      { name: 'synthetic', inputShape: [16], classes: 4, trainExamples: 64, testExamples: 8, noise: 1, seed: 3, validationFraction: 0, augment: { cropPadding: 0, flipHorizontal: false } },
      { seed: 1 },
    );
    const batch = data.train.gather(Array.from({ length: 64 }, (_, i) => i));
    const model = build(config({ hidden: [32], dropout: 0.1 }), data.spec);
    const x = tf.tensor(batch.x, batch.xShape);
    const labels = tf.tensor1d(batch.y, 'int32');
    const { losses, tensors } = adamSteps(model, x, labels, 12);
    expect(losses[11]).toBeLessThan(losses[0] * 0.5);
    expect(new Set(tensors.slice(1)).size).toBe(1);
  });
});
