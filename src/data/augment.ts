/**
 * Seeded augmentation of image training batches, in place: a random shift of up to `cropPadding` pixels
 * (a random crop of the image zero-padded by that much) and a left-right flip with probability 1/2.
 * Per image the draws are, in order: row shift, column shift (when cropPadding > 0), flip (when asked).
 */
import type { AugmentConfig } from '../config/types.generated.js';
import type { Rng } from '../random.js';
import type { Batch } from './dataset.js';

/** True when the config asks for any augmentation. */
export function augments(config: AugmentConfig): boolean {
  return config.cropPadding > 0 || config.flipHorizontal;
}

/**
 * Writes image `src` [h, w, c] shifted by (dy, dx) into `dst`: dst[r, col] = src[r + dy, col + dx], zero
 * where that falls outside. This is the crop at offset (pad + dy, pad + dx) of the image padded by `pad`.
 */
export function shiftImage(src: Float32Array, dst: Float32Array, height: number, width: number, channels: number, dy: number, dx: number): void {
  const rowSize = width * channels;
  const colStart = Math.max(0, -dx); // first output column with a source pixel
  const colEnd = Math.min(width, width - dx); // one past the last
  for (let r = 0; r < height; r++) {
    const out = r * rowSize;
    const sr = r + dy;
    if (sr < 0 || sr >= height || colStart >= colEnd) {
      dst.fill(0, out, out + rowSize);
      continue;
    }
    const inp = sr * rowSize + dx * channels;
    for (let k = out; k < out + colStart * channels; k++) dst[k] = 0;
    for (let k = out + colStart * channels; k < out + colEnd * channels; k++) dst[k] = src[inp + k - out];
    for (let k = out + colEnd * channels; k < out + rowSize; k++) dst[k] = 0;
  }
}

/** Mirrors image `img` [h, w, c] left-right in place. */
export function flipImage(img: Float32Array, height: number, width: number, channels: number): void {
  const rowSize = width * channels;
  for (let r = 0; r < height; r++) {
    const row = r * rowSize;
    for (let a = 0, b = width - 1; a < b; a++, b--) {
      for (let ch = 0; ch < channels; ch++) {
        const i = row + a * channels + ch;
        const j = row + b * channels + ch;
        const t = img[i];
        img[i] = img[j];
        img[j] = t;
      }
    }
  }
}

/** The augmentation of `config` for images of shape [h, w, c], or undefined when it asks for none. */
export function imageAugmenter(config: AugmentConfig, imageShape: number[]): ((batch: Batch, rng: Rng) => void) | undefined {
  if (!augments(config)) return undefined;
  const [height, width, channels] = imageShape;
  const size = height * width * channels;
  const pad = config.cropPadding;
  const scratch = new Float32Array(size);
  return (batch: Batch, rng: Rng) => {
    if (!(batch.x instanceof Float32Array)) throw new Error('image augmentation needs float32 images');
    const n = batch.xShape[0];
    for (let i = 0; i < n; i++) {
      const image = batch.x.subarray(i * size, (i + 1) * size);
      if (pad > 0) {
        const dy = rng.int(2 * pad + 1) - pad;
        const dx = rng.int(2 * pad + 1) - pad;
        if (dy !== 0 || dx !== 0) {
          scratch.set(image);
          shiftImage(scratch, image, height, width, channels, dy, dx);
        }
      }
      if (config.flipHorizontal && rng.next() < 0.5) flipImage(image, height, width, channels);
    }
  };
}
