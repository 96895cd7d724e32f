/**
 * A folder of images, one sub-folder per class (torchvision's ImageFolder layout):
 *
 *     images/cat/001.png, images/dog/002.jpg, …             (all training; validation held out)
 *     images/train/cat/…, images/test/cat/…                 (with a test split)
 *
 * Classes are the sorted class-folder names of the training folder; class id = position in that list.
 * Files ending in .png, .jpg or .jpeg (any case) are images; others and hidden files are ignored.
 * PNG is decoded by pngjs, JPEG by jpeg-js (both pure JS), converted to `channels` (grayscale: luma
 * 0.299 R + 0.587 G + 0.114 B, as PIL's "L"; RGB: alpha dropped), resized to `size` with bilinear
 * interpolation (half-pixel centres, tf.image.resizeBilinear) and rounded to bytes; a batch gives
 * float32 [batch, h, w, channels] in [0, 1].
 * Every image is decoded once at load (so a bad file stops the run before training, naming the file);
 * the first `cacheMegabytes` of decoded images stay in memory, the rest are read again when a batch needs them.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { InputFileError, readInputFile } from '../files/input-file.js';
import { extname, join, relative } from 'node:path';
import * as tf from '../tf.js';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { ImageFolderDataConfig } from '../config/types.generated.js';
import { EXIT, UserError } from '../errors.js';
import type { InputKind, SpecIssue } from '../models/model.js';
import { Rng } from '../random.js';
import type { Batch, DataFamily, Dataset, Split } from './dataset.js';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

interface Layout {
  classes: string[];
  train: string;
  test?: string;
}

function layoutOf(root: string): Layout {
  const split = existsSync(join(root, 'train')) && statSync(join(root, 'train')).isDirectory();
  const train = split ? join(root, 'train') : root;
  const test = split && existsSync(join(root, 'test')) ? join(root, 'test') : undefined;
  return { classes: classFolders(train), train, test };
}

function classFolders(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

function imageFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.isDirectory() && !e.name.startsWith('.') && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase()))
    .map((e) => join(dir, e.name))
    .sort();
}

/** Decoded pixels, RGBA bytes row by row. */
interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

function decode(file: string): Rgba {
  // A FIFO or device named like an image is refused, never read; no image file is larger than this.
  const bytes = readInputFile(file, { what: 'an image', maxBytes: 256 * 1024 * 1024 });
  // By content, not by name: a .jpg that is really a PNG still decodes.
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47) {
    const png = PNG.sync.read(bytes);
    return { width: png.width, height: png.height, data: png.data };
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
    return { width: image.width, height: image.height, data: image.data };
  }
  throw new Error('not a PNG or JPEG file');
}

/** RGBA → `channels` → bilinear resize to [h, w] → bytes [h·w·channels]. */
export function toExample(image: Rgba, channels: 1 | 3, size: readonly [number, number]): Uint8Array {
  const pixels = image.width * image.height;
  const converted = new Float32Array(pixels * channels);
  for (let i = 0; i < pixels; i++) {
    const [r, g, b] = [image.data[4 * i], image.data[4 * i + 1], image.data[4 * i + 2]];
    if (channels === 1) converted[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    else converted.set([r, g, b], 3 * i);
  }
  const resized = tf.tidy(() => tf.image.resizeBilinear(tf.tensor3d(converted, [image.height, image.width, channels]), [size[0], size[1]], false, true).dataSync());
  const out = new Uint8Array(resized.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(resized[i])));
  return out;
}

/** Images of one split: some decoded in memory, the rest read again on demand. */
class ImageSplit implements Split {
  readonly size: number;

  constructor(
    private readonly files: string[],
    private readonly labels: Int32Array,
    private readonly cached: (Uint8Array | undefined)[],
    private readonly example: (file: string) => Uint8Array,
    private readonly shape: number[],
  ) {
    this.size = files.length;
  }

  gather(indices: ArrayLike<number>): Batch {
    const n = indices.length;
    const size = this.shape[0] * this.shape[1] * this.shape[2];
    const x = new Float32Array(n * size);
    const y = new Int32Array(n);
    for (let j = 0; j < n; j++) {
      const i = indices[j];
      if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`example index ${i} is outside [0, ${this.size})`);
      const bytes = this.cached[i] ?? this.example(this.files[i]);
      for (let k = 0; k < size; k++) x[j * size + k] = bytes[k] / 255;
      y[j] = this.labels[i];
    }
    return { x, xShape: [n, ...this.shape], y, yShape: [n] };
  }
}

export const imageFolder: DataFamily<ImageFolderDataConfig> = {
  name: 'image-folder',

  describe(config: ImageFolderDataConfig): InputKind {
    return { kind: 'image', shape: [config.size[0], config.size[1], config.channels] };
  },

  check(config: ImageFolderDataConfig): SpecIssue[] {
    if (!existsSync(config.path) || !statSync(config.path).isDirectory()) return [{ path: 'data.path', message: `no such folder: ${config.path}` }];
    const layout = layoutOf(config.path);
    if (layout.classes.length < 2) {
      return [{ path: 'data.path', message: `${layout.train} needs one folder per class (at least 2), found ${layout.classes.length === 0 ? 'none' : layout.classes.join(', ')}` }];
    }
    const issues: SpecIssue[] = [];
    for (const name of layout.classes) {
      if (imageFiles(join(layout.train, name)).length === 0) issues.push({ path: 'data.path', message: `class folder ${join(layout.train, name)} has no images (.png, .jpg, .jpeg)` });
    }
    if (layout.test) {
      const extra = classFolders(layout.test).filter((c) => !layout.classes.includes(c));
      if (extra.length > 0) issues.push({ path: 'data.path', message: `${layout.test} has classes the training folder lacks: ${extra.join(', ')}` });
    }
    return issues;
  },

  async load(config: ImageFolderDataConfig): Promise<Dataset> {
    const issues = imageFolder.check(config);
    if (issues.length > 0) throw new UserError(issues.map((i) => `${i.path}: ${i.message}`).join('; '), EXIT.usage);
    const layout = layoutOf(config.path);
    const size = [config.size[0], config.size[1]] as const;
    const channels = config.channels as 1 | 3;
    const shape = [size[0], size[1], channels];
    const exampleBytes = size[0] * size[1] * channels;
    let budget = Math.floor((config.cacheMegabytes * 1024 * 1024) / exampleBytes);
    const example = (file: string): Uint8Array => {
      try {
        return toExample(decode(file), channels, size);
      } catch (error) {
        if (error instanceof InputFileError) throw error;
        throw new UserError(`${relative(process.cwd(), file) || file}: unreadable image: ${(error as Error).message.split('\n')[0]} (data.skipUnreadable: true skips such files)`, EXIT.failed);
      }
    };

    // Every image is decoded once now: bad files are found before training, and the first ones are cached.
    const read = (dir: string) => {
      const files: string[] = [];
      const labels: number[] = [];
      const cached: (Uint8Array | undefined)[] = [];
      layout.classes.forEach((name, label) => {
        const folder = join(dir, name);
        if (!existsSync(folder)) return;
        for (const file of imageFiles(folder)) {
          let bytes: Uint8Array;
          try {
            bytes = example(file);
          } catch (error) {
            if (config.skipUnreadable) continue;
            throw error;
          }
          files.push(file);
          labels.push(label);
          cached.push(budget-- > 0 ? bytes : undefined);
        }
      });
      return { files, labels: Int32Array.from(labels), cached };
    };

    const all = read(layout.train);
    if (all.files.length === 0) throw new UserError(`data.path: no readable images in ${layout.train}`, EXIT.failed);
    const order = Rng.derive(config.splitSeed, 'image-folder', 'validation').permutation(all.files.length);
    const validationCount = Math.round(all.files.length * config.validationFraction);
    const pick = (indices: ArrayLike<number>) => {
      const list = Array.from(indices);
      return new ImageSplit(list.map((i) => all.files[i]), Int32Array.from(list, (i) => all.labels[i]), list.map((i) => all.cached[i]), example, shape);
    };
    // Training keeps the files' order (the sampler shuffles); validation is a seeded random subset.
    const held = new Set(Array.from(order.subarray(0, validationCount)));
    const trainIndices = Array.from({ length: all.files.length }, (_, i) => i).filter((i) => !held.has(i));
    const dataset: { -readonly [K in keyof Dataset]: Dataset[K] } = {
      spec: { kind: 'image', shape, classes: layout.classes.length },
      train: pick(trainIndices),
    };
    if (validationCount > 0) dataset.validation = pick([...held].sort((a, b) => a - b));
    if (layout.test) {
      const test = read(layout.test);
      if (test.files.length > 0) dataset.test = new ImageSplit(test.files, test.labels, test.cached, example, shape);
    }
    return dataset;
  },
};
