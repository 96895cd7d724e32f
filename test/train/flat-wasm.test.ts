import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterEach, describe, expect, it } from 'vitest';
import { layerKernelsRun } from '../../src/models/fused.js';
import { packFlat, sumDivided, unpackFlat } from '../../src/train/workers/flat-wasm.js';
import { readFlat, sharedFloats, writeFlat, type ParamLayout } from '../../src/train/workers/layout.js';
import { fixedValues, useBackend } from '../models/helpers.js';

/** A layout of odd sizes (a scalar, a vector of 7, matrices whose sizes are not multiples of 4). */
const SHAPES = [[], [7], [3, 5], [64, 64], [2, 3, 5], [1]];
const layout: ParamLayout = (() => {
  const offsets: number[] = [];
  let total = 0;
  for (const shape of SHAPES) {
    offsets.push(total);
    total += shape.reduce((a, b) => a * b, 1);
  }
  return { names: SHAPES.map((_, i) => `p${i}`), shapes: SHAPES, offsets, total };
})();

const tensorsOf = (seed: number) => Object.fromEntries(layout.names.map((name, i) => [name, tf.tensor(fixedValues(layout.shapes[i].reduce((a, b) => a * b, 1), seed + i), layout.shapes[i])]));

/** Values that stress float32 sums and quotients: tiny, huge, subnormal, negative zero, mixed signs. */
function awkward(n: number, seed: number): Float32Array {
  const base = fixedValues(n, seed);
  const special = [1e-38, -1e-38, 1e-45, 3e38, -3e38, -0, 0.1, 1 / 3];
  return base.map((v, i) => (i % 5 === 0 ? special[i % special.length] : v * 10 ** ((i % 13) - 6)));
}

afterEach(() => tf.disposeVariables());

describe('flat copies and averages as wasm kernels (the two-thread step)', () => {
  it('run on wasm only', async () => {
    await useBackend('wasm');
    expect(layerKernelsRun()).toBe(true);
    await useBackend('cpu');
    expect(layerKernelsRun()).toBe(false);
  });

  it('pack and unpack are exact copies, in the layout order; writeFlat and readFlat give what they give on cpu', async () => {
    await useBackend('wasm');
    const tensors = tensorsOf(3);
    const packed = packFlat((name) => tensors[name], layout);
    const want = new Float32Array(layout.total);
    layout.names.forEach((name, i) => want.set(tensors[name].dataSync() as Float32Array, layout.offsets[i]));
    expect(packed.shape).toEqual([layout.total]);
    expect(packed.dataSync()).toEqual(want);
    const back = unpackFlat(packed, layout);
    layout.names.forEach((name, i) => {
      expect(back[name].shape).toEqual(layout.shapes[i]);
      expect(back[name].dataSync()).toEqual(tensors[name].dataSync());
    });

    const slot = sharedFloats(layout, 2).subarray(layout.total); // the second slot of a shared buffer
    writeFlat(tensors, layout, slot);
    expect(slot).toEqual(want);
    const read = readFlat(layout, slot);
    slot.fill(7); // the tensors read keep their own copy
    layout.names.forEach((name) => expect(read[name].dataSync()).toEqual(tensors[name].dataSync()));

    await useBackend('cpu');
    const onCpu = new Float32Array(layout.total);
    writeFlat(tensorsOf(3), layout, onCpu);
    expect(onCpu).toEqual(want);
  });

  it.each([1, 2, 3, 7])('sums and divides by %i as tf.add then tf.div do, bit for bit', async (divisor) => {
    for (const n of [1, 6, 4099]) {
      const a = awkward(n, 1);
      const b = awkward(n, 2);
      await useBackend('cpu');
      const want = tf.tidy(() => tf.div(tf.add(tf.tensor1d(a), tf.tensor1d(b)), divisor).dataSync() as Float32Array);
      await useBackend('wasm');
      const got = tf.tidy(() => sumDivided(tf.tensor1d(a), tf.tensor1d(b), divisor).dataSync() as Float32Array);
      expect(got).toEqual(want);
    }
  });
});
