import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { FashionMnistDataConfig } from '../../src/config/types.generated.js';
import { FASHION_MNIST_CLASSES, fashionMnist } from '../../src/data/fashion-mnist.js';
import { dataFamily } from '../../src/data/registry.js';
import { EXIT, UserError } from '../../src/errors.js';
import { runCli, tempDir } from '../helpers/cli.js';

const dir = tempDir('lion-train-fashion-');
afterAll(() => dir.cleanup());

const config = (path: string, overrides: Partial<FashionMnistDataConfig> = {}): FashionMnistDataConfig => ({
  name: 'fashion-mnist',
  path,
  validationFraction: 0.25,
  trainExamples: null,
  augment: { cropPadding: 0, flipHorizontal: false },
  ...overrides,
});

/** An IDX file of unsigned bytes: magic 0x0000080N, N big-endian sizes, the values. */
function idx(shape: number[], values: number[]): Uint8Array {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header.writeUInt32BE(0x0800 + shape.length, 0);
  shape.forEach((size, i) => header.writeUInt32BE(size, 4 + 4 * i));
  return Buffer.concat([header, Uint8Array.from(values)]);
}

/** A stand-in for Debian's folder: 4 training and 2 test images of 28x28, pixel value = 10·label, gzipped. */
function fakeDataset(): string {
  const path = join(dir.path, 'fake');
  mkdirSync(path, { recursive: true });
  const write = (prefix: string, labels: number[]) => {
    writeFileSync(join(path, `${prefix}-images-idx3-ubyte.gz`), gzipSync(idx([labels.length, 28, 28], labels.flatMap((l) => Array(784).fill(10 * l)))));
    writeFileSync(join(path, `${prefix}-labels-idx1-ubyte.gz`), gzipSync(idx([labels.length], labels)));
  };
  write('train', [3, 1, 4, 1]);
  write('t10k', [5, 9]);
  return path;
}

describe('fashion-mnist', () => {
  it('is registered and describes 28x28x1 images', () => {
    expect(dataFamily('fashion-mnist')).toBe(fashionMnist);
    expect(fashionMnist.describe(config('/x'))).toEqual({ kind: 'image', shape: [28, 28, 1] });
  });

  it('when the folder is missing, check() and load() say how to install it (exit 2)', async () => {
    const missing = join(dir.path, 'no-such-folder');
    const message = `Fashion-MNIST not found: ${missing} does not exist; install it with: sudo apt-get install dataset-fashion-mnist (or set data.path to a folder with its IDX files)`;
    expect(fashionMnist.check(config(missing))).toEqual([{ path: 'data.path', message }]);
    const error = await fashionMnist.load(config(missing), { seed: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toBe(message);
    expect((error as UserError).exitCode).toBe(EXIT.usage);
  });

  it('names the files a folder lacks', () => {
    const empty = join(dir.path, 'empty');
    mkdirSync(empty, { recursive: true });
    expect(fashionMnist.check(config(empty))[0].message).toMatch(
      /lacks train-images-idx3-ubyte\.gz, train-labels-idx1-ubyte\.gz, t10k-images-idx3-ubyte\.gz, t10k-labels-idx1-ubyte\.gz; install it with: sudo apt-get install dataset-fashion-mnist/,
    );
  });

  it('lion-train validate reports the missing dataset at data.path with exit 2', () => {
    const missing = join(dir.path, 'no-such-folder');
    const configFile = join(dir.path, 'fashion.yaml');
    writeFileSync(configFile, `model: { name: cnn }\ndata:\n  name: fashion-mnist\n  path: ${missing}\ntrain: { steps: 1 }\n`);
    const result = runCli(['validate', configFile]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`fashion.yaml:4:9 data.path: Fashion-MNIST not found: ${missing} does not exist; install it with: sudo apt-get install dataset-fashion-mnist`);
  });

  it('reads gzipped IDX files into float32 images in [0, 1], validation from the end, test apart, class names as an artifact', async () => {
    const data = await fashionMnist.load(config(fakeDataset(), { augment: { cropPadding: 2, flipHorizontal: true } }), { seed: 1 });
    expect([data.train.size, data.validation?.size, data.test?.size]).toEqual([3, 1, 2]);
    expect(data.spec).toEqual({ kind: 'image', shape: [28, 28, 1], classes: 10 });
    const batch = data.train.gather([0, 2]);
    expect(batch.xShape).toEqual([2, 28, 28, 1]);
    expect([...batch.y]).toEqual([3, 4]);
    expect(batch.x[0]).toBeCloseTo(30 / 255, 6);
    expect([...data.validation!.gather([0]).y, ...data.test!.gather([0, 1]).y]).toEqual([1, 5, 9]);
    expect(data.augment).toBeTypeOf('function');
    expect(JSON.parse(data.artifacts!()['classes.json'])).toEqual(FASHION_MNIST_CLASSES);
  });
});
