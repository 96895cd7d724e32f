import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { activatedMaxPool, conv2d, convGeometry, dilate, maxPool, type Padding } from '../../src/models/conv.js';
import { FUSED_KINDS, setFusedKernels } from '../../src/models/fused.js';
import type { Activation } from '../../src/models/layers.js';
import { BACKENDS, fixedTensor, fixedValues, maxAbsDiff, useBackend } from './helpers.js';

interface Case {
  label: string;
  input: [number, number, number, number];
  k: number;
  out: number;
  stride: number;
  padding: Padding;
}

// Odd and even kernels, strides that do and do not divide the input, rows the forward never reads.
const CASES: Case[] = [
  { label: '3x3 same stride 1', input: [2, 6, 5, 3], k: 3, out: 4, stride: 1, padding: 'same' },
  { label: '3x3 valid stride 1', input: [2, 6, 5, 3], k: 3, out: 4, stride: 1, padding: 'valid' },
  { label: '2x2 same stride 1 (asymmetric padding)', input: [2, 5, 6, 2], k: 2, out: 3, stride: 1, padding: 'same' },
  { label: '3x3 same stride 2', input: [2, 7, 6, 2], k: 3, out: 3, stride: 2, padding: 'same' },
  { label: '3x3 valid stride 2 (last row unread)', input: [2, 8, 7, 2], k: 3, out: 3, stride: 2, padding: 'valid' },
  { label: '4x4 same stride 3', input: [1, 8, 9, 2], k: 4, out: 2, stride: 3, padding: 'same' },
  { label: '1x1 valid stride 2', input: [2, 5, 5, 3], k: 1, out: 2, stride: 2, padding: 'valid' },
];

/** conv2d through the module, its gradients for loss Σ y·r (r fixed), as arrays; `kernels`: the wasm kernels that ran. */
function gradients(c: Case, impl: 'custom' | 'autodiff', inputGrad = true) {
  return tf.tidy(() => {
    const x = fixedTensor(c.input, 1) as tf.Tensor4D;
    const kernel = fixedTensor([c.k, c.k, c.input[3], c.out], 2) as tf.Tensor4D;
    const bias = fixedTensor([c.out], 3) as tf.Tensor1D;
    const forward = (xi: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D) =>
      impl === 'custom' ? conv2d(xi, { kernel: w, bias: b }, c.stride, c.padding, inputGrad) : tf.add(tf.conv2d(xi, w, c.stride, c.padding), b);
    const y = forward(x, kernel, bias);
    const r = fixedTensor(y.shape, 4);
    const [dx, dw, db] = tf.grads((xi: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(forward(xi as tf.Tensor4D, w as tf.Tensor4D, b as tf.Tensor1D), r)))([x, kernel, bias]);
    return { y: y.dataSync(), yShape: y.shape, dx: dx.dataSync(), dw: dw.dataSync(), db: db.dataSync() };
  });
}

describe('convGeometry', () => {
  it('gives the output sizes of tf.conv2d', async () => {
    await useBackend('cpu');
    for (const c of CASES) {
      const g = convGeometry(c.input[1], c.input[2], c.k, c.stride, c.padding);
      const y = tf.tidy(() => tf.conv2d(tf.zeros(c.input) as tf.Tensor4D, tf.zeros([c.k, c.k, c.input[3], c.out]) as tf.Tensor4D, c.stride, c.padding).shape);
      expect([g.outHeight, g.outWidth], c.label).toEqual([y[1], y[2]]);
    }
  });

  it("puts the odd pixel of 'same' padding below and right, as TensorFlow does", () => {
    expect(convGeometry(5, 6, 2, 1, 'same')).toEqual({ outHeight: 5, outWidth: 6, top: 0, bottom: 1, left: 0, right: 1 });
    expect(convGeometry(7, 6, 3, 2, 'same')).toEqual({ outHeight: 4, outWidth: 3, top: 1, bottom: 1, left: 0, right: 1 });
    expect(convGeometry(2, 2, 3, 1, 'valid').outHeight).toBe(0);
  });
});

describe('dilate', () => {
  it('inserts stride − 1 zeros between rows and columns', async () => {
    await useBackend('wasm');
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 2, 3, 1]);
    const y = dilate(x, 2);
    expect(y.shape).toEqual([1, 3, 5, 1]);
    expect([...y.dataSync()]).toEqual([1, 0, 2, 0, 3, 0, 0, 0, 0, 0, 4, 0, 5, 0, 6]);
  });
});

describe('conv2d', () => {
  it.each(CASES)('on cpu, $label: same values and gradients as tf.conv2d with tfjs autodiff', async (c) => {
    await useBackend('cpu');
    const custom = gradients(c, 'custom');
    const reference = gradients(c, 'autodiff');
    expect(custom.yShape).toEqual(reference.yShape);
    for (const key of ['y', 'dx', 'dw', 'db'] as const) expect(maxAbsDiff(custom[key], reference[key]), key).toBeLessThan(1e-4);
  });

  it.each(CASES)('on wasm (no Conv2DBackpropFilter), $label: the same gradients as cpu autodiff', async (c) => {
    await useBackend('cpu');
    const reference = gradients(c, 'autodiff');
    await useBackend('wasm');
    const custom = gradients(c, 'custom');
    for (const key of ['y', 'dx', 'dw', 'db'] as const) expect(maxAbsDiff(custom[key], reference[key]), key).toBeLessThan(1e-4);
  });

  it('with inputGrad false gives the same kernel gradient and none for the input', async () => {
    await useBackend('wasm');
    const c = CASES[3];
    const x = fixedTensor(c.input, 1) as tf.Tensor4D;
    const kernel = tf.variable(fixedTensor([c.k, c.k, c.input[3], c.out], 2), true, 'conv-test.kernel');
    const bias = tf.variable(tf.zeros([c.out]), true, 'conv-test.bias');
    const grad = (inputGrad: boolean) =>
      tf.variableGrads(() => tf.sum(tf.square(conv2d(x, { kernel, bias }, c.stride, c.padding, inputGrad))), [kernel, bias]).grads;
    const [a, b] = [grad(true), grad(false)];
    expect(maxAbsDiff(a['conv-test.kernel'].dataSync(), b['conv-test.kernel'].dataSync())).toBeLessThan(1e-5);
    expect(() => tf.grad((xi: tf.Tensor) => tf.sum(conv2d(xi as tf.Tensor4D, { kernel, bias }, 1, 'same', false)))(x)).toThrow(/Cannot compute gradient/);
    tf.dispose([kernel, bias, x]);
  });
});

describe('maxPool', () => {
  /** Values without ties: a seeded permutation of 0..n-1. */
  function distinct(shape: number[]): tf.Tensor4D {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = fixedValues(n, 7);
    const order = [...values.keys()].sort((a, b) => values[a] - values[b]);
    const out = new Float32Array(n);
    order.forEach((index, rank) => (out[index] = rank / n));
    return tf.tensor4d(out, shape as [number, number, number, number]);
  }

  function poolGradients(x: tf.Tensor4D, p: number, impl: 'custom' | 'autodiff') {
    return tf.tidy(() => {
      const f = (xi: tf.Tensor4D) => (impl === 'custom' ? maxPool(xi, p) : tf.maxPool(xi, p, p, 'valid'));
      const y = f(x);
      const r = fixedTensor([...y.shape], 8);
      const dx = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(f(xi as tf.Tensor4D), r)))(x);
      return { y: y.dataSync(), shape: y.shape, dx: dx.dataSync() };
    });
  }

  it.each(BACKENDS)('on %s: the values and gradient of tf.maxPool on cpu, trailing rows and columns dropped', async (backend) => {
    for (const [shape, p] of [[[2, 6, 8, 3], 2], [[2, 7, 5, 2], 3], [[1, 9, 9, 1], 4]] as const) {
      await useBackend('cpu');
      const reference = poolGradients(distinct([...shape]), p, 'autodiff');
      await useBackend(backend);
      const custom = poolGradients(distinct([...shape]), p, 'custom');
      expect(custom.shape).toEqual(reference.shape);
      expect(maxAbsDiff(custom.y, reference.y)).toBe(0);
      expect(maxAbsDiff(custom.dx, reference.dx)).toBeLessThan(1e-6);
    }
  });

  it('shares the gradient equally among tied maxima (a flat window passes dy on once, not four times)', async () => {
    await useBackend('wasm');
    const x = tf.tensor4d([1, 1, 2, 0, 1, 1, 2, 0], [1, 2, 4, 1]);
    const dx = tf.grad((xi: tf.Tensor) => tf.sum(maxPool(xi as tf.Tensor4D, 2)))(x);
    expect([...dx.dataSync()]).toEqual([0.25, 0.25, 0.5, 0, 0.25, 0.25, 0.5, 0]);
  });
});

/** |got − want| ≤ 1e-5 of want's largest magnitude (at least 1): float32 sums over thousands of pixels. */
function expectNear(got: ArrayLike<number>, want: ArrayLike<number>, label: string): void {
  const scale = Math.max(1, ...Array.from(want, Math.abs));
  expect(maxAbsDiff(got, want) / scale, label).toBeLessThan(1e-5);
}

/** The names of the kernels `f` runs (tf.profile). */
async function kernelsOf(f: () => void): Promise<string[]> {
  const profile = await tf.profile(() => tf.tidy(f));
  return profile.kernels.map((k) => k.name);
}

afterEach(() => setFusedKernels(Object.fromEntries(FUSED_KINDS.map((k) => [k, true]))));

describe('conv2d with the fused wasm kernels (channels in multiples of 4)', () => {
  // Patch rows of 3 floats (one channel: whole-vector copies past a segment); chunks of 64 output pixels
  // with a remainder; odd output widths; strides 2 and 3 (col2im for dx) and 1 (the rotated-kernel forward).
  const FUSED_CASES: Case[] = [
    { label: '3x3 same stride 1, 8 → 4 channels', input: [3, 9, 7, 8], k: 3, out: 4, stride: 1, padding: 'same' },
    { label: '3x3 valid stride 1, 4 → 12 channels', input: [2, 7, 9, 4], k: 3, out: 12, stride: 1, padding: 'valid' },
    { label: '2x2 same stride 1 (asymmetric padding), 4 → 8', input: [2, 5, 6, 4], k: 2, out: 8, stride: 1, padding: 'same' },
    { label: '5x5 same stride 1, 4 → 20', input: [2, 11, 10, 4], k: 5, out: 20, stride: 1, padding: 'same' },
    { label: '3x3 same stride 2, 4 → 4', input: [2, 7, 6, 4], k: 3, out: 4, stride: 2, padding: 'same' },
    { label: '3x3 valid stride 2 (last row unread), 8 → 16', input: [2, 8, 7, 8], k: 3, out: 16, stride: 2, padding: 'valid' },
    { label: '4x4 same stride 3, 4 → 8', input: [1, 8, 9, 4], k: 4, out: 8, stride: 3, padding: 'same' },
    { label: '1x1 valid stride 2, 4 → 4', input: [2, 5, 5, 4], k: 1, out: 4, stride: 2, padding: 'valid' },
    { label: '3x3 same stride 1, 16 → 32 (the CNN config\'s second layer, small batch)', input: [3, 14, 14, 16], k: 3, out: 32, stride: 1, padding: 'same' },
  ];

  it.each(FUSED_CASES)('$label: the values and gradients of tf.conv2d with cpu autodiff, through the fused kernels', async (c) => {
    await useBackend('cpu');
    const reference = gradients(c, 'autodiff');
    await useBackend('wasm');
    const custom = gradients(c, 'custom');
    expect(custom.yShape).toEqual(reference.yShape);
    for (const key of ['y', 'dx', 'dw', 'db'] as const) expectNear(custom[key], reference[key], key);
    const ran = await kernelsOf(() => void gradients(c, 'custom'));
    expect(ran).toContain('LionTrainConv2D');
    expect(ran).toContain('LionTrainConv2DKernelGrad');
    expect(ran).toContain(c.stride === 1 ? 'LionTrainConv2D' : 'LionTrainConv2DInputGrad');
    expect(ran).not.toContain('Conv2D');
    expect(ran).not.toContain('FusedConv2D');
  });

  it.each([
    { label: '3x3 same, 1 → 16 channels (the first layer: patch rows of 3 floats)', input: [5, 28, 28, 1], k: 3, out: 16, stride: 1, padding: 'same' },
    { label: '3x3 valid stride 2, 3 → 4 channels', input: [2, 9, 8, 3], k: 3, out: 4, stride: 2, padding: 'valid' },
  ] as Case[])('on the data ($label): the kernel and bias gradients of cpu autodiff, none for the input', async (c) => {
    await useBackend('cpu');
    const reference = gradients(c, 'autodiff');
    await useBackend('wasm');
    const x = fixedTensor(c.input, 1) as tf.Tensor4D;
    const kernel = fixedTensor([c.k, c.k, c.input[3], c.out], 2) as tf.Tensor4D;
    const bias = fixedTensor([c.out], 3) as tf.Tensor1D;
    const r = fixedTensor(reference.yShape, 4);
    const loss = (w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv2d(x, { kernel: w, bias: b }, c.stride, c.padding, false), r));
    const [dw, db] = tf.grads(loss)([kernel, bias]);
    expectNear(conv2d(x, { kernel, bias }, c.stride, c.padding, false).dataSync(), reference.y, 'y');
    expectNear(dw.dataSync(), reference.dw, 'dw');
    expectNear(db.dataSync(), reference.db, 'db');
    expect(await kernelsOf(() => void tf.grads(loss)([kernel, bias]))).toContain('LionTrainConv2DKernelGrad');
    tf.dispose([x, kernel, bias, r, dw, db]);
  });

  it('falls back to forward convolutions where channels are not multiples of 4, or with the kind switched off', async () => {
    await useBackend('wasm');
    const odd = CASES[0]; // 3 → 4 channels
    expect(await kernelsOf(() => void gradients(odd, 'custom'))).not.toContain('LionTrainConv2D');
    setFusedKernels({ conv: false });
    const ran = await kernelsOf(() => void gradients(FUSED_CASES[0], 'custom'));
    expect(ran).not.toContain('LionTrainConv2D');
    expect(ran).toContain('FusedConv2D');
  });
});

describe('activatedMaxPool', () => {
  /** Distinct values in [−1, 1): a seeded permutation (no ties, so cpu's tf.maxPool gradient is unambiguous). */
  function distinctSigned(shape: number[]): tf.Tensor4D {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = fixedValues(n, 11);
    const order = [...values.keys()].sort((a, b) => values[a] - values[b]);
    const out = new Float32Array(n);
    order.forEach((index, rank) => (out[index] = (2 * rank) / n - 1));
    return tf.tensor4d(out, shape as [number, number, number, number]);
  }

  function pooled(x: tf.Tensor4D, activation: Activation, p: number, impl: 'fused' | 'autodiff') {
    return tf.tidy(() => {
      const act = (t: tf.Tensor4D) => (activation === 'relu' ? tf.relu(t) : tf.tanh(t)) as tf.Tensor4D;
      const f = (xi: tf.Tensor4D) => (impl === 'fused' ? activatedMaxPool(xi, activation, p) : tf.maxPool(act(xi), p, p, 'valid'));
      const y = f(x);
      const r = fixedTensor([...y.shape], 8);
      const dx = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(f(xi as tf.Tensor4D), r)))(x);
      return { y: y.dataSync(), shape: y.shape, dx: dx.dataSync() };
    });
  }

  it.each([
    ['relu', [2, 6, 8, 4], 2],
    ['relu', [2, 7, 5, 8], 2],
    ['relu', [1, 9, 10, 4], 3],
    ['tanh', [2, 6, 6, 4], 2],
    ['tanh', [1, 8, 9, 12], 4],
  ] as [Activation, number[], number][])('%s then a %j pool of %i on wasm: the values and gradient of cpu autodiff, in one fused kernel each way', async (activation, shape, p) => {
    await useBackend('cpu');
    const reference = pooled(distinctSigned(shape), activation, p, 'autodiff');
    await useBackend('wasm');
    const fused = pooled(distinctSigned(shape), activation, p, 'fused');
    expect(fused.shape).toEqual(reference.shape);
    expect(maxAbsDiff(fused.y, reference.y)).toBeLessThan(1e-6);
    expect(maxAbsDiff(fused.dx, reference.dx)).toBeLessThan(1e-6);
    const ran = await kernelsOf(() => void pooled(distinctSigned(shape), activation, p, 'fused'));
    expect(ran).toContain('LionTrainMaxPoolGrad');
    expect(ran.includes('Relu')).toBe(false);
  });

  it('shares dy among tied maxima, and a ReLU passes none of it where x ≤ 0', async () => {
    await useBackend('wasm');
    // Channels 0-3 of each pixel: a tie of four, a tie of two, a single max, all negative.
    const pixels = [
      [1, 3, 2, -1],
      [1, 3, -5, -2],
      [1, 0, 0, -3],
      [1, 0, 0, -4],
    ];
    const x = tf.tensor4d(pixels.flat(), [1, 2, 2, 4]);
    const dx = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(activatedMaxPool(xi as tf.Tensor4D, 'relu', 2), tf.tensor1d([4, 2, 1, 8]))))(x);
    expect([...dx.dataSync()]).toEqual([1, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
    expect([...activatedMaxPool(x, 'relu', 2).dataSync()]).toEqual([1, 3, 2, 0]);
  });
});
