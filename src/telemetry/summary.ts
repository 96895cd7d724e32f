/** summary.json: the outcome of a run, rewritten atomically as the run goes (status running → final). */
import { writeJsonAtomic } from '../atomic-write.js';
import type { AdapterInfo } from '../webgpu.js';

export type RunStatus = 'running' | 'completed' | 'diverged' | 'interrupted' | 'failed';

export type SplitMetrics = Record<string, number>;

export interface RunSummary {
  name: string;
  status: RunStatus;
  /** Why training stopped: steps, epochs, time, early-stopping, diverged at step N, a signal, an error. */
  reason: string;
  model: string;
  dataset: string;
  optimizer: string;
  backend: string;
  /** webgpu: the adapter (vendor, architecture, device, driver). */
  adapter?: AdapterInfo;
  parameterCount: number;
  optimizerStateBytes: number;
  steps: number;
  totalSteps: number;
  epochs: number;
  final: { train?: SplitMetrics; validation?: SplitMetrics; test?: SplitMetrics };
  best: { metric: string; value: number; step: number } | null;
  totals: { examples: number; flops: number; trainSeconds: number; wallSeconds: number; examplesPerSecond: number; gflopsPerSecond: number };
  startedAt: string;
  finishedAt: string | null;
  configHash: string;
}

export function writeSummary(path: string, summary: RunSummary): void {
  writeJsonAtomic(path, summary);
}

/** The summary's totals from the running sums a checkpoint keeps: rates per second of training time. */
export function summaryTotals(totals: { examples: number; flops: number; trainSeconds: number; wallSeconds: number }): RunSummary['totals'] {
  const perSecond = (value: number) => (totals.trainSeconds > 0 ? value / totals.trainSeconds : 0);
  return { ...totals, examplesPerSecond: perSecond(totals.examples), gflopsPerSecond: perSecond(totals.flops) / 1e9 };
}
