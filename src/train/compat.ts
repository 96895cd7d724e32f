/**
 * Which config changes a resumed run can take. A resume continues the run that was started: its own
 * config.yaml is the base, and a config file or `--set` given with `--resume` may change only the keys
 * below (README, "What may change on resume"): the limits, measurement, checkpoint cadence, logging, the
 * machine it runs on, and learning rates (output.* is the run directory's own). Every other difference (model, data, optimizer kind and
 * hyperparameters, schedule, batch size, accumulation, seed, clipping, label smoothing, early stopping,
 * the best-checkpoint rule, the name) is refused, naming the key.
 */
import { createHash } from 'node:crypto';
import type { RunConfig } from '../config/types.generated.js';

/** Keys (and everything under them) a resume may change. */
export const RESUME_SAFE_KEYS = [
  'train.steps',
  'train.epochs',
  'train.maxMinutes',
  'train.evalEvery',
  'train.evalExamples',
  'train.evalBatchSize',
  'train.workers',
  'train.backend',
  'checkpoint.everySteps',
  'checkpoint.everyMinutes',
  'checkpoint.atEnd',
  'checkpoint.onSignal',
  'checkpoint.keepLast',
  'checkpoint.autoResume',
  'log',
  'optimizer.*.learningRate',
] as const;

function isSafe(key: string): boolean {
  return RESUME_SAFE_KEYS.some((safe) => {
    const pattern = new RegExp(`^${safe.replace(/\./g, '\\.').replace(/\*/g, '[^.]+')}(\\.|$)`);
    return pattern.test(key);
  });
}

function breakingParts(config: RunConfig): Record<string, unknown> {
  return {
    model: config.model,
    data: config.data,
    'optimizer.name': config.optimizer.name,
    'train.batchSize': config.train.batchSize,
    'train.accumulationSteps': config.train.accumulationSteps,
    'train.seed': config.train.seed,
  };
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** sha256 of the parts of the config that a checkpoint's tensors and cursor depend on. */
export function configHash(config: RunConfig): string {
  return createHash('sha256').update(canonical(breakingParts(config))).digest('hex');
}

/** One leaf that differs between the run's config and the one asked for. */
export interface ConfigChange {
  key: string;
  before: string;
  after: string;
  /** Whether a resume may take it (RESUME_SAFE_KEYS). */
  safe: boolean;
}

/** Every leaf that differs between two resolved configs, in key order, each marked safe or not for a resume. */
export function configChanges(before: RunConfig, after: RunConfig): ConfigChange[] {
  const out: ConfigChange[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    const isObject = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
    if (isObject(a) && isObject(b)) {
      const keys = [...new Set([...Object.keys(a as object), ...Object.keys(b as object)])].sort();
      for (const key of keys) walk((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], path ? `${path}.${key}` : key);
    } else if (canonical(a) !== canonical(b)) {
      out.push({ key: path, before: canonical(a) ?? 'unset', after: canonical(b) ?? 'unset', safe: isSafe(path) });
    }
  };
  walk(before, after, '');
  return out;
}

export function describeChange(change: ConfigChange): string {
  return `${change.key} changed from ${change.before} to ${change.after}`;
}
