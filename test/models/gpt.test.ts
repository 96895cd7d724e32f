import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { GptModelConfig } from '../../src/config/types.generated.js';
import { embedTokens, generate, gpt, gptFlopsPerToken, gptFlopsPerWindow, tiedOutput } from '../../src/models/gpt.js';
import type { InputSpec, Model } from '../../src/models/model.js';
import { modelFamily } from '../../src/models/registry.js';
import { lossAndCorrect } from '../../src/train/task.js';
import { Rng } from '../../src/random.js';
import { BACKENDS, finiteDifferenceError, fixedTensor, maxAbsDiff, parameterGrads, parameterValues, useBackend } from './helpers.js';

/** A tiny GPT: context 6, width 8, two blocks of 2 heads, MLP 12, vocabulary 7. */
const config = (overrides: Partial<GptModelConfig> = {}): GptModelConfig => ({
  name: 'gpt',
  contextLength: 6,
  width: 8,
  depth: 2,
  heads: 2,
  mlpWidth: 12,
  tiedEmbeddings: true,
  gelu: 'sigmoid',
  dropout: 0,
  ...overrides,
});
const tokens: InputSpec = { kind: 'tokens', shape: [6], classes: 7 };

let live: Model[] = [];
function build(c: GptModelConfig = config(), seed = 1): Model {
  const model = gpt.build(c, { ...tokens, shape: [c.contextLength] }, seed);
  live.push(model);
  return model;
}
afterEach(() => {
  live.forEach((m) => m.dispose());
  live = [];
});

/** Seeded token ids in [0, 7), int32 [batch, t]. */
function ids(batch: number, t: number, seed = 1): tf.Tensor2D {
  const rng = Rng.derive(seed, 'test-ids');
  return tf.tensor2d(Int32Array.from({ length: batch * t }, () => rng.int(7)), [batch, t], 'int32');
}

describe('gpt config checks', () => {
  it('is registered under its name', () => {
    expect(modelFamily('gpt')).toBe(gpt);
  });

  it('needs token data, and heads that divide the width', () => {
    expect(gpt.check(config(), { kind: 'image', shape: [28, 28, 1] })).toEqual([
      { path: 'model.name', message: 'gpt needs text data (data.name: text), got image input' },
    ]);
    expect(gpt.check(config({ heads: 3 }), { kind: 'tokens' })).toEqual([{ path: 'model.heads', message: 'must divide the width 8, got 3' }]);
    expect(gpt.check(config(), { kind: 'tokens' })).toEqual([]);
  });

  it('is the only family that takes token data', () => {
    for (const name of ['mlp', 'vit', 'cnn']) {
      const issues = modelFamily(name).check({ name } as never, { kind: 'tokens' });
      expect(issues.map((i) => i.path), name).toContain('model.name');
    }
  });
});

describe('gpt', () => {
  it('names its parameters, ties the output to the embedding, and counts them as by hand', async () => {
    await useBackend('cpu');
    const model = build();
    const shapes = Object.fromEntries([...model.params].map(([name, v]) => [name, v.shape]));
    const dense = (name: string, i: number, o: number) => ({ [`${name}.kernel`]: [i, o], [`${name}.bias`]: [o] });
    const norm = (name: string) => ({ [`${name}.scale`]: [8], [`${name}.bias`]: [8] });
    const block = (i: number) => ({
      ...norm(`blocks.${i}.norm1`),
      ...dense(`blocks.${i}.attn.q`, 8, 8),
      ...dense(`blocks.${i}.attn.k`, 8, 8),
      ...dense(`blocks.${i}.attn.v`, 8, 8),
      ...dense(`blocks.${i}.attn.out`, 8, 8),
      ...norm(`blocks.${i}.norm2`),
      ...dense(`blocks.${i}.mlp.fc1`, 8, 12),
      ...dense(`blocks.${i}.mlp.fc2`, 12, 8),
    });
    expect(shapes).toEqual({ 'embed.tokens': [7, 8], 'embed.positions': [6, 8], ...block(0), ...block(1), ...norm('norm') });
    // embeddings 7·8 + 6·8; per block 2 norms 2·16, q/k/v/out 4·72, fc1 8·12+12, fc2 12·8+8; final norm 16
    const tied = 56 + 48 + 2 * (32 + 288 + 108 + 104) + 16;
    expect(model.parameterCount).toBe(tied);
    live.pop()!.dispose();
    const untied = build(config({ tiedEmbeddings: false }), 2);
    expect(untied.params.get('head.kernel')!.shape).toEqual([8, 7]);
    expect(untied.parameterCount).toBe(tied + 8 * 7 + 7);
  });

  it('counts FLOPs per token and per window as by hand', async () => {
    await useBackend('cpu');
    // Per token: embedding 2·7·8; per block q,k,v,out 4·2·8·8, scores 2·6·8, weights·v 2·6·8, fc1+fc2 2·2·8·12; output 2·8·7.
    const perToken = 3 * (2 * 7 * 8 + 2 * (4 * 2 * 64 + 2 * 6 * 8 + 2 * 6 * 8 + 2 * 2 * 8 * 12) + 2 * 8 * 7);
    expect(gptFlopsPerToken(config(), 7)).toBe(perToken);
    expect(gptFlopsPerWindow(config(), 7)).toBe(6 * perToken);
    expect(build().flopsPerExample).toBe(6 * perToken);
  });

  it.each(BACKENDS)('maps token ids to logits [batch, time, vocab] on %s, for any window up to the context length', async (backend) => {
    await useBackend(backend);
    const model = build();
    expect(model.forward(ids(3, 6), { training: false }).shape).toEqual([3, 6, 7]);
    expect(model.forward(ids(2, 1), { training: false }).shape).toEqual([2, 1, 7]);
    expect(() => model.forward(ids(1, 7), { training: false })).toThrow(/context length 6/);
  });

  it('is causal: a token changes the logits at its position and after, never before', async () => {
    await useBackend('wasm');
    const model = build();
    const a = ids(1, 6, 3);
    const values = [...a.dataSync()];
    values[3] = (values[3] + 1) % 7;
    const b = tf.tensor2d(values, [1, 6], 'int32');
    const [ya, yb] = [model.forward(a, { training: false }).dataSync(), model.forward(b, { training: false }).dataSync()];
    expect(maxAbsDiff(ya.slice(0, 3 * 7), yb.slice(0, 3 * 7))).toBeLessThan(1e-6);
    expect(maxAbsDiff(ya.slice(3 * 7), yb.slice(3 * 7))).toBeGreaterThan(1e-4);
    // A shorter window gives the same logits as the start of a longer one.
    const short = model.forward(tf.slice(a, [0, 0], [1, 4]), { training: false }).dataSync();
    expect(maxAbsDiff(short, ya.slice(0, 4 * 7))).toBeLessThan(1e-5);
  });

  it('initialises identically from the same seed, on cpu and wasm, and differently from another seed', async () => {
    await useBackend('cpu');
    const first = parameterValues(build(config(), 5));
    live.pop()!.dispose();
    await useBackend('wasm');
    const second = parameterValues(build(config(), 5));
    live.pop()!.dispose();
    const other = parameterValues(build(config(), 6));
    for (const [name, values] of first) expect(second.get(name), name).toEqual(values);
    expect(maxAbsDiff(first.get('embed.tokens')!, other.get('embed.tokens')!)).toBeGreaterThan(1e-3);
  });

  it.each(BACKENDS)('on %s, embeds by one-hot matMul with the values and table gradient of tf.gather (differentiated on cpu)', async (backend) => {
    await useBackend('cpu');
    const x = ids(4, 6, 4);
    const table = fixedTensor([7, 8], 5) as tf.Tensor2D;
    const r = fixedTensor([24, 8], 6);
    const viaGather = (t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.reshape(x, [-1])), r));
    const reference = { value: viaGather(table).dataSync()[0], grad: tf.grad(viaGather)(table).dataSync() };
    await useBackend(backend);
    const viaOneHot = (t: tf.Tensor) => tf.sum(tf.mul(embedTokens(x, t as tf.Tensor2D), r));
    expect(viaOneHot(table).dataSync()[0]).toBeCloseTo(reference.value, 4);
    expect(maxAbsDiff(tf.grad(viaOneHot)(table).dataSync(), reference.grad)).toBeLessThan(1e-5);
  });

  it.each(BACKENDS)('on %s, the tied output projection h·tableᵀ has the gradients of tfjs autodiff', async (backend) => {
    await useBackend(backend);
    const h = fixedTensor([5, 8], 7) as tf.Tensor2D;
    const table = fixedTensor([7, 8], 8) as tf.Tensor2D;
    const r = fixedTensor([5, 7], 9);
    const loss = (f: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor2D, b as tf.Tensor2D), r));
    const custom = tf.grads(loss(tiedOutput))([h, table]);
    const reference = tf.grads(loss((a, b) => tf.matMul(a, b, false, true)))([h, table]);
    custom.forEach((g, i) => expect(maxAbsDiff(g.dataSync(), reference[i].dataSync())).toBeLessThan(1e-5));
  });

  describe.each(BACKENDS)('gradients on %s', (backend) => {
    it.each([true, false])('match finite differences (tiedEmbeddings %s)', async (tiedEmbeddings) => {
      await useBackend(backend);
      const model = build(config({ tiedEmbeddings, depth: 1 }), 7);
      // Embeddings start at 0.02 scale, where LayerNorm is too curved for ε = 1e-2: evaluate at 25x that.
      for (const name of ['embed.tokens', 'embed.positions']) {
        const v = model.params.get(name)!;
        v.assign(tf.tidy(() => tf.mul(v, 25)));
      }
      const x = ids(3, 6, 8);
      const y = ids(3, 6, 9);
      const loss = () => lossAndCorrect(model.forward(x, { training: false }), y).loss;
      const grads = parameterGrads(model, loss);
      expect([...grads.keys()]).toEqual([...model.params.keys()]);
      const names = ['embed.tokens', 'embed.positions', 'blocks.0.attn.q.kernel', 'blocks.0.attn.v.kernel', 'blocks.0.mlp.fc1.kernel', 'norm.scale'];
      for (const name of tiedEmbeddings ? names : [...names, 'head.kernel']) {
        expect(finiteDifferenceError(model, loss, grads, name), name).toBeLessThan(0.03);
      }
    });
  });

  it('learns to predict a repeating sequence on wasm', async () => {
    await useBackend('wasm');
    const model = build(config({ depth: 1 }));
    const pattern = Int32Array.from({ length: 4 * 7 }, (_, i) => i % 5);
    const x = tf.tensor2d(pattern.subarray(0, 24), [4, 6], 'int32');
    const y = tf.tensor2d(pattern.subarray(1, 25), [4, 6], 'int32');
    const optimizer = tf.train.adam(3e-2);
    const losses: number[] = [];
    for (let step = 0; step < 30; step++) {
      losses.push(tf.tidy(() => optimizer.minimize(() => lossAndCorrect(model.forward(x, { training: true }), y).loss, true, [...model.params.values()])!.dataSync()[0]));
    }
    optimizer.dispose();
    expect(losses[29]).toBeLessThan(0.3);
  });
});

describe('generate', () => {
  it('repeats for a seed, changes with it, and is greedy at temperature 0', async () => {
    await useBackend('wasm');
    const model = build();
    const prompt = [1, 2, 3];
    const run = (seed: number, temperature = 1) => [...generate(model, prompt, 20, { temperature, seed, contextLength: 6 })];
    expect(run(1)).toEqual(run(1));
    expect(run(1)).not.toEqual(run(2));
    expect(run(1).every((id) => id >= 0 && id < 7)).toBe(true);
    // Greedy: each token is the argmax of the model's logits at the last position of the window.
    const greedy = run(1, 0);
    const context = [...prompt];
    for (const next of greedy) {
      const window = context.slice(-6);
      const logits = tf.tidy(() => model.forward(tf.tensor2d(window, [1, window.length], 'int32'), { training: false }).dataSync().slice(-7));
      expect(next).toBe(logits.indexOf(Math.max(...logits)));
      context.push(next);
    }
    expect(greedy).toEqual(run(9, 0));
  });
});
