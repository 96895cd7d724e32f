/**
 * Which config changes a resumed run can take. Breaking: the model, the data, the optimizer's kind and
 * the batch size (the checkpoint's tensors and data cursor depend on them). Everything else (more steps,
 * logging, evaluation, checkpoint cadence, learning rates) is a safe change.
 */
import { createHash } from 'node:crypto';
import type { RunConfig } from '../config/types.generated.js';

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

/** sha256 of the parts of the config that a checkpoint depends on. */
export function configHash(config: RunConfig): string {
  return createHash('sha256').update(canonical(breakingParts(config))).digest('hex');
}

/** The breaking differences between the config a run was started with and a new one, as readable lines. */
export function breakingDifferences(before: RunConfig, after: RunConfig): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) walk((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], path ? `${path}.${key}` : key);
    } else if (canonical(a) !== canonical(b)) {
      out.push(`${path} changed from ${canonical(a) ?? 'unset'} to ${canonical(b) ?? 'unset'}`);
    }
  };
  const [a, b] = [breakingParts(before), breakingParts(after)];
  for (const key of Object.keys(a)) walk(a[key], b[key], key);
  return out;
}
