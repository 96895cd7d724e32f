import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { conv2d, convGeometry, dilate, maxPool, type Padding } from '../../src/models/conv.js';
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

/** conv2d through the module, its gradients for loss Σ y·r (r fixed), as arrays. */
function gradients(c: Case, impl: 'custom' | 'autodiff') {
  return tf.tidy(() => {
    const x = fixedTensor(c.input, 1) as tf.Tensor4D;
    const kernel = fixedTensor([c.k, c.k, c.input[3], c.out], 2) as tf.Tensor4D;
    const bias = fixedTensor([c.out], 3) as tf.Tensor1D;
    const forward = (xi: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D) =>
      impl === 'custom' ? conv2d(xi, { kernel: w, bias: b }, c.stride, c.padding) : tf.add(tf.conv2d(xi, w, c.stride, c.padding), b);
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
