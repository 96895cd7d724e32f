import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, runCliAsync, tempDir } from '../helpers/cli.js';

// Every file lion-train reads is checked to be a regular file within its limit before a byte is read:
// a device, FIFO or directory, and data over the in-memory limit, end at once with exit 2 naming the file.
const dir = tempDir('lion-train-inputs-');
const fifo = join(dir.path, 'pipe');

const csvConfig = (path: string) =>
  `model:\n  name: mlp\n  hidden: [4]\ndata:\n  name: csv\n  path: ${path}\n  labelColumn: label\ntrain:\n  steps: 2\n  batchSize: 2\noutput:\n  dir: out\n`;
const textConfig = (path: string) =>
  `model:\n  name: gpt\n  contextLength: 8\n  width: 8\n  depth: 1\n  heads: 2\n  mlpWidth: 16\ndata:\n  name: text\n  path: ${path}\ntrain:\n  steps: 2\n  batchSize: 2\noutput:\n  dir: out\n`;

beforeAll(() => {
  execFileSync('mkfifo', [fifo]);
});
afterAll(() => dir.cleanup());

async function refused(args: string[], message: RegExp): Promise<void> {
  const start = Date.now();
  const result = await runCliAsync(args, { cwd: dir.path });
  const seconds = (Date.now() - start) / 1000;
  expect(result.stderr).toMatch(message);
  expect(result.code).toBe(2);
  expect(hasStackTrace(result.stderr)).toBe(false);
  expect(seconds).toBeLessThan(30); // process start and tf's import included; reading would never end
  expect(existsSync(join(dir.path, 'out'))).toBe(false);
}

describe('inputs that are not regular files', () => {
  it.each([
    ['csv', '/dev/zero', ['validate', 'train'], /data\.path: \/dev\/zero: is a character device, not a regular file/],
    ['csv', 'pipe', ['train'], /data\.path: \S*\/pipe: is a FIFO \(named pipe\), not a regular file/],
    ['csv', '.', ['validate'], /data\.path: \S*: is a directory, not a regular file/],
    ['text', 'pipe', ['validate', 'train'], /data\.path: \S*\/pipe: is a FIFO \(named pipe\), not a regular file/],
    ['text', '/dev/zero', ['train'], /data\.path: \/dev\/zero: is a character device, not a regular file/],
  ])('%s data at %s: %s exit 2 at once, naming it', async (kind, path, commands, message) => {
    writeFileSync(join(dir.path, 'run.yaml'), kind === 'csv' ? csvConfig(path) : textConfig(path));
    for (const command of commands) await refused([command, 'run.yaml'], message);
  });

  it('a program file, an image in an image folder and a layers model.json that are FIFOs are refused, naming them', async () => {
    const optimizer = 'optimizer:\n  name: program\n  programFile: pipe\n';
    writeFileSync(join(dir.path, 'program.yaml'), `model:\n  name: mlp\n  hidden: [4]\ndata:\n  name: synthetic\n  inputShape: [4]\n  classes: 2\n${optimizer}train:\n  steps: 2\n  batchSize: 2\noutput:\n  dir: out\n`);
    await refused(['validate', 'program.yaml'], /pipe: is a FIFO \(named pipe\), not a regular file/);
    for (const label of ['a', 'b']) {
      mkdirSync(join(dir.path, 'images', label), { recursive: true });
      execFileSync('mkfifo', [join(dir.path, 'images', label, `${label}.png`)]);
    }
    writeFileSync(join(dir.path, 'images.yaml'), `model:\n  name: mlp\n  hidden: [4]\ndata:\n  name: image-folder\n  path: ./images\n  size: [4, 4]\ntrain:\n  steps: 2\n  batchSize: 1\noutput:\n  dir: out\n`);
    await refused(['train', 'images.yaml'], /images\/a\/a\.png: is a FIFO \(named pipe\), not a regular file/);
    writeFileSync(join(dir.path, 'layers.yaml'), `model:\n  name: layers\n  path: ./pipe\ndata:\n  name: synthetic\n  inputShape: [4]\n  classes: 2\ntrain:\n  steps: 2\n  batchSize: 2\noutput:\n  dir: out\n`);
    await refused(['train', 'layers.yaml'], /pipe: is a FIFO \(named pipe\), not a regular file/);
  });

  it('a config that is a FIFO or a device is refused, naming it', async () => {
    await refused(['validate', 'pipe'], /pipe: is a FIFO \(named pipe\), not a regular file/);
    await refused(['train', '/dev/zero'], /\/dev\/zero: is a character device, not a regular file/);
  });
});

describe('data over the in-memory limit', () => {
  it('a text file over half the limit is refused before reading, with its size and the limit', async () => {
    const path = join(dir.path, 'huge.txt');
    const fd = openSync(path, 'w');
    ftruncateSync(fd, 1536 * 1024 ** 2); // 1.5 GiB of holes: no disk used, and reading it would take long
    closeSync(fd);
    writeFileSync(join(dir.path, 'run.yaml'), textConfig('huge.txt'));
    const message = /huge\.txt: is 1\.5 GiB \(1610612736 bytes\), over the 1\.0 GiB limit for text data \(ids take 2 bytes a character\); set LION_TRAIN_DATA_MEMORY_LIMIT/;
    await refused(['validate', 'run.yaml'], message);
    await refused(['train', 'run.yaml'], message);
  });

  it('a CSV whose values pass the limit is refused while streaming, naming the line (exit 2)', async () => {
    const rows = Array.from({ length: 400 }, (_, i) => `${i},${i % 7},${['a', 'b'][i % 2]}`);
    writeFileSync(join(dir.path, 'rows.csv'), `x,y,label\n${rows.join('\n')}\n`);
    writeFileSync(join(dir.path, 'run.yaml'), csvConfig('rows.csv'));
    const result = await runCliAsync(['train', 'run.yaml'], { cwd: dir.path, env: { LION_TRAIN_DATA_MEMORY_LIMIT: '4096' } });
    expect(result.stderr).toMatch(/rows\.csv: its values pass the in-memory data limit of 4\.0 KiB at line \d+ \(\d+ rows of 2 features at 12 bytes a value\)/);
    expect(result.code).toBe(2);
    const ok = await runCliAsync(['train', 'run.yaml', '--overwrite'], { cwd: dir.path });
    expect(ok.stderr).not.toMatch(/limit/);
    expect(ok.code).toBe(0);
  });

  it('a CSV is streamed: 17 MB trains under a 64 MB JavaScript heap (the whole-text parser ran out of heap on it)', async () => {
    const lines = ['a,b,c,d,e,f,g,h,label'];
    for (let i = 0; i < 250_000; i++) lines.push(`${[1, 2, 3, 4, 5, 6, 7, 8].map((j) => (((i * j) % 1000) / 7).toFixed(4)).join(',')},${i % 3 ? 'x' : 'y'}`);
    writeFileSync(join(dir.path, 'big.csv'), `${lines.join('\n')}\n`);
    writeFileSync(join(dir.path, 'run.yaml'), csvConfig('big.csv').replace('  steps: 2', '  steps: 1'));
    const result = await runCliAsync(['train', 'run.yaml', '--overwrite'], { cwd: dir.path, env: { NODE_OPTIONS: '--max-old-space-size=64' } });
    expect(result.stderr).toMatch(/csv: 190000 train examples/);
    expect(result.code).toBe(0);
  });
});
