/**
 * The run directory, the product's output contract (DESIGN.md):
 *   .lion-train-run  config.yaml  metrics.jsonl  compute.jsonl  summary.json  checkpoints/
 * It is never overwritten without --overwrite; --resume continues the one that is there.
 *
 * Ownership: lion-train deletes or replaces only what it can prove it made.
 *   1. Every run directory it creates gets the marker file `.lion-train-run` first (format, creation time).
 *      A directory without it is a run of an earlier version only when it holds a config.yaml and a
 *      summary.json that reads as a lion-train summary.
 *   2. Inside a run directory only the names lion-train writes are its own: the files above, the dataset
 *      artifacts, `.lion-train.lock`, its temporary files (`.<name>.<pid>.tmp`), and in checkpoints/
 *      `step-NNNNNN` folders (six or more digits) holding only checkpoint files, `latest`, `best` and
 *      `.tmp-step-NNNNNN-<pid>` folders. A symbolic link is never its own: lion-train makes none.
 *   3. Anything else in the way of a delete or replace refuses the whole operation (exit 2), naming
 *      what is there and why it is left alone. Deletion never follows a symbolic link.
 */
import { lstatSync, readdirSync, rmdirSync, unlinkSync, type Stats } from 'node:fs';
import { readInputText } from '../files/input-file.js';
import { hostname } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { makeDirectory, writeFileAtomic } from '../atomic-write.js';
import type { RunConfig } from '../config/types.generated.js';
import { EXIT, UserError } from '../errors.js';
import { LOCK_FILE } from './run-lock.js';

export interface RunPaths {
  dir: string;
  config: string;
  metrics: string;
  compute: string;
  summary: string;
  checkpoints: string;
}

export function runPaths(dir: string): RunPaths {
  return {
    dir,
    config: join(dir, 'config.yaml'),
    metrics: join(dir, 'metrics.jsonl'),
    compute: join(dir, 'compute.jsonl'),
    summary: join(dir, 'summary.json'),
    checkpoints: join(dir, 'checkpoints'),
  };
}

/** The marker that proves lion-train created a run directory. */
export const RUN_MARKER = '.lion-train-run';
export const RUN_MARKER_FORMAT = 1;

/** Files lion-train writes at the top of a run directory (dataset artifacts included: text, csv, fashion-mnist). */
const RUN_FILES = new Set(['config.yaml', 'metrics.jsonl', 'compute.jsonl', 'summary.json', 'vocab.json', 'csv.json', 'classes.json']);
/** Files inside one checkpoint folder. */
const CHECKPOINT_FILES = new Set(['model.safetensors', 'optimizer.safetensors', 'state.json']);
/** The exact name of a checkpoint folder. */
export const CHECKPOINT_DIR = /^step-\d{6,}$/;
/** A checkpoint being written (left behind by a crash). */
export const CHECKPOINT_TEMP_DIR = /^\.tmp-step-\d{6,}-\d+$/;
/** A temporary file of writeFileAtomic (`.<name>.<pid>.tmp`) for one of `names`. */
const tempFileOf = (names: Iterable<string>) => new RegExp(`^\\.(${[...names].map((n) => n.replace(/[.]/g, '\\.')).join('|')})\\.\\d+\\.tmp$`);
const RUN_TEMP_FILE = tempFileOf([...RUN_FILES, RUN_MARKER]);
const CHECKPOINT_POINTERS = new Set(['latest', 'best']);
const POINTER_TEMP_FILE = tempFileOf(CHECKPOINT_POINTERS);

/** output.dir, or <output.root>/<name>-<timestamp>. */
export function runDirectoryFor(config: RunConfig, now = new Date()): string {
  if (config.output.dir !== null) return resolve(config.output.dir);
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..+$/, '').replace('T', '-');
  return resolve(config.output.root, `${config.name}-${stamp}`);
}

export type DirectoryMode = 'new' | 'overwrite' | 'resume';

function lstat(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

/** Why lion-train would not have made `path` (relative name `shown`), or undefined when it is its own. */
function foreignEntry(path: string, shown: string, where: 'run' | 'checkpoints' | 'checkpoint'): string | undefined {
  const stats = lstat(path);
  if (!stats) return undefined;
  const name = shown.split('/').pop()!;
  if (stats.isSymbolicLink()) return `${shown} is a symbolic link (lion-train makes none)`;
  if (where === 'run') {
    if (name === 'checkpoints' && stats.isDirectory()) return foreignIn(path, shown, 'checkpoints');
    if ((RUN_FILES.has(name) || name === RUN_MARKER || name === LOCK_FILE || RUN_TEMP_FILE.test(name)) && stats.isFile()) return undefined;
  } else if (where === 'checkpoints') {
    if ((CHECKPOINT_DIR.test(name) || CHECKPOINT_TEMP_DIR.test(name)) && stats.isDirectory()) return foreignIn(path, shown, 'checkpoint');
    if ((CHECKPOINT_POINTERS.has(name) || POINTER_TEMP_FILE.test(name)) && stats.isFile()) return undefined;
  } else if (CHECKPOINT_FILES.has(name) && stats.isFile()) return undefined;
  return `${shown} is not a file lion-train writes`;
}

function foreignIn(dir: string, shown: string, where: 'run' | 'checkpoints' | 'checkpoint'): string | undefined {
  for (const entry of readdirSync(dir).sort()) {
    const why = foreignEntry(join(dir, entry), shown ? `${shown}/${entry}` : entry, where);
    if (why) return why;
  }
  return undefined;
}

/** True when the marker is there, or the directory reads as a run of a version from before the marker. */
export function isLionTrainRun(dir: string): boolean {
  if (lstat(join(dir, RUN_MARKER))?.isFile()) return true;
  if (!lstat(join(dir, 'config.yaml'))?.isFile()) return false;
  try {
    const summary = JSON.parse(readInputText(join(dir, 'summary.json'))) as Record<string, unknown>;
    return typeof summary.status === 'string' && typeof summary.steps === 'number' && typeof summary.configHash === 'string';
  } catch {
    return false;
  }
}

/** Nothing worth keeping: absent, empty, or what a run killed at its very start leaves (marker, lock, temporary files, empty checkpoints/). */
function holdsNothing(dir: string): boolean {
  const stats = lstat(dir);
  if (!stats) return true;
  if (!stats.isDirectory()) return false;
  return readdirSync(dir).every((entry) => {
    if (entry === RUN_MARKER || entry === LOCK_FILE || RUN_TEMP_FILE.test(entry)) return lstat(join(dir, entry))?.isFile();
    return entry === 'checkpoints' && lstat(join(dir, entry))?.isDirectory() && readdirSync(join(dir, entry)).length === 0;
  });
}

/**
 * Refuses, before anything is written, a run directory the mode cannot use: a new run where one exists,
 * an overwrite of a folder lion-train did not make or that holds anything it did not write, a resume of
 * a folder that is not a run. Throws UserError (exit 2) naming what is there and why.
 */
export function checkRunDirectory(dir: string, mode: DirectoryMode): void {
  const stats = lstat(dir);
  if (stats && !stats.isDirectory()) throw new UserError(`run directory ${dir} is ${stats.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; lion-train does not replace it`, EXIT.usage);
  if (holdsNothing(dir)) return;
  const ours = isLionTrainRun(dir);
  if (mode === 'new') {
    throw new UserError(
      ours
        ? `run directory ${dir} already exists; use --resume to continue it or --overwrite to replace it`
        : `run directory ${dir} already exists and is not a lion-train run (no ${RUN_MARKER} marker); choose another output.dir`,
      EXIT.usage,
    );
  }
  if (!ours) {
    const held = readdirSync(dir).sort();
    const shown = held.slice(0, 3).join(', ') + (held.length > 3 ? `, … (${held.length} entries)` : '');
    throw new UserError(`cannot ${mode === 'overwrite' ? 'overwrite' : 'resume'} ${dir}: it is not a lion-train run directory (no ${RUN_MARKER} marker) and holds ${shown}; lion-train replaces only run directories it created`, EXIT.usage);
  }
  // A resumed run rewrites its own files and checkpoints by name and prunes old ones: every entry with
  // one of its names must be its own (no link, nothing foreign in checkpoints/); other files may stay.
  const own = (entry: string) => RUN_FILES.has(entry) || entry === 'checkpoints' || entry === RUN_MARKER || entry === LOCK_FILE;
  const why = mode === 'overwrite' ? foreignIn(dir, '', 'run') : readdirSync(dir).sort().filter(own).map((entry) => foreignEntry(join(dir, entry), entry, 'run')).find(Boolean);
  if (why) throw new UserError(`cannot ${mode} ${dir}: ${why}; nothing was deleted (move it away to go on)`, EXIT.usage);
}

/** Writes the marker into a run directory that lacks it (a new one, or one of an earlier version). */
export function markRunDirectory(dir: string): void {
  try {
    makeDirectory(dir);
    if (lstat(join(dir, RUN_MARKER))?.isFile()) return;
    writeFileAtomic(join(dir, RUN_MARKER), `${JSON.stringify({ format: RUN_MARKER_FORMAT, createdBy: 'lion-train', host: hostname(), createdAt: new Date().toISOString() })}\n`);
  } catch (error) {
    // Named as the system names it: EROFS: read-only file system, EACCES: permission denied, …
    throw new UserError(`cannot write run directory ${dir}: ${(error as Error).message}`, EXIT.usage);
  }
}

/**
 * Deletes one entry lion-train owns, without following symbolic links: a link is unlinked (never its
 * target); a folder is emptied entry by entry with the same rule. Call only after checkRunDirectory.
 */
export function removeOwned(path: string): void {
  const stats = lstat(path);
  if (!stats) return;
  if (stats.isDirectory()) {
    for (const entry of readdirSync(path)) removeOwned(join(path, entry));
    rmdirSync(path);
  } else unlinkSync(path);
}

/**
 * Makes the run directory ready, under its lock: for --overwrite, deletes the previous run's files
 * (checked again now, so nothing that appeared since is lost); leftovers of a crash (temporary files
 * and checkpoint folders) are removed in every mode.
 */
export function prepareRunDirectory(dir: string, mode: DirectoryMode): RunPaths {
  const paths = runPaths(dir);
  markRunDirectory(dir);
  if (mode === 'overwrite') {
    checkRunDirectory(dir, mode);
    for (const entry of readdirSync(dir)) if (entry !== RUN_MARKER && entry !== LOCK_FILE) removeOwned(join(dir, entry));
  }
  for (const entry of readdirSync(dir)) if (RUN_TEMP_FILE.test(entry) && lstat(join(dir, entry))?.isFile()) unlinkSync(join(dir, entry));
  makeDirectory(paths.checkpoints);
  removeCrashLeftovers(paths.checkpoints);
  return paths;
}

/** Temporary checkpoint folders and pointer files a crashed writer left (the lock says none is writing now). */
export function removeCrashLeftovers(checkpointsDir: string): void {
  for (const entry of readdirSync(checkpointsDir)) {
    const path = join(checkpointsDir, entry);
    const stats = lstat(path);
    if (CHECKPOINT_TEMP_DIR.test(entry) && stats?.isDirectory() && !foreignIn(path, entry, 'checkpoint')) removeOwned(path);
    else if (POINTER_TEMP_FILE.test(entry) && stats?.isFile()) unlinkSync(path);
  }
}

/** Why a checkpoint folder may not be deleted by retention (a foreign or linked entry), or undefined. */
export function foreignCheckpoint(checkpointsDir: string, name: string): string | undefined {
  if (!CHECKPOINT_DIR.test(name)) return `${name} is not a checkpoint folder name`;
  return foreignEntry(join(checkpointsDir, name), relative(resolve(checkpointsDir, '..'), join(checkpointsDir, name)), 'checkpoints');
}
