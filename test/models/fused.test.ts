import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { columnSums, FUSED_KINDS, fusedKernel, matMul, matMulTN, setFusedKernels } from '../../src/models/fused.js';
import { causalMask, dense, gelu, layerNorm, ParameterStore, selfAttention, useAutodiffReference, type AttentionParams } from '../../src/models/layers.js';
import { fixedTensor, maxAbsDiff, useBackend } from './helpers.js';

/** Value and gradients of sum(f(inputs) ⊙ r) for a fixed r: the fused kernels (wasm) and tfjs autodiff through plain ops. */
function fusedAndReference(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]) {
  const run = (reference: boolean) =>
    tf.tidy(() => {
      useAutodiffReference(reference);
      try {
        const value = f(...inputs);
        const r = fixedTensor(value.shape, 99);
        const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), r)))(inputs);
        return { value: value.dataSync() as Float32Array, grads: grads.map((g) => g.dataSync() as Float32Array) };
      } finally {
        useAutodiffReference(false);
      }
    });
  return { fused: run(false), reference: run(true) };
}

function expectClose(got: { value: Float32Array; grads: Float32Array[] }, want: { value: Float32Array; grads: Float32Array[] }, tolerance: number): void {
  expect(maxAbsDiff(got.value, want.value), 'value').toBeLessThan(tolerance);
  got.grads.forEach((g, i) => expect(maxAbsDiff(g, want.grads[i]), `gradient ${i}`).toBeLessThan(tolerance));
}

function attentionParams(width: number, seed: number): { params: AttentionParams; store: ParameterStore } {
  const store = new ParameterStore(seed);
  const p = (name: string) => store.dense(`fused.attn.${name}`, width, width);
  return { params: { q: p('q'), k: p('k'), v: p('v'), out: p('out') }, store };
}

afterEach(() => {
  setFusedKernels(Object.fromEntries(FUSED_KINDS.map((k) => [k, true])));
  tf.disposeVariables();
});

// Every kernel twice: built with relaxed SIMD (fused multiply-add in the products) and without.
describe.each([
  ['with fused multiply-add', true],
  ['without fused multiply-add', false],
])('fused layer kernels on wasm, %s', (_name, fma) => {
  beforeEach(() => setFusedKernels({ fma }));

  it('run on wasm and not on cpu; Node 20 gets relaxed SIMD', async () => {
    await useBackend('wasm');
    expect(fusedKernel('fma')).toBe(fma);
    await useBackend('wasm');
    expect(fusedKernel('attention') && fusedKernel('layerNorm') && fusedKernel('gelu')).toBe(true);
    setFusedKernels({ gelu: false });
    expect(fusedKernel('gelu')).toBe(false);
    await useBackend('cpu');
    expect(fusedKernel('attention')).toBe(false);
  });

  // Head widths 4, 8, 16; token counts that are and are not multiples of 4; with and without the causal mask.
  it.each([
    [3, 16, 4, 64, false],
    [2, 5, 2, 8, false],
    [2, 7, 3, 48, true],
    [1, 17, 1, 16, true],
    [2, 20, 2, 40, true],
    [1, 33, 2, 64, false],
  ])('attention (batch %i, %i tokens, %i heads, width %i, causal %s) matches softmax(q·kᵀ/√d)·v and its autodiff gradients', async (b, t, heads, width, causal) => {
    await useBackend('wasm');
    const { params, store } = attentionParams(width, 3);
    const shape = { batch: b, tokens: t, heads, ...(causal ? { mask: causalMask(t), causal: true } : {}) };
    const x = tf.mul(fixedTensor([b * t, width], 21), 2);
    const { fused, reference } = fusedAndReference((xi) => selfAttention(xi as tf.Tensor2D, params, shape), [x]);
    expectClose(fused, reference, 2e-5);
    // The fused path ran: with it switched off the same call takes the ops path, and both agree.
    setFusedKernels({ attention: false });
    const ops = fusedAndReference((xi) => selfAttention(xi as tf.Tensor2D, params, shape), [x]).fused;
    expectClose(fused, ops, 2e-5);
    store.dispose();
  });

  it.each([
    [7, 4],
    [1008, 64],
    [5, 128],
  ])('layerNorm [%i, %i] matches tfjs autodiff for input, scale and bias', async (rows, width) => {
    await useBackend('wasm');
    const inputs = [tf.add(tf.mul(fixedTensor([rows, width], 5), 3), 2), fixedTensor([width], 6), fixedTensor([width], 7)];
    const { fused, reference } = fusedAndReference((xi, si, bi) => layerNorm(xi as tf.Tensor2D, { scale: si as tf.Variable, bias: bi as tf.Variable }), inputs);
    expectClose(fused, reference, 1e-4);
  });

  it('gelu matches x·σ(1.702x) and its gradient, far into both tails', async () => {
    await useBackend('wasm');
    const x = tf.concat([tf.mul(fixedTensor([250, 4], 8), 3), tf.tensor2d([[-200, -60, -30, -10], [0, 10, 60, 200]])]);
    const { fused, reference } = fusedAndReference((xi) => gelu(xi), [x]);
    expectClose(fused, reference, 1e-5);
    const values = fused.value.slice(-8);
    expect(Array.from(values.slice(4))).toEqual([0, 10, 60, 200].map((v) => expect.closeTo(v, 5)));
    expect(values.slice(0, 4).every((v) => Math.abs(v) < 1e-6 && (v === 0 || Math.abs(v) >= 1.2e-38))).toBe(true); // no subnormals
  });

  // Column counts with 8-wide tiles, a 4-wide tail, and row counts with a remainder of 1-3 rows.
  it.each([
    [1008, 64, 128],
    [13, 49, 64],
    [10, 6, 12],
    [3, 2, 4],
  ])('matMulTN [%i rows]: xᵀ·dy for x with %i columns and dy with %i equals tf.matMul(xᵀ, dy), and dense gradients match autodiff', async (rows, inputs, outputs) => {
    await useBackend('wasm');
    const [x, dy] = [fixedTensor([rows, inputs], 31) as tf.Tensor2D, fixedTensor([rows, outputs], 32) as tf.Tensor2D];
    expect(maxAbsDiff(matMulTN(x, dy).dataSync(), tf.matMul(x, dy, true, false).dataSync())).toBeLessThan(1e-4 * Math.sqrt(rows));
    const [w, b] = [fixedTensor([inputs, outputs], 33), fixedTensor([outputs], 34)];
    const { fused, reference } = fusedAndReference((xi, wi, bi) => dense(xi as tf.Tensor2D, { kernel: wi, bias: bi }), [x, w, b]);
    expectClose(fused, reference, 1e-4 * Math.sqrt(rows));
  });

  // x·W + b and dy·Wᵀ: 8-wide column tiles, a 4-wide tail, row counts with a remainder of 1-3.
  it.each([
    [1008, 64, 128],
    [13, 49, 64],
    [10, 6, 12],
    [3, 2, 4],
    [6, 128, 20],
  ])('matMul [%i rows]: x with %i columns times W with %i columns, with and without bias, equals tf.matMul', async (rows, inputs, outputs) => {
    await useBackend('wasm');
    const [x, w, b] = [fixedTensor([rows, inputs], 35) as tf.Tensor2D, fixedTensor([inputs, outputs], 36) as tf.Tensor2D, fixedTensor([outputs], 37) as tf.Tensor1D];
    const tolerance = 1e-5 * Math.sqrt(inputs);
    expect(maxAbsDiff(matMul(x, w).dataSync(), tf.matMul(x, w).dataSync())).toBeLessThan(tolerance);
    expect(maxAbsDiff(matMul(x, w, b).dataSync(), tf.add(tf.matMul(x, w), b).dataSync())).toBeLessThan(tolerance);
  });

  it('the products flush subnormal results to zero and leave normal ones as tf.matMul computes them', async () => {
    await useBackend('wasm');
    const FLT_MIN = 1.1754944e-38;
    const isSubnormal = (v: number) => v !== 0 && Math.abs(v) < FLT_MIN;
    // Rows of 1e-20 and 1: against a column of 1e-20 the first product is 1e-40 (subnormal), the second 1e-20.
    const x = tf.tensor2d([[1e-20, 0, 0, 0], [1, 2, 0, 0], [3e-19, 1e-20, 0, 0]]);
    const w = tf.tensor2d([[1e-20, 1, 2, 3], [1e-20, 4, 5, 6], [0, 0, 0, 0], [0, 0, 0, 0]]);
    const want = Array.from(tf.matMul(x, w).dataSync());
    expect(want.some(isSubnormal)).toBe(true); // tfjs keeps them
    const got = Array.from(matMul(x as tf.Tensor2D, w as tf.Tensor2D).dataSync());
    expect(got.some(isSubnormal)).toBe(false);
    expect(got).toEqual(want.map((v) => (isSubnormal(v) ? 0 : expect.closeTo(v, 6))));
    const gotTN = Array.from(matMulTN(tf.transpose(x) as tf.Tensor2D, w as tf.Tensor2D).dataSync());
    expect(gotTN.some(isSubnormal)).toBe(false);
    expect(gotTN.filter((v) => v === 0).length).toBe(want.filter((v) => v === 0 || isSubnormal(v)).length);
  });

  it('tf.clone on wasm shares the memory of its input, which outlives the input, and copies with sharedIdentity off', async () => {
    await useBackend('wasm');
    expect(fusedKernel('sharedIdentity')).toBe(true);
    const offset = (t: tf.Tensor) => (tf.backend() as unknown as { getMemoryOffset(id: tf.DataId): number }).getMemoryOffset(t.dataId);
    const x = tf.tensor1d([1, 2, 3, 4]);
    const shared = tf.clone(x);
    expect(offset(shared)).toBe(offset(x));
    x.dispose();
    expect(Array.from(shared.dataSync())).toEqual([1, 2, 3, 4]);
    setFusedKernels({ sharedIdentity: false });
    const copied = tf.clone(shared);
    expect(offset(copied)).not.toBe(offset(shared));
    expect(Array.from(copied.dataSync())).toEqual([1, 2, 3, 4]);
    tf.dispose([shared, copied]);
  });

  // Widths with and without a remainder of 1-3 columns: the sums equal tfjs's Sum over axis 0 exactly (same order).
  it.each([
    [1008, 64],
    [63, 10],
    [5, 3],
  ])('columnSums of [%i, %i] equals tf.sum over the rows, bit for bit', async (rows, n) => {
    await useBackend('wasm');
    const x = fixedTensor([rows, n], 41) as tf.Tensor2D;
    expect(Array.from(columnSums(x).dataSync())).toEqual(Array.from(tf.sum(x, 0).dataSync()));
  });
});
