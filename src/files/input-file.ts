/**
 * Opening a file the user named (data, configs, checkpoints, baselines, run files) for reading, within bounds.
 *
 * Every such read goes through `openInputFile`: the path is opened without blocking (O_NONBLOCK, so a FIFO
 * with no writer cannot hang the open) and the open descriptor is checked with fstat to be a regular file, so
 * a directory, FIFO, socket or device (`/dev/zero`) is refused at once, naming what it is, before any byte is
 * read; and its size is compared with the limit for what it holds before reading. Checking the descriptor
 * (not the path) leaves no window between the check and the read.
 *
 * Errors are `UserError`s (exit 2, a usage or config error) whose one-line message starts with the path.
 */
import { closeSync, constants, createReadStream, fstatSync, openSync, readFileSync, statSync, type ReadStream, type Stats } from 'node:fs';
import { EXIT, UserError } from '../errors.js';

/** Whole-file reads of run files (summary.json, metrics.jsonl, state.json…) stay below V8's longest string (2^29 - 24 characters). */
export const MAX_TEXT_FILE_BYTES = 512 * 1024 * 1024 - 1024;

export interface InputFileOptions {
  /** What the file holds, for the limit message ("text data", "a config"). */
  what?: string;
  /** Refuse a file larger than this many bytes, before reading it. */
  maxBytes?: number;
  /** How to get past the limit, appended to its message. */
  limitHint?: string;
}

/** The error for a path that cannot be read as an input file (exit 2). */
export class InputFileError extends UserError {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`, EXIT.usage);
    this.name = 'InputFileError';
  }
}

/** Bytes in binary units for messages: "3.0 GiB (3221225472 bytes)". */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

/** What a non-regular file is, in words. */
function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

function openError(path: string, error: NodeJS.ErrnoException): InputFileError {
  switch (error.code) {
    case 'ENOENT':
      return new InputFileError(path, 'no such file');
    case 'EACCES':
    case 'EPERM':
      return new InputFileError(path, 'permission denied');
    case 'ENOTDIR':
      return new InputFileError(path, 'no such file (a folder on its path is a file)');
    case 'ELOOP':
      return new InputFileError(path, 'too many symbolic links (a link loop?)');
    case 'ENXIO': {
      // open(2) gives ENXIO for a socket, and for a device with nothing behind it.
      let kind = 'not a regular file';
      try {
        kind = kindOf(statSync(path));
      } catch {
        // keep the generic words
      }
      return new InputFileError(path, `is ${kind}, not a regular file`);
    }
    default:
      return new InputFileError(path, `cannot be read (${error.code ?? error.message})`);
  }
}

/**
 * Opens `path` for reading and checks it is a regular file within `maxBytes`.
 * Returns the open descriptor (the caller closes it) and the size in bytes.
 * @throws InputFileError (exit 2) when it is missing, unreadable, not a regular file, or too large.
 */
export function openInputFile(path: string, options: InputFileOptions = {}): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw openError(path, error as NodeJS.ErrnoException);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new InputFileError(path, `is ${kindOf(stats)}, not a regular file`);
    const { maxBytes } = options;
    if (maxBytes !== undefined && stats.size > maxBytes) {
      const hint = options.limitHint ? `; ${options.limitHint}` : '';
      throw new InputFileError(path, `is ${formatBytes(stats.size)} (${stats.size} bytes), over the ${formatBytes(maxBytes)} limit for ${options.what ?? 'this file'}${hint}`);
    }
    return { fd, size: stats.size };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** The reason `path` cannot be read as an input file, or undefined when it can (for `check()` reports). */
export function inputFileProblem(path: string, options: InputFileOptions = {}): string | undefined {
  try {
    closeSync(openInputFile(path, options).fd);
    return undefined;
  } catch (error) {
    if (error instanceof InputFileError) return error.message;
    throw error;
  }
}

/** The whole file's bytes, after the checks of `openInputFile`. */
export function readInputFile(path: string, options: InputFileOptions = {}): Buffer {
  const { fd } = openInputFile(path, options);
  try {
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The whole file as UTF-8 text (invalid bytes become U+FFFD), within `MAX_TEXT_FILE_BYTES` unless told otherwise. */
export function readInputText(path: string, options: InputFileOptions = {}): string {
  return readInputFile(path, { maxBytes: MAX_TEXT_FILE_BYTES, what: 'a text file read whole', ...options }).toString('utf8');
}

/** A read stream over the file, after the checks of `openInputFile`; the stream closes the descriptor. */
export function inputFileStream(path: string, options: InputFileOptions & { highWaterMark?: number } = {}): { stream: ReadStream; size: number } {
  const { fd, size } = openInputFile(path, options);
  return { stream: createReadStream('', { fd, highWaterMark: options.highWaterMark ?? 1 << 20 }), size };
}
