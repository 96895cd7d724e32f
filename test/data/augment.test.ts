import { describe, expect, it } from 'vitest';
import { flipImage, imageAugmenter, shiftImage } from '../../src/data/augment.js';
import type { Batch } from '../../src/data/dataset.js';
import { Rng } from '../../src/random.js';

/** A batch of n images [h, w, c] whose pixel values are 1 + their flat index within the image. */
function numberedBatch(n: number, h: number, w: number, c: number): Batch {
  const size = h * w * c;
  const x = new Float32Array(n * size);
  for (let i = 0; i < x.length; i++) x[i] = 1 + (i % size);
  return { x, xShape: [n, h, w, c], y: new Int32Array(n), yShape: [n] };
}

describe('image augmentation', () => {
  it('shifts with zero padding: a crop of the padded image', () => {
    const image = new Float32Array([
      1, 2, 3, 4, //
      5, 6, 7, 8, //
      9, 10, 11, 12, //
      13, 14, 15, 16,
    ]);
    const out = new Float32Array(16);
    shiftImage(image, out, 4, 4, 1, 1, -2); // out[r][c] = in[r + 1][c − 2]
    expect([...out]).toEqual([
      0, 0, 5, 6, //
      0, 0, 9, 10, //
      0, 0, 13, 14, //
      0, 0, 0, 0,
    ]);
    shiftImage(image, out, 4, 4, 1, -1, 1); // out[r][c] = in[r − 1][c + 1]
    expect([...out]).toEqual([
      0, 0, 0, 0, //
      2, 3, 4, 0, //
      6, 7, 8, 0, //
      10, 11, 12, 0,
    ]);
  });

  it('shifts whole pixels of multi-channel images', () => {
    const image = new Float32Array([1, -1, 2, -2, 3, -3, 4, -4]); // [2, 2, 2]
    const out = new Float32Array(8);
    shiftImage(image, out, 2, 2, 2, 0, 1);
    expect([...out]).toEqual([2, -2, 0, 0, 4, -4, 0, 0]);
  });

  it('flips left-right, keeping channels together', () => {
    const image = new Float32Array([1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6]); // [2, 3, 2]
    flipImage(image, 2, 3, 2);
    expect([...image]).toEqual([3, -3, 2, -2, 1, -1, 6, -6, 5, -5, 4, -4]);
  });

  it('asks for nothing when the config asks for nothing', () => {
    expect(imageAugmenter({ cropPadding: 0, flipHorizontal: false }, [28, 28, 1])).toBeUndefined();
  });

  it('is deterministic for a given Rng state and varies with it', () => {
    const augment = imageAugmenter({ cropPadding: 2, flipHorizontal: true }, [6, 6, 2])!;
    const state = Rng.derive(1, 'augment', 3).state();
    const run = (rng: Rng) => {
      const batch = numberedBatch(20, 6, 6, 2);
      augment(batch, rng);
      return batch.x;
    };
    expect(run(Rng.fromState(state))).toEqual(run(Rng.fromState(state)));
    expect(run(Rng.fromState(state))).not.toEqual(run(Rng.derive(1, 'augment', 4)));
  });

  it('moves each image by at most cropPadding pixels and flips about half of them', () => {
    const [h, w, pad, n] = [5, 7, 2, 400];
    const original = numberedBatch(1, h, w, 1).x as Float32Array;
    const batch = numberedBatch(n, h, w, 1);
    imageAugmenter({ cropPadding: pad, flipHorizontal: true }, [h, w, 1])!(batch, Rng.derive(2, 'augment'));
    const seenShifts = new Set<string>();
    let flipped = 0;
    for (let i = 0; i < n; i++) {
      const image = batch.x.subarray(i * h * w, (i + 1) * h * w);
      const match: string[] = [];
      for (const flip of [false, true]) {
        for (let dy = -pad; dy <= pad; dy++) {
          for (let dx = -pad; dx <= pad; dx++) {
            const expected = new Float32Array(h * w);
            shiftImage(original, expected, h, w, 1, dy, dx);
            if (flip) flipImage(expected, h, w, 1);
            if (expected.every((v, k) => v === image[k])) match.push(`${flip} ${dy} ${dx}`);
          }
        }
      }
      expect(match.length, `image ${i}`).toBeGreaterThan(0);
      seenShifts.add(match[0].split(' ').slice(1).join(' '));
      if (match[0].startsWith('true')) flipped++;
    }
    expect(seenShifts.size).toBe((2 * pad + 1) ** 2);
    expect(flipped / n).toBeGreaterThan(0.4);
    expect(flipped / n).toBeLessThan(0.6);
  });
});
