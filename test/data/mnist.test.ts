import { describe, expect, it } from 'vitest';
import type { MnistDataConfig } from '../../src/config/types.generated.js';
import { mnist } from '../../src/data/mnist.js';
import { dataFamily } from '../../src/data/registry.js';

const config = (overrides: Partial<MnistDataConfig> = {}): MnistDataConfig => ({
  name: 'mnist',
  validationFraction: 0.05,
  trainExamples: null,
  augment: { cropPadding: 0, flipHorizontal: false },
  ...overrides,
});

describe('mnist', () => {
  it('is registered and describes 28x28x1 images', () => {
    expect(dataFamily('mnist')).toBe(mnist);
    expect(mnist.describe(config())).toEqual({ kind: 'image', shape: [28, 28, 1] });
    expect(mnist.check(config())).toEqual([]);
  });

  it('splits 60,000 training images into train and validation, and keeps the 10,000 test images', async () => {
    const data = await mnist.load(config(), { seed: 1 });
    expect([data.train.size, data.validation?.size, data.test?.size]).toEqual([57000, 3000, 10000]);
    expect(data.spec).toEqual({ kind: 'image', shape: [28, 28, 1], classes: 10 });
    const tenth = await mnist.load(config({ validationFraction: 0.1 }), { seed: 1 });
    expect([tenth.train.size, tenth.validation?.size]).toEqual([54000, 6000]);
    const none = await mnist.load(config({ validationFraction: 0 }), { seed: 1 });
    expect([none.train.size, none.validation]).toEqual([60000, undefined]);
  });

  it('caps the training split at trainExamples without moving validation', async () => {
    const capped = await mnist.load(config({ trainExamples: 1000 }), { seed: 1 });
    const full = await mnist.load(config(), { seed: 1 });
    expect([capped.train.size, capped.validation?.size]).toEqual([1000, 3000]);
    expect(capped.validation!.gather([0, 2999])).toEqual(full.validation!.gather([0, 2999]));
  });

  it('holds out the last images of the training file, the same on every load', async () => {
    const data = await mnist.load(config(), { seed: 1 });
    const whole = await mnist.load(config({ validationFraction: 0 }), { seed: 2 });
    expect(data.validation!.gather([0, 1234])).toEqual(whole.train.gather([57000, 58234]));
    expect(data.train.gather([5, 56999])).toEqual(whole.train.gather([5, 56999]));
  });

  it('gives float32 images in [0, 1] and int32 labels 0..9, as in the files', async () => {
    const data = await mnist.load(config(), { seed: 1 });
    const indices = Array.from({ length: 500 }, (_, i) => i * 19);
    const batch = data.train.gather(indices);
    expect(batch.x).toBeInstanceOf(Float32Array);
    expect(batch.xShape).toEqual([500, 28, 28, 1]);
    expect(batch.y).toBeInstanceOf(Int32Array);
    expect(batch.yShape).toEqual([500]);
    let [min, max] = [Infinity, -Infinity];
    for (const v of batch.x) [min, max] = [Math.min(min, v), Math.max(max, v)];
    expect([min, max]).toEqual([0, 1]);
    expect(new Set(batch.y)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    // The well-known first labels of the training and test files.
    expect([...data.train.gather([0, 1, 2, 3, 4]).y]).toEqual([5, 0, 4, 1, 9]);
    expect([...data.test!.gather([0, 1, 2, 3, 4]).y]).toEqual([7, 2, 1, 0, 4]);
  });

  it('augments training batches only when the config asks', async () => {
    expect((await mnist.load(config(), { seed: 1 })).augment).toBeUndefined();
    expect((await mnist.load(config({ augment: { cropPadding: 2, flipHorizontal: false } }), { seed: 1 })).augment).toBeTypeOf('function');
  });
});
