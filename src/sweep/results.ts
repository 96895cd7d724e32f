/**
 * A sweep's results: one row per trial that has a run directory, sorted by the sweep's metric (best
 * first; trials without the metric last), as a terminal table, results.md and results.json.
 */
import { join, relative } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../atomic-write.js';
import { isRunDir, readSummary } from '../telemetry/run-reader.js';
import type { RunSummary } from '../telemetry/summary.js';
import { formatNumber, formatPercent, formatSeconds, markdownTable, textTable, type Table } from '../telemetry/table.js';
import type { Trial } from './grid.js';

export interface TrialResult {
  name: string;
  overrides: Record<string, unknown>;
  dir: string;
  status: RunSummary['status'] | 'not run';
  reason: string;
  /** The sweep metric's value, when the run has it. */
  value: number | undefined;
  optimizer: string | undefined;
  steps: number | undefined;
  final: RunSummary['final'];
  wallSeconds: number | undefined;
}

export interface SweepResults {
  metric: string;
  better: 'higher' | 'lower';
  trials: TrialResult[];
}

/** Higher is better for accuracy, lower for everything else (loss, bitsPerChar, perplexity). */
export function metricDirection(metric: string): 'higher' | 'lower' {
  return /accuracy/i.test(metric) ? 'higher' : 'lower';
}

/** `test.accuracy` → summary.final.test.accuracy. */
export function metricOf(summary: RunSummary, metric: string): number | undefined {
  const [split, key] = metric.split('.');
  const value = summary.final[split as keyof RunSummary['final']]?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function collectResults(sweepDir: string, trials: readonly Trial[], metric: string): SweepResults {
  const better = metricDirection(metric);
  const rows = trials.map((trial): TrialResult => {
    const dir = join(sweepDir, trial.name);
    let summary: RunSummary | undefined;
    try {
      summary = isRunDir(dir) ? readSummary(dir) : undefined;
    } catch {
      summary = undefined;
    }
    return {
      name: trial.name,
      overrides: trial.overrides,
      dir: relative(sweepDir, dir),
      status: summary?.status ?? 'not run',
      reason: summary?.reason ?? '',
      value: summary ? metricOf(summary, metric) : undefined,
      optimizer: summary?.optimizer,
      steps: summary?.steps,
      final: summary?.final ?? {},
      wallSeconds: summary?.totals.wallSeconds,
    };
  });
  const sign = better === 'higher' ? -1 : 1;
  rows.sort((a, b) => {
    if (a.value === undefined || b.value === undefined) return a.value === undefined ? (b.value === undefined ? 0 : 1) : -1;
    return sign * (a.value - b.value);
  });
  return { metric, better, trials: rows };
}

function resultsTable(results: SweepResults): Table {
  const percent = /accuracy/i.test(results.metric);
  return {
    headers: ['#', 'trial', 'status', `${results.metric} (${results.better} is better)`, 'test accuracy', 'test loss', 'steps', 'wall time'],
    rows: results.trials.map((t, i) => [
      String(i + 1),
      t.name,
      t.status,
      percent ? formatPercent(t.value) : formatNumber(t.value),
      formatPercent(t.final.test?.accuracy),
      formatNumber(t.final.test?.loss),
      t.steps === undefined ? '-' : String(t.steps),
      formatSeconds(t.wallSeconds),
    ]),
    align: ['right', 'left', 'left', 'right', 'right', 'right', 'right', 'right'],
  };
}

export function resultsText(results: SweepResults): string {
  return textTable(resultsTable(results));
}

export function resultsMarkdown(results: SweepResults, title: string): string {
  return `# ${title}\n\nTrials sorted by ${results.metric} (${results.better} is better).\n\n${markdownTable(resultsTable(results))}\n`;
}

export function writeResults(sweepDir: string, results: SweepResults, title: string): void {
  writeJsonAtomic(join(sweepDir, 'results.json'), results);
  writeFileAtomic(join(sweepDir, 'results.md'), resultsMarkdown(results, title));
}
