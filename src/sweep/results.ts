/**
 * A sweep's results: one row per trial that has a run directory, sorted by the sweep's metric (best
 * first; trials without the metric last), as a terminal table, results.md and results.json. When the
 * sweep varies train.seed, a second table aggregates each setting over its seeds: mean ± sample
 * standard deviation (n − 1) of the metric over the seeds whose trial measured it, best mean first.
 */
import { join, relative } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../atomic-write.js';
import { isRunDir, readSummary } from '../telemetry/run-reader.js';
import type { RunSummary } from '../telemetry/summary.js';
import { formatNumber, formatPercent, formatSeconds, markdownTable, textTable, type Table } from '../telemetry/table.js';
import { formatValue } from '../telemetry/run-reader.js';
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

/** One setting (every swept value but train.seed) over its seeds. */
export interface SettingResult {
  setting: string;
  overrides: Record<string, unknown>;
  /** Seeds whose trial measured the metric. */
  seeds: unknown[];
  n: number;
  mean: number | undefined;
  /** Sample standard deviation; undefined for fewer than 2 values. */
  std: number | undefined;
}

export interface SweepResults {
  metric: string;
  better: 'higher' | 'lower';
  trials: TrialResult[];
  /** Present when the sweep varies train.seed. */
  bySetting?: SettingResult[];
}

const SEED = 'train.seed';

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
  const byValue = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? (a === undefined ? (b === undefined ? 0 : 1) : -1) : sign * (a - b));
  rows.sort((a, b) => byValue(a.value, b.value));
  const seeded = trials.some((t) => SEED in t.overrides) && new Set(trials.map((t) => JSON.stringify(t.overrides[SEED]))).size > 1;
  return { metric, better, trials: rows, ...(seeded ? { bySetting: aggregateSeeds(rows).sort((a, b) => byValue(a.mean, b.mean)) } : {}) };
}

/** Groups trials by every swept value but train.seed, in the order the settings first appear. */
function aggregateSeeds(rows: readonly TrialResult[]): SettingResult[] {
  const groups = new Map<string, { overrides: Record<string, unknown>; seeds: unknown[]; values: number[] }>();
  for (const row of rows) {
    const { [SEED]: seed, ...rest } = row.overrides;
    const key = JSON.stringify(rest);
    const group = groups.get(key) ?? { overrides: rest, seeds: [], values: [] };
    groups.set(key, group);
    if (row.value !== undefined) {
      group.seeds.push(seed);
      group.values.push(row.value);
    }
  }
  return [...groups.values()].map(({ overrides, seeds, values }) => {
    const n = values.length;
    const mean = n > 0 ? values.reduce((a, b) => a + b, 0) / n : undefined;
    const std = n > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - mean!) ** 2, 0) / (n - 1)) : undefined;
    const setting = Object.entries(overrides).map(([k, v]) => `${k}=${formatValue(v)}`).join(',') || 'base';
    return { setting, overrides, seeds, n, mean, std };
  });
}

/** Extra columns beside the sweep's metric: the usual quality figures, never the metric again, only when some trial has them. */
const EXTRA_COLUMNS = ['test.accuracy', 'test.loss', 'validation.bitsPerChar'] as const;

function formatMetric(metric: string, value: number | undefined): string {
  return /accuracy/i.test(metric) ? formatPercent(value) : formatNumber(value);
}

function resultsTable(results: SweepResults): Table {
  const extra = EXTRA_COLUMNS.filter((c) => c !== results.metric && results.trials.some((t) => metricOf({ final: t.final } as RunSummary, c) !== undefined));
  return {
    headers: ['#', 'trial', 'status', `${results.metric} (${results.better} is better)`, ...extra.map((c) => c.replace('.', ' ')), 'steps', 'wall time'],
    rows: results.trials.map((t, i) => [
      String(i + 1),
      t.name,
      t.status,
      formatMetric(results.metric, t.value),
      ...extra.map((c) => formatMetric(c, metricOf({ final: t.final } as RunSummary, c))),
      t.steps === undefined ? '-' : String(t.steps),
      formatSeconds(t.wallSeconds),
    ]),
    align: ['right', 'left', 'left', 'right', ...extra.map(() => 'right' as const), 'right', 'right'],
  };
}

function settingsTable(results: SweepResults): Table {
  const spread = (s: SettingResult) => (s.std === undefined ? '' : ` ± ${/accuracy/i.test(results.metric) ? `${(100 * s.std).toFixed(2)}%` : formatNumber(s.std)}`);
  return {
    headers: ['#', 'setting', 'seeds', `${results.metric} mean ± std`],
    rows: results.bySetting!.map((s, i) => [String(i + 1), s.setting, String(s.n), s.mean === undefined ? '-' : `${formatMetric(results.metric, s.mean)}${spread(s)}`]),
    align: ['right', 'left', 'right', 'right'],
  };
}

export function resultsText(results: SweepResults): string {
  const trials = textTable(resultsTable(results));
  return results.bySetting ? `${trials}\n\nOver seeds (mean ± sample std):\n${textTable(settingsTable(results))}` : trials;
}

export function resultsMarkdown(results: SweepResults, title: string): string {
  const bySetting = results.bySetting ? `\n## Over seeds\n\nEach setting's ${results.metric} over its seeds: mean ± sample standard deviation, best mean first.\n\n${markdownTable(settingsTable(results))}\n` : '';
  return `# ${title}\n\nTrials sorted by ${results.metric} (${results.better} is better).\n\n${markdownTable(resultsTable(results))}\n${bySetting}`;
}

export function writeResults(sweepDir: string, results: SweepResults, title: string): void {
  writeJsonAtomic(join(sweepDir, 'results.json'), results);
  writeFileAtomic(join(sweepDir, 'results.md'), resultsMarkdown(results, title));
}
