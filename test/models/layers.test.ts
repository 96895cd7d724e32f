import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  causalMask,
  dense,
  dropout,
  gelu,
  layerNorm,
  ParameterStore,
  selfAttention,
  smallMatMuls,
  useAutodiffReference,
  type AttentionParams,
} from '../../src/models/layers.js';
import { BACKENDS, fixedTensor, maxAbsDiff, useBackend } from './helpers.js';

/** Gradients of sum(f(inputs) ⊙ r) for a fixed r, hand-written and by tfjs autodiff. */
function bothGradients(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): { custom: Float32Array[]; reference: Float32Array[] } {
  const run = (reference: boolean) =>
    tf.tidy(() => {
      useAutodiffReference(reference);
      try {
        const r = fixedTensor(f(...inputs).shape, 99);
        return tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), r)))(inputs).map((g) => g.dataSync() as Float32Array);
      } finally {
        useAutodiffReference(false);
      }
    });
  return { custom: run(false), reference: run(true) };
}

function expectClose(a: Float32Array[], b: Float32Array[], tolerance = 1e-5): void {
  expect(a.length).toBe(b.length);
  a.forEach((g, i) => expect(maxAbsDiff(g, b[i]), `gradient ${i}`).toBeLessThan(tolerance));
}

afterEach(() => tf.disposeVariables());

describe.each(BACKENDS)('hand-written gradients on %s', (backend) => {
  it('dense matches tfjs autodiff for input, kernel and bias', async () => {
    await useBackend(backend);
    const [x, w, b] = [fixedTensor([13, 6], 1), fixedTensor([6, 5], 2), fixedTensor([5], 3)];
    const f = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
      dense(xi as tf.Tensor2D, { kernel: wi as tf.Variable, bias: bi as tf.Variable });
    const { custom, reference } = bothGradients(f, [x, w, b]);
    expectClose(custom, reference);
  });

  it('dense without input gradient gives the same kernel and bias gradients', async () => {
    await useBackend(backend);
    const x = fixedTensor([13, 6], 1) as tf.Tensor2D;
    const p = { kernel: tf.variable(fixedTensor([6, 5], 2)), bias: tf.variable(fixedTensor([5], 3)) };
    const r = fixedTensor([13, 5], 4);
    const grads = (inputGrad: boolean) =>
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => tf.sum(tf.mul(dense(x, p, inputGrad), r)), [p.kernel, p.bias]);
        return [grads[p.kernel.name].dataSync(), grads[p.bias.name].dataSync()] as Float32Array[];
      });
    expectClose(grads(false), grads(true));
  });

  it('layerNorm matches tfjs autodiff for input, scale and bias', async () => {
    await useBackend(backend);
    const [x, scale, bias] = [tf.add(tf.mul(fixedTensor([11, 8], 5), 3), 2), fixedTensor([8], 6), fixedTensor([8], 7)];
    const f = (xi: tf.Tensor, si: tf.Tensor, bi: tf.Tensor) =>
      layerNorm(xi as tf.Tensor2D, { scale: si as tf.Variable, bias: bi as tf.Variable });
    const { custom, reference } = bothGradients(f, [x, scale, bias]);
    expectClose(custom, reference);
  });

  it('smallMatMuls computes batched products and their gradients like tf.matMul', async () => {
    await useBackend(backend);
    const [a, b] = [fixedTensor([6, 3, 5], 8) as tf.Tensor3D, fixedTensor([6, 5, 4], 9) as tf.Tensor3D];
    expect(maxAbsDiff(smallMatMuls(a, b).dataSync(), tf.matMul(a, b).dataSync())).toBeLessThan(1e-5);
    const { custom, reference } = bothGradients((x, y) => smallMatMuls(x as tf.Tensor3D, y as tf.Tensor3D), [a, b]);
    expectClose(custom, reference);
  });
});

function attentionParams(width: number, seed: number): { params: AttentionParams; store: ParameterStore } {
  const store = new ParameterStore(seed);
  const p = (name: string) => store.dense(`test.attn.${name}`, width, width);
  return { params: { q: p('q'), k: p('k'), v: p('v'), out: p('out') }, store };
}

describe('selfAttention', () => {
  it('equals softmax(q·kᵀ/√d)·v per head, written out with plain ops', async () => {
    await useBackend('cpu');
    const [b, t, heads, width] = [2, 3, 2, 4];
    const { params, store } = attentionParams(width, 1);
    const x = fixedTensor([b * t, width], 10) as tf.Tensor2D;
    const got = selfAttention(x, params, { batch: b, tokens: t, heads }).arraySync();
    // Reference: per example and head, with explicit column blocks of q, k, v.
    const project = (p: { kernel: tf.Variable; bias: tf.Variable }) => tf.add(tf.matMul(x, p.kernel), p.bias);
    const [q, k, v] = [project(params.q), project(params.k), project(params.v)];
    const hd = width / heads;
    const rows: tf.Tensor[] = [];
    for (let e = 0; e < b; e++) {
      const perHead: tf.Tensor[] = [];
      for (let h = 0; h < heads; h++) {
        const block = (m: tf.Tensor) => tf.slice(m, [e * t, h * hd], [t, hd]);
        const w = tf.softmax(tf.div(tf.matMul(block(q), block(k), false, true), Math.sqrt(hd)));
        perHead.push(tf.matMul(w, block(v)));
      }
      rows.push(tf.concat(perHead, 1));
    }
    const expected = tf.add(tf.matMul(tf.concat(rows, 0), params.out.kernel), params.out.bias).arraySync();
    expect(maxAbsDiff((got as number[][]).flat(), (expected as number[][]).flat())).toBeLessThan(1e-5);
    store.dispose();
  });

  it('with a causal mask, a token does not see later tokens', async () => {
    await useBackend('wasm');
    const [b, t, heads, width] = [2, 5, 2, 8];
    const { params, store } = attentionParams(width, 2);
    const mask = causalMask(t);
    const x = fixedTensor([b, t, width], 11);
    // Change only the last token of every example.
    const changed = tf.concat([tf.slice(x, [0, 0, 0], [b, t - 1, width]), fixedTensor([b, 1, width], 12)], 1);
    const run = (input: tf.Tensor) =>
      selfAttention(tf.reshape(input, [b * t, width]) as tf.Tensor2D, params, { batch: b, tokens: t, heads, mask }).reshape([b, t, width]);
    const [before, after] = [run(x), run(changed)];
    const firstTokens = (y: tf.Tensor) => tf.slice(y, [0, 0, 0], [b, t - 1, width]).dataSync();
    expect(maxAbsDiff(firstTokens(before), firstTokens(after))).toBeLessThan(1e-6);
    expect(maxAbsDiff(before.dataSync(), after.dataSync())).toBeGreaterThan(1e-3);
    store.dispose();
  });
});

describe('activations and dropout', () => {
  it('gelu: the sigmoid form is x·σ(1.702x) and the tanh form is within 1e-3 of exact GELU', async () => {
    await useBackend('wasm');
    const xs = [-4, -2, -1, -0.5, 0, 0.5, 1, 2, 4];
    const x = tf.tensor1d(xs);
    const sigmoidForm = gelu(x, 'sigmoid').dataSync();
    xs.forEach((v, i) => expect(sigmoidForm[i]).toBeCloseTo(v / (1 + Math.exp(-1.702 * v)), 5));
    const erf = (z: number) => {
      // Abramowitz–Stegun 7.1.26, |error| < 1.5e-7
      const s = Math.sign(z);
      const u = 1 / (1 + 0.3275911 * Math.abs(z));
      const y = 1 - ((((1.061405429 * u - 1.453152027) * u + 1.421413741) * u - 0.284496736) * u + 0.254829592) * u * Math.exp(-z * z);
      return s * y;
    };
    const tanhForm = gelu(x, 'tanh').dataSync();
    xs.forEach((v, i) => expect(Math.abs(tanhForm[i] - 0.5 * v * (1 + erf(v / Math.SQRT2)))).toBeLessThan(1e-3));
  });

  it('dropout repeats for the same seed and site, differs otherwise, and is the identity outside training', async () => {
    await useBackend('wasm');
    const x = tf.ones([50, 40]);
    const mask = (seed: number, site: string) => dropout(x, 0.25, { training: true, seed }, site).dataSync();
    expect(mask(7, 'a')).toEqual(mask(7, 'a'));
    expect(maxAbsDiff(mask(7, 'a'), mask(8, 'a'))).toBeGreaterThan(0);
    expect(maxAbsDiff(mask(7, 'a'), mask(7, 'b'))).toBeGreaterThan(0);
    const values = mask(7, 'a');
    const kept = values.filter((v) => v !== 0);
    expect(new Set(kept)).toEqual(new Set([Math.fround(1 / 0.75)]));
    expect(kept.length / values.length).toBeGreaterThan(0.7);
    expect(kept.length / values.length).toBeLessThan(0.8);
    expect(dropout(x, 0.25, { training: false }, 'a')).toBe(x);
    expect(() => dropout(x, 0.25, { training: true }, 'a')).toThrow(/seed/);
  });
});

describe('ParameterStore', () => {
  it('refuses a parameter name that another live model registered, and frees names on dispose', async () => {
    await useBackend('cpu');
    const first = new ParameterStore(1);
    first.dense('head', 3, 2);
    expect(() => new ParameterStore(1).dense('head', 3, 2)).toThrow(/"head.kernel" is already registered.*dispose/);
    first.dispose();
    const second = new ParameterStore(1);
    expect(second.dense('head', 3, 2).kernel.name).toBe('head.kernel');
    second.dispose();
  });
});
