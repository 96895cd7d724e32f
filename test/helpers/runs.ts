/** Run directories and RunData made by hand, for tests of what reads runs (regress, report, runs). */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonl } from '../../src/telemetry/jsonl.js';
import type { RunData } from '../../src/telemetry/run-reader.js';
import type { RunSummary } from '../../src/telemetry/summary.js';

export type SummaryPatch = Partial<Omit<RunSummary, 'final' | 'totals'>> & { final?: RunSummary['final']; totals?: Partial<RunSummary['totals']> };

export function fakeSummary(patch: SummaryPatch = {}): RunSummary {
  const { totals, ...rest } = patch;
  return {
    name: 'tiny',
    status: 'completed',
    reason: 'steps',
    model: 'mlp',
    dataset: 'synthetic',
    optimizer: 'lion',
    backend: 'cpu',
    parameterCount: 676,
    optimizerStateBytes: 2704,
    steps: 60,
    totalSteps: 60,
    epochs: 4.3,
    final: { train: { loss: 0.31, accuracy: 0.94 }, validation: { loss: 0.36, accuracy: 0.91 }, test: { loss: 0.34, accuracy: 0.92 } },
    best: { metric: 'validation.loss', value: 0.36, step: 60 },
    totals: { examples: 3840, flops: 14745600, trainSeconds: 0.5, wallSeconds: 0.6, examplesPerSecond: 7680, gflopsPerSecond: 0.03, ...totals },
    startedAt: '2026-11-25T21:00:00.000Z',
    finishedAt: '2026-11-25T21:00:01.000Z',
    configHash: 'c0ffee',
    ...rest,
  };
}

/** Validation evaluations at steps 20, 40, 60 with these accuracies and losses. */
export function fakeMetrics(accuracies = [0.78, 0.9, 0.91], losses = [0.7, 0.39, 0.36]): RunData['metrics'] {
  return accuracies.flatMap((accuracy, i) => [
    { step: 20 * (i + 1), split: 'train', loss: losses[i] + 0.05, accuracy: accuracy - 0.02, lr: 0.003 / (i + 1), elapsed: 0.2 * (i + 1) },
    { step: 20 * (i + 1), split: 'validation', loss: losses[i], accuracy, elapsed: 0.2 * (i + 1) + 0.01 },
  ]);
}

export function fakeRun(patch: SummaryPatch = {}, metrics = fakeMetrics()): RunData {
  return { dir: '/runs/tiny', summary: fakeSummary(patch), metrics, compute: [], config: undefined };
}

/** Writes a run directory (summary.json, metrics.jsonl, compute.jsonl) that the CLI can read. */
export function writeRunDir(dir: string, patch: SummaryPatch = {}, metrics = fakeMetrics()): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'summary.json'), JSON.stringify(fakeSummary(patch), null, 2));
  writeFileSync(join(dir, 'metrics.jsonl'), metrics.map((m) => JSON.stringify(m)).join('\n') + '\n');
  writeFileSync(join(dir, 'compute.jsonl'), metrics.filter((m) => m.split === 'train').map((m) => JSON.stringify({ step: m.step, examplesPerSecond: 4000 + m.step, flopsPerStep: 245760, optimizerStateBytes: 2704, backend: 'cpu' })).join('\n') + '\n');
  return dir;
}

/** A real run directory read back: metrics split by split, compute rows and the summary. */
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
