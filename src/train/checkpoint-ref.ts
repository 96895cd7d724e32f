/**
 * A checkpoint as a user names it on the command line (`--step`): a step number, `latest` (the newest
 * checkpoint that reads back) or `best` (the one checkpoint.keepBest kept, by checkpoint.bestMetric).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, UserError } from '../errors.js';
import { checkpointName, listCheckpoints, readBestPointer } from './checkpoint.js';

export type CheckpointRef = number | 'latest' | 'best';

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
