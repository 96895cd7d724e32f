/**
 * One writer per run directory: `.lion-train.lock`, created exclusively (open with O_EXCL, atomic on
 * local and NFSv3+ file systems) before anything else is written, holding the holder's pid, host, start
 * time and command. A lock whose holder is gone (same host, pid no longer alive) is taken over with a
 * note; one held by a live process, or by another host (which cannot be checked from here), refuses the
 * second writer with exit 2 naming the holder. Readers (runs, report, regress, export) take no lock.
 */
import { closeSync, fsyncSync, lstatSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { readInputText } from '../files/input-file.js';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { EXIT, UserError } from '../errors.js';

export const LOCK_FILE = '.lion-train.lock';

export interface LockHolder {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
}

export interface RunLock {
  path: string;
  holder: LockHolder;
  /** Deletes the lock if it is still this process's; safe to call more than once. */
  release: () => void;
}

/** A lock file's text: a regular file of at most 64 KiB (a lock is a few hundred bytes). */
function readLockText(path: string): string {
  return readInputText(path, { what: 'a run lock', maxBytes: 64 * 1024 });
}

/** The lock's holder as written, or undefined when there is no readable lock. */
export function readLock(dir: string): LockHolder | undefined {
  try {
    const holder = JSON.parse(readLockText(join(dir, LOCK_FILE))) as LockHolder;
    return typeof holder.pid === 'number' && typeof holder.host === 'string' ? holder : undefined;
  } catch {
    return undefined;
  }
}

/** alive: the holder runs; gone: it ran on this host and has exited; unknown: another host's process. */
export function holderState(holder: LockHolder): 'alive' | 'gone' | 'unknown' {
  if (holder.host !== hostname()) return 'unknown';
  try {
    process.kill(holder.pid, 0);
    return 'alive';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? 'alive' : 'gone';
  }
}

export function describeHolder(holder: LockHolder): string {
  return `pid ${holder.pid} on ${holder.host} since ${holder.startedAt}`;
}

/** Refuses (exit 2) when a live process holds the directory's lock; writes nothing. */
export function checkNotLocked(dir: string): void {
  const holder = readLock(dir);
  if (holder && holderState(holder) !== 'gone') throw heldError(dir, holder);
}

function heldError(dir: string, holder: LockHolder): UserError {
  const remote = holderState(holder) === 'unknown' ? `; if that process is gone, delete ${join(dir, LOCK_FILE)}` : '';
  return new UserError(`run directory ${dir} is in use by another lion-train process (${describeHolder(holder)}: ${holder.command})${remote}`, EXIT.usage);
}

/**
 * Takes the lock of `dir` (which must exist). Throws UserError (exit 2) naming the holder when another
 * live process has it; a stale lock is replaced and `note` says so.
 */
export function acquireRunLock(dir: string, note: (line: string) => void): RunLock {
  const path = join(dir, LOCK_FILE);
  const holder: LockHolder = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), command: process.argv.slice(2).join(' ') };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const current = readLock(dir);
      if (current && holderState(current) !== 'gone') throw heldError(dir, current);
      // An unreadable lock may be one being written this instant; only an old one is replaced.
      const age = Date.now() - (lstatSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0);
      if (!current && age < 10_000) throw new UserError(`run directory ${dir} is being locked by another lion-train process (${path} was created ${Math.round(age)} ms ago)`, EXIT.usage);
      const text = current ? readLockText(path) : undefined;
      if (lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink()) throw new UserError(`${path} is a symbolic link; lion-train does not touch it`, EXIT.usage);
      // Replace the stale lock only if it is still the one just read (another process may have taken it over).
      if (current === undefined || readLockText(path) === text) {
        note(current ? `taking over the lock of ${dir} from ${describeHolder(current)}, which is no longer running` : `replacing the unreadable lock ${path}`);
        try {
          unlinkSync(path);
        } catch {
          // Someone else removed it first: try again.
        }
      }
      continue;
    }
    try {
      writeSync(fd, `${JSON.stringify(holder)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      process.off('exit', release);
      const now = readLock(dir);
      if (now && now.pid === holder.pid && now.host === holder.host && now.startedAt === holder.startedAt) {
        try {
          unlinkSync(path);
        } catch {
          // Already gone or unwritable: a later writer sees a lock whose holder has exited.
        }
      }
    };
    // process.exit() (a second Ctrl-C) skips finally blocks, not exit listeners.
    process.on('exit', release);
    return { path, holder, release };
  }
  throw new UserError(`could not take the lock ${path}: other processes keep taking it`, EXIT.usage);
}
