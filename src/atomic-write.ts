/** Writes that a crash cannot leave half-done: write a temporary file, flush it, rename it into place. */
import { closeSync, constants, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, statSync, writeSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** Never write through a symbolic link planted at a temporary name. */
const CREATE_NO_FOLLOW = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(temp, CREATE_NO_FOLLOW, 0o644);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(temp, path);
  } catch (error) {
    unlinkSync(temp);
    throw error;
  }
  fsyncDirectory(dirname(path));
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Makes a rename durable: flush the directory entry. */
export function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on directories; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * `mkdir -p` that reports the real reason a folder cannot be made. Node's recursive mkdir reports a
 * read-only file system (EROFS) as ENOENT, and loops forever under /proc; this makes one level at a
 * time, so the error is the one mkdir itself gave (EROFS: read-only file system, EACCES, ENOSPC, …).
 */
export function makeDirectory(path: string): void {
  const full = resolve(path);
  const missing: string[] = [];
  for (let dir = full; ; dir = dirname(dir)) {
    const stats = lstatOrMissing(dir);
    if (stats) {
      // An existing ancestor that is a link to a folder is fine (runs/ on another volume); a file is not.
      if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), { code: 'ENOTDIR', path: dir });
      break;
    }
    missing.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/** lstat, or undefined when the path is missing or runs through a file (ENOTDIR: reported by the caller). */
function lstatOrMissing(path: string) {
  try {
    return lstatSync(path, { throwIfNoEntry: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}
