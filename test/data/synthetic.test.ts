import { describe, expect, it } from 'vitest';
import type { SyntheticDataConfig } from '../../src/config/types.generated.js';
import type { Split } from '../../src/data/dataset.js';
import { dataFamily } from '../../src/data/registry.js';
import { synthetic } from '../../src/data/synthetic.js';

const config = (overrides: Partial<SyntheticDataConfig> = {}): SyntheticDataConfig => ({
  name: 'synthetic',
  inputShape: [16],
  classes: 4,
  trainExamples: 400,
  testExamples: 200,
  noise: 1,
  seed: 1234,
  validationFraction: 0.1,
  augment: { cropPadding: 0, flipHorizontal: false },
  ...overrides,
});

const all = (split: Split) => split.gather(Array.from({ length: split.size }, (_, i) => i));

describe('synthetic data', () => {
  it('is registered under its name', () => {
    expect(dataFamily('synthetic')).toBe(synthetic);
  });

  it('describes vectors and images from inputShape', () => {
    expect(synthetic.describe(config())).toEqual({ kind: 'vector', shape: [16] });
    expect(synthetic.describe(config({ inputShape: [8, 6] }))).toEqual({ kind: 'image', shape: [8, 6, 1] });
    expect(synthetic.describe(config({ inputShape: [8, 6, 3] }))).toEqual({ kind: 'image', shape: [8, 6, 3] });
  });

  it('refuses augmentation of vectors', () => {
    expect(synthetic.check(config({ augment: { cropPadding: 2, flipHorizontal: false } }))).toEqual([
      { path: 'data.augment', message: 'needs image input ([height, width] or [height, width, channels]), inputShape is [16]' },
    ]);
    expect(synthetic.check(config({ inputShape: [8, 8], augment: { cropPadding: 2, flipHorizontal: true } }))).toEqual([]);
  });

  it('holds out the last validationFraction of the training examples', async () => {
    const data = await synthetic.load(config(), { seed: 1 });
    expect([data.train.size, data.validation?.size, data.test?.size]).toEqual([360, 40, 200]);
    expect(data.spec).toEqual({ kind: 'vector', shape: [16], classes: 4 });
    const noValidation = await synthetic.load(config({ validationFraction: 0 }), { seed: 1 });
    expect(noValidation.validation).toBeUndefined();
    expect(noValidation.train.gather([360])).toEqual(data.validation!.gather([0]));
  });

  it('is the same for the same seed and different for another', async () => {
    const [a, b, c] = await Promise.all([synthetic.load(config(), { seed: 1 }), synthetic.load(config(), { seed: 2 }), synthetic.load(config({ seed: 99 }), { seed: 1 })]);
    expect(all(a.train)).toEqual(all(b.train));
    expect(all(a.test!)).toEqual(all(b.test!));
    expect(all(a.train).x).not.toEqual(all(c.train).x);
  });

  it('gives float32 examples and int32 labels covering every class', async () => {
    const batch = all((await synthetic.load(config(), { seed: 1 })).train);
    expect(batch.x).toBeInstanceOf(Float32Array);
    expect(batch.y).toBeInstanceOf(Int32Array);
    expect(batch.xShape).toEqual([360, 16]);
    expect(new Set(batch.y)).toEqual(new Set([0, 1, 2, 3]));
  });

  it('is learnable: nearest class mean on the training split classifies the test split', async () => {
    const data = await synthetic.load(config(), { seed: 1 });
    const train = all(data.train);
    const test = all(data.test!);
    const d = 16;
    const means = new Float64Array(4 * d);
    const counts = new Float64Array(4);
    train.y.forEach((label, i) => {
      counts[label]++;
      for (let k = 0; k < d; k++) means[label * d + k] += train.x[i * d + k];
    });
    for (let c = 0; c < 4; c++) for (let k = 0; k < d; k++) means[c * d + k] /= counts[c];
    let correct = 0;
    test.y.forEach((label, i) => {
      let best = -1;
      let bestDistance = Infinity;
      for (let c = 0; c < 4; c++) {
        let distance = 0;
        for (let k = 0; k < d; k++) distance += (test.x[i * d + k] - means[c * d + k]) ** 2;
        if (distance < bestDistance) [best, bestDistance] = [c, distance];
      }
      if (best === label) correct++;
    });
    expect(correct / test.y.length).toBeGreaterThan(0.9);
  });

  it('offers seeded augmentation for image shapes only when asked', async () => {
    expect((await synthetic.load(config({ inputShape: [8, 8] }), { seed: 1 })).augment).toBeUndefined();
    expect((await synthetic.load(config({ inputShape: [8, 8], augment: { cropPadding: 1, flipHorizontal: false } }), { seed: 1 })).augment).toBeTypeOf('function');
  });
});
