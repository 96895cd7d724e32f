import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import type { ImageFolderDataConfig } from '../../src/config/types.generated.js';
import { imageFolder } from '../../src/data/image-folder.js';
import { hasStackTrace, runCli, runCliAsync, tempDir } from '../helpers/cli.js';

const work = tempDir('lion-train-images-');
afterAll(() => work.cleanup());

type Rgba = [number, number, number, number];

function rgba(width: number, height: number, pixel: (x: number, y: number) => Rgba): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(pixel(x, y), 4 * (y * width + x));
  return data;
}

/** A PNG of one colour; colorType 0 grayscale, 2 RGB, 6 RGBA. */
function png(file: string, width: number, height: number, pixel: (x: number, y: number) => Rgba, colorType: 0 | 2 | 6 = 6): void {
  const image = new PNG({ width, height });
  image.data = rgba(width, height, pixel);
  writeFileSync(file, PNG.sync.write(image, { colorType }));
}

function jpg(file: string, width: number, height: number, colour: Rgba): void {
  writeFileSync(file, jpeg.encode({ data: rgba(width, height, () => colour), width, height }, 100).data);
}

function folder(name: string, files: Record<string, (path: string) => void>): string {
  const root = join(work.path, name);
  for (const [file, write] of Object.entries(files)) {
    mkdirSync(join(root, file, '..'), { recursive: true });
    write(join(root, file));
  }
  return root;
}

function config(path: string, patch: Partial<ImageFolderDataConfig> = {}): ImageFolderDataConfig {
  return { name: 'image-folder', path, size: [4, 4], channels: 3, validationFraction: 0, splitSeed: 0, cacheMegabytes: 1024, skipUnreadable: false, ...patch };
}

const RED: Rgba = [200, 30, 10, 255];
const GRAY: Rgba = [90, 90, 90, 255];
const BLUE_HALF_ALPHA: Rgba = [20, 40, 250, 128];

describe('image-folder data', () => {
  const mixed = folder('mixed', {
    'blue/a.png': (f) => png(f, 7, 5, () => BLUE_HALF_ALPHA, 6),
    'gray/b.png': (f) => png(f, 3, 9, () => GRAY, 0),
    'red/c.JPG': (f) => jpg(f, 16, 16, RED),
    'red/d.png': (f) => png(f, 8, 8, () => RED, 2),
    'red/notes.txt': (f) => writeFileSync(f, 'not an image'),
  });

  it('reads grayscale, RGB and RGBA PNGs and JPEGs as RGB, labelled by sorted class folder', async () => {
    const dataset = await imageFolder.load(config(mixed), { seed: 0 });
    expect(dataset.spec).toEqual({ kind: 'image', shape: [4, 4, 3], classes: 3 });
    expect(dataset.train.size).toBe(4);
    const batch = dataset.train.gather([0, 1, 2, 3]);
    expect(batch.xShape).toEqual([4, 4, 4, 3]);
    expect([...batch.y]).toEqual([0, 1, 2, 2]); // blue, gray, red, red
    const pixel = (i: number) => [...batch.x.subarray(i * 48, i * 48 + 3)].map((v) => Math.round(v * 255));
    expect(pixel(0)).toEqual([20, 40, 250]); // alpha dropped
    expect(pixel(1)).toEqual([90, 90, 90]); // grayscale → RGB
    pixel(2).forEach((v, c) => expect(Math.abs(v - RED[c])).toBeLessThanOrEqual(2)); // JPEG quality 100
    expect(pixel(3)).toEqual([200, 30, 10]);
  });

  it('converts to one channel with the ITU-R 601 luma', async () => {
    const dataset = await imageFolder.load(config(mixed, { channels: 1 }), { seed: 0 });
    const batch = dataset.train.gather([0, 3]);
    expect(batch.xShape).toEqual([2, 4, 4, 1]);
    expect(Math.round(batch.x[0] * 255)).toBe(Math.round(0.299 * 20 + 0.587 * 40 + 0.114 * 250));
    expect(Math.round(batch.x[16] * 255)).toBe(Math.round(0.299 * 200 + 0.587 * 30 + 0.114 * 10));
  });

  it('resizes bilinearly with half-pixel centres', async () => {
    const row = [0, 100, 200, 255];
    const root = folder('ramp', {
      'a/ramp.png': (f) => png(f, 4, 1, (x) => [row[x], row[x], row[x], 255], 0),
      'b/flat.png': (f) => png(f, 4, 1, () => GRAY, 0),
    });
    const dataset = await imageFolder.load(config(root, { size: [1, 2], channels: 1 }), { seed: 0 });
    const x = dataset.train.gather([0]).x;
    // Output pixel centres fall on source x = 0.5 and 2.5: (0 + 100) / 2 and (200 + 255) / 2.
    expect([...x].map((v) => Math.round(v * 255))).toEqual([50, 228]);
  });

  it('gives the same examples from memory and streamed from disk', async () => {
    const cached = await imageFolder.load(config(mixed), { seed: 0 });
    const streamed = await imageFolder.load(config(mixed, { cacheMegabytes: 0 }), { seed: 0 });
    expect(streamed.train.gather([3, 0, 2]).x).toEqual(cached.train.gather([3, 0, 2]).x);
  });

  it('uses train/ and test/ folders, and holds out a seeded validation subset', async () => {
    const files: Record<string, (path: string) => void> = {};
    for (let i = 0; i < 10; i++) {
      files[`train/cat/${i}.png`] = (f) => png(f, 2, 2, () => [i, 0, 0, 255]);
      files[`train/dog/${i}.png`] = (f) => png(f, 2, 2, () => [0, i, 0, 255]);
    }
    files['test/dog/t.png'] = (f) => png(f, 2, 2, () => GRAY);
    const root = folder('split', files);
    const dataset = await imageFolder.load(config(root, { validationFraction: 0.25 }), { seed: 0 });
    expect([dataset.train.size, dataset.validation!.size, dataset.test!.size]).toEqual([15, 5, 1]);
    expect([...dataset.test!.gather([0]).y]).toEqual([1]);
    const again = await imageFolder.load(config(root, { validationFraction: 0.25 }), { seed: 0 });
    expect(again.validation!.gather([0, 1, 2, 3, 4])).toEqual(dataset.validation!.gather([0, 1, 2, 3, 4]));
    const other = await imageFolder.load(config(root, { validationFraction: 0.25, splitSeed: 1 }), { seed: 0 });
    expect(other.validation!.gather([0, 1, 2, 3, 4]).x).not.toEqual(dataset.validation!.gather([0, 1, 2, 3, 4]).x);
  });

  it('stops at a corrupt image naming the file, or skips it with skipUnreadable', async () => {
    const root = folder('corrupt', {
      'a/good.png': (f) => png(f, 2, 2, () => RED),
      'a/broken.png': (f) => writeFileSync(f, Buffer.concat([PNG.sync.write(Object.assign(new PNG({ width: 2, height: 2 }), { data: rgba(2, 2, () => RED) })).subarray(0, 40)])),
      'b/fake.jpg': (f) => writeFileSync(f, 'GIF89a not really'),
      'b/good.jpg': (f) => jpg(f, 2, 2, GRAY),
    });
    await expect(imageFolder.load(config(root), { seed: 0 })).rejects.toThrow(/corrupt\/a\/broken\.png: unreadable image: .*\(data\.skipUnreadable: true skips such files\)/);
    const skipped = await imageFolder.load(config(root, { skipUnreadable: true }), { seed: 0 });
    expect(skipped.train.size).toBe(2);
    expect([...skipped.train.gather([0, 1]).y]).toEqual([0, 1]);
  });

  it('refuses an empty class folder, located in the config, through the CLI', async () => {
    const root = folder('empty-class', { 'a/x.png': (f) => png(f, 2, 2, () => RED), 'b/readme.txt': (f) => writeFileSync(f, '') });
    const file = join(work.path, 'empty-class.yaml');
    writeFileSync(file, `model:\n  name: mlp\n  hidden: [8]\ndata:\n  name: image-folder\n  path: ./empty-class\n  size: [4, 4]\ntrain:\n  steps: 2\n  batchSize: 1\n`);
    const result = runCli(['validate', file]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(`${file}:6:9 data.path: class folder ${join(root, 'b')} has no images (.png, .jpg, .jpeg)`);
    expect(hasStackTrace(result.stderr)).toBe(false);
  });

  it('trains a CNN on an image folder through the CLI; a corrupt file there is one line naming it, exit 1', async () => {
    const files: Record<string, (path: string) => void> = {};
    for (let i = 0; i < 24; i++) {
      files[`shapes/bright/${i}.png`] = (f) => png(f, 10, 10, () => [200 + i, 200, 200, 255], i % 2 ? 0 : 2);
      files[`shapes/dark/${i}.jpg`] = (f) => jpg(f, 12, 12, [20 + i, 10, 10, 255]);
    }
    folder('cli', files);
    const file = join(work.path, 'cli/run.yaml');
    writeFileSync(file, `model:\n  name: cnn\ndata:\n  name: image-folder\n  path: ./shapes\n  size: [8, 8]\n  channels: 1\ntrain:\n  steps: 6\n  batchSize: 8\n  backend: cpu\noutput:\n  dir: ${join(work.path, 'cli/run')}\n`);
    const result = await runCliAsync(['train', file]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('completed 6 steps');
    writeFileSync(join(work.path, 'cli/shapes/dark/zz.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2]));
    const broken = await runCliAsync(['train', file, '--quiet', '--overwrite']);
    expect(broken.code).toBe(1);
    expect(broken.stderr.trim()).toMatch(/^lion-train: .*cli\/shapes\/dark\/zz\.jpg: unreadable image: .+/);
    expect(hasStackTrace(broken.stderr)).toBe(false);
  });
});
