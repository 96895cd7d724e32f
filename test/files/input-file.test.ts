import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync, ftruncateSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/errors.js';
import { formatBytes, InputFileError, inputFileProblem, readInputFile } from '../../src/files/input-file.js';
import { tempDir } from '../helpers/cli.js';

const dir = tempDir('lion-train-input-file-');
let server: Server;
const fifo = join(dir.path, 'pipe.csv');
const socket = join(dir.path, 'socket.csv');
const folder = join(dir.path, 'folder.csv');
const sparse = join(dir.path, 'huge.csv');

beforeAll(async () => {
  execFileSync('mkfifo', [fifo]);
  mkdirSync(folder);
  server = createServer();
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  const fd = openSync(sparse, 'w');
  ftruncateSync(fd, 3 * 1024 ** 3); // 3 GiB of holes: no disk used
  closeSync(fd);
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  dir.cleanup();
});

/** The error readInputFile throws for `path`, and how long it took. */
function refusal(path: string, options = {}): { error: InputFileError; ms: number } {
  const start = performance.now();
  try {
    readInputFile(path, options);
  } catch (error) {
    expect(error).toBeInstanceOf(InputFileError);
    return { error: error as InputFileError, ms: performance.now() - start };
  }
  throw new Error(`${path} was read`);
}

describe('openInputFile', () => {
  it.each([
    ['a FIFO', fifo, 'is a FIFO (named pipe), not a regular file'],
    ['a character device', '/dev/zero', 'is a character device, not a regular file'],
    ['a directory', folder, 'is a directory, not a regular file'],
    ['a socket', socket, 'is a socket, not a regular file'],
    ['a missing file', join(dir.path, 'absent.csv'), 'no such file'],
  ])('refuses %s at once, naming it (exit 2)', (_kind, path, reason) => {
    const { error, ms } = refusal(path);
    expect(error.message).toBe(`${path}: ${reason}`);
    expect(error.exitCode).toBe(EXIT.usage);
    expect(ms).toBeLessThan(1000);
  });

  it('refuses a file over its limit before reading it, with its size and the limit', () => {
    const { error, ms } = refusal(sparse, { maxBytes: 2 * 1024 ** 3, what: 'data', limitHint: 'raise it' });
    expect(error.message).toBe(`${sparse}: is 3.0 GiB (3221225472 bytes), over the 2.0 GiB limit for data; raise it`);
    expect(ms).toBeLessThan(1000);
  });

  it('reads a regular file, and reports no problem for it', () => {
    const path = join(dir.path, 'ok.csv');
    writeFileSync(path, 'a,b\n1,2\n');
    expect(readInputFile(path).toString()).toBe('a,b\n1,2\n');
    expect(inputFileProblem(path)).toBeUndefined();
    expect(inputFileProblem(fifo)).toBe(`${fifo}: is a FIFO (named pipe), not a regular file`);
  });

  it('formats sizes in binary units', () => {
    expect([formatBytes(512), formatBytes(1536), formatBytes(5 * 1024 ** 2), formatBytes(4 * 1024 ** 3)]).toEqual(['512 bytes', '1.5 KiB', '5.0 MiB', '4.0 GiB']);
  });
});
