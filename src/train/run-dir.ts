/**
 * The run directory, the product's output contract (DESIGN.md):
 *   config.yaml  metrics.jsonl  compute.jsonl  summary.json  checkpoints/
 * It is never overwritten without --overwrite; --resume continues the one that is there.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RunConfig } from '../config/types.generated.js';
import { EXIT, UserError } from '../errors.js';

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

/** output.dir, or <output.root>/<name>-<timestamp>. */
export function runDirectoryFor(config: RunConfig, now = new Date()): string {
  if (config.output.dir !== null) return resolve(config.output.dir);
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..+$/, '').replace('T', '-');
  return resolve(config.output.root, `${config.name}-${stamp}`);
}

export type DirectoryMode = 'new' | 'overwrite' | 'resume';

function inUse(dir: string): boolean {
  // A directory holding only an empty checkpoints/ folder is what a run killed at its very start leaves.
  return existsSync(dir) && readdirSync(dir).some((entry) => entry !== 'checkpoints' || readdirSync(join(dir, entry)).length > 0);
}

/** Refuses to start a new run in a directory that holds one (checked before any data is loaded). */
export function checkRunDirectory(dir: string, mode: DirectoryMode): void {
  if (mode === 'new' && inUse(dir)) {
    throw new UserError(`run directory ${dir} already exists; use --resume to continue it or --overwrite to replace it`, EXIT.usage);
  }
}

/** Makes the run directory ready: refuses to clobber an existing one unless told to. */
export function prepareRunDirectory(dir: string, mode: DirectoryMode): RunPaths {
  checkRunDirectory(dir, mode);
  if (mode === 'overwrite' && inUse(dir)) rmSync(dir, { recursive: true, force: true });
  const paths = runPaths(dir);
  mkdirSync(paths.checkpoints, { recursive: true });
  return paths;
}
