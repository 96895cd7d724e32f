/**
 * A checkpoint as a user names it on the command line (`--step`): a step number, `latest` (the newest
 * checkpoint that reads back) or `best` (the one checkpoint.keepBest kept, by checkpoint.bestMetric).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, UserError } from '../errors.js';
import { readInputText } from '../files/input-file.js';
import { CHECKPOINT_DIR } from './run-dir.js';

export type CheckpointRef = number | 'latest' | 'best';

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

/** step-000999 before step-1000000: by step number, not by spelling. */
export function byStep(a: string, b: string): number {
  return Number(a.slice(5)) - Number(b.slice(5));
}

/** Checkpoint directories, newest first (the `latest` pointer's target first when it exists). */
export function listCheckpoints(checkpointsDir: string): string[] {
  if (!existsSync(checkpointsDir)) return [];
  const names = readdirSync(checkpointsDir).filter((n) => CHECKPOINT_DIR.test(n)).sort(byStep).reverse();
  const latestPath = join(checkpointsDir, 'latest');
  const latest = existsSync(latestPath) ? readInputText(latestPath).trim() : undefined;
  return latest && names.includes(latest) ? [latest, ...names.filter((n) => n !== latest)] : names;
}

export function readBestPointer(checkpointsDir: string): string | undefined {
  const path = join(checkpointsDir, 'best');
  return existsSync(path) ? readInputText(path).trim() : undefined;
}

/** `--step`'s value: a whole number ≥ 0, `latest` or `best`; anything else is a usage error (exit 2). */
export function parseCheckpointRef(value: unknown): CheckpointRef {
  const text = String(value).trim();
  if (text === 'latest' || text === 'best') return text;
  const step = Number(text);
  if (text === '' || !Number.isInteger(step) || step < 0) throw new UserError(`--step must be a step number (a whole number ≥ 0), latest or best; got ${JSON.stringify(value)}`, EXIT.usage);
  return step;
}

/**
 * The checkpoint directories to try, in order, for `ref` (undefined means latest): every checkpoint
 * newest first for `latest`, exactly one otherwise. Throws a usage error naming what exists when the
 * named checkpoint does not.
 */
export function checkpointsFor(checkpointsDir: string, runDir: string, ref: CheckpointRef | undefined): string[] {
  const available = listCheckpoints(checkpointsDir);
  if (ref === undefined || ref === 'latest') return available;
  const steps = () => available.map((n) => Number(n.slice('step-'.length))).sort((a, b) => a - b).join(', ') || 'none';
  if (ref === 'best') {
    const best = readBestPointer(checkpointsDir);
    if (!best || !existsSync(join(checkpointsDir, best))) throw new UserError(`${runDir} has no best checkpoint (one is kept with checkpoint.keepBest once the run has evaluated checkpoint.bestMetric); checkpoints at steps: ${steps()}`, EXIT.usage);
    return [best];
  }
  const name = checkpointName(ref);
  if (!available.includes(name)) throw new UserError(`${runDir} has no checkpoint at step ${ref} (checkpoints at steps: ${steps()}); name one of those, latest or best`, EXIT.usage);
  return [name];
}
