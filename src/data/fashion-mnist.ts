/**
 * Fashion-MNIST (Xiao et al. 2017) from Debian's package dataset-fashion-mnist: four gzipped IDX files in
 * `data.path` (default /usr/share/datasets/fashion-mnist), the same layout and sizes as MNIST (60,000 train +
 * 10,000 test images, 28x28x1, 10 classes). Read with the IDX reader and split like mnist.ts: validation =
 * the last `validationFraction` of the training file, `trainExamples` caps the training split, images come out
 * as float32 in [0, 1]. Cached per folder in the process.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FashionMnistDataConfig } from '../config/types.generated.js';
import { EXIT, UserError } from '../errors.js';
import type { InputKind, SpecIssue } from '../models/model.js';
import type { DataFamily, Dataset } from './dataset.js';
import { imageAugmenter } from './augment.js';
import { holdOut, inMemoryDataset, type ExampleArrays } from './in-memory.js';
import { MNIST_SHAPE, readMnistFormat } from './mnist.js';

export const FASHION_MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

/** Class names by label id, from the dataset's README. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

const INSTALL = 'sudo apt-get install dataset-fashion-mnist';

/** The file for `name` in `dir`: gzipped (as Debian ships it) or not; undefined when neither exists. */
function findFile(dir: string, name: string): string | undefined {
  return [`${name}.gz`, name].map((f) => join(dir, f)).find((path) => existsSync(path));
}

/** Why the files cannot be read, with the command that installs them; undefined when they are all there. */
function missingMessage(dir: string): string | undefined {
  if (!existsSync(dir)) return `Fashion-MNIST not found: ${dir} does not exist; install it with: ${INSTALL} (or set data.path to a folder with its IDX files)`;
  const missing = FASHION_MNIST_FILES.filter((name) => !findFile(dir, name));
  if (missing.length === 0) return undefined;
  return `Fashion-MNIST not found: ${dir} lacks ${missing.map((m) => `${m}.gz`).join(', ')}; install it with: ${INSTALL} (or set data.path to a folder with its IDX files)`;
}

const cache = new Map<string, Promise<{ train: ExampleArrays; test: ExampleArrays }>>();

function fashionArrays(dir: string): Promise<{ train: ExampleArrays; test: ExampleArrays }> {
  let arrays = cache.get(dir);
  if (!arrays) {
    arrays = readFashion(dir);
    cache.set(dir, arrays);
    arrays.catch(() => cache.delete(dir)); // a failed read may be retried
  }
  return arrays;
}

function readFashion(dir: string): Promise<{ train: ExampleArrays; test: ExampleArrays }> {
  return readMnistFormat(dir, (name) => findFile(dir, name)!);
}

export const fashionMnist: DataFamily<FashionMnistDataConfig> = {
  name: 'fashion-mnist',

  describe(): InputKind {
    return { kind: 'image', shape: MNIST_SHAPE };
  },

  /** 60,000 training images, held out as mnist.ts does; the 10,000 test images always. */
  splits(config: FashionMnistDataConfig) {
    return { validation: holdOut(60_000, config.validationFraction).validation > 0, test: true };
  },

  check(config: FashionMnistDataConfig): SpecIssue[] {
    const message = missingMessage(resolve(config.path));
    return message ? [{ path: 'data.path', message }] : [];
  },

  async load(config: FashionMnistDataConfig): Promise<Dataset> {
    const dir = resolve(config.path);
    const message = missingMessage(dir);
    if (message) throw new UserError(message, EXIT.usage);
    const { train, test } = await fashionArrays(dir);
    const dataset = inMemoryDataset({
      spec: { kind: 'image', shape: MNIST_SHAPE, classes: 10 },
      train,
      test,
      validationFraction: config.validationFraction,
      trainExamples: config.trainExamples,
      augment: imageAugmenter(config.augment, MNIST_SHAPE),
    });
    return { ...dataset, artifacts: () => ({ 'classes.json': `${JSON.stringify(FASHION_MNIST_CLASSES, null, 2)}\n` }) };
  },
};
