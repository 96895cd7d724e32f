import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonl } from '../../src/telemetry/jsonl.js';
import type { RunSummary } from '../../src/telemetry/summary.js';

export function readRun(dir: string) {
  const metrics = readJsonl(join(dir, 'metrics.jsonl'));
  return {
    metrics,
    train: metrics.filter((r) => r.split === 'train'),
    validation: metrics.filter((r) => r.split === 'validation'),
    test: metrics.filter((r) => r.split === 'test'),
    compute: readJsonl(join(dir, 'compute.jsonl')),
    summary: JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RunSummary,
  };
}
