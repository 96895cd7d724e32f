/**
 * The metrics a baseline can name, and how each is measured from a finished run directory.
 *
 *   final.<split>.<name>               summary.json's final evaluation        final.test.accuracy
 *   best.<split>.<name>                best logged value in metrics.jsonl     best.validation.loss
 *                                      (min or max by the metric's direction)
 *   stepsTo(<split>.<name> >= <x>)     first logged step where the value      stepsTo(validation.accuracy>=0.9)
 *   stepsTo(<split>.<name> <= <x>)     crosses x ("never" if it did not)
 *   examplesPerSecond, gflopsPerSecond, stepTimeMs, trainSeconds, wallSeconds     speed (machine-dependent)
 *   optimizerStateBytes, parameterCount, steps, flops                             exact
 */
import type { RunData } from './run-reader.js';

export type Split = 'train' | 'validation' | 'test';
export type Direction = 'higher' | 'lower';
/** A measured value: a number, or "never" for a stepsTo target the run did not reach. */
export type MetricValue = number | 'never';

export type MetricSpec =
  | { kind: 'final' | 'best'; split: Split; key: string }
  | { kind: 'stepsTo'; split: Split; key: string; op: '>=' | '<='; target: number }
  | { kind: 'total'; key: TotalKey };

export const SPEED_METRICS = ['examplesPerSecond', 'gflopsPerSecond', 'stepTimeMs', 'trainSeconds', 'wallSeconds'] as const;
export const EXACT_METRICS = ['optimizerStateBytes', 'parameterCount', 'steps', 'flops'] as const;
export type TotalKey = (typeof SPEED_METRICS)[number] | (typeof EXACT_METRICS)[number];
const TOTALS: readonly string[] = [...SPEED_METRICS, ...EXACT_METRICS];

/** The forms a metric name takes, for error messages. */
export const METRIC_FORMS = `final.<split>.<name>, best.<split>.<name>, stepsTo(<split>.<name>>=<number>) (or <=), ${TOTALS.join(', ')}; <split> is train, validation or test`;

const NAME = '[A-Za-z][A-Za-z0-9]*';
const SPLIT = '(train|validation|test)';
const NUMBER = '[-+]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][-+]?\\d+)?';
const FINAL_OR_BEST = new RegExp(`^(final|best)\\.${SPLIT}\\.(${NAME})$`);
const STEPS_TO = new RegExp(`^stepsTo\\(\\s*${SPLIT}\\.(${NAME})\\s*(>=|<=)\\s*(${NUMBER})\\s*\\)$`);

/** Parses a metric name; undefined when it has none of the forms in METRIC_FORMS. */
export function parseMetric(name: string): MetricSpec | undefined {
  const fb = FINAL_OR_BEST.exec(name);
  if (fb) return { kind: fb[1] as 'final' | 'best', split: fb[2] as Split, key: fb[3] };
  const st = STEPS_TO.exec(name);
  if (st) return { kind: 'stepsTo', split: st[1] as Split, key: st[2], op: st[3] as '>=' | '<=', target: Number(st[4]) };
  if (TOTALS.includes(name)) return { kind: 'total', key: name as TotalKey };
  return undefined;
}

export function isSpeedMetric(spec: MetricSpec): boolean {
  return spec.kind === 'total' && (SPEED_METRICS as readonly string[]).includes(spec.key);
}

/** The direction a metric usually improves in: accuracy and throughput up, everything else down. */
export function usualDirection(spec: MetricSpec): Direction {
  if (spec.kind === 'total') return spec.key === 'examplesPerSecond' || spec.key === 'gflopsPerSecond' ? 'higher' : 'lower';
  if (spec.kind === 'stepsTo') return 'lower';
  return /accuracy/i.test(spec.key) ? 'higher' : 'lower';
}

/** The metric's value in the run, or undefined when the run does not have it. */
export function measure(run: RunData, spec: MetricSpec, direction: Direction): MetricValue | undefined {
  const { summary } = run;
  switch (spec.kind) {
    case 'final': {
      const value = summary.final[spec.split]?.[spec.key];
      return typeof value === 'number' ? value : undefined;
    }
    case 'best': {
      const values = logged(run, spec.split, spec.key).map((r) => r.value);
      if (values.length === 0) return undefined;
      return direction === 'higher' ? Math.max(...values) : Math.min(...values);
    }
    case 'stepsTo': {
      const records = logged(run, spec.split, spec.key);
      if (records.length === 0) return undefined;
      const hit = records.find((r) => (spec.op === '>=' ? r.value >= spec.target : r.value <= spec.target));
      return hit ? hit.step : 'never';
    }
    case 'total': {
      const totals = summary.totals as unknown as Record<string, number | undefined>;
      switch (spec.key) {
        case 'optimizerStateBytes':
        case 'parameterCount':
        case 'steps':
          return summary[spec.key];
        case 'stepTimeMs':
          return summary.steps > 0 ? (1000 * summary.totals.trainSeconds) / summary.steps : undefined;
        default:
          return totals[spec.key];
      }
    }
  }
}

/** Finite numeric values of `key` logged for `split` in metrics.jsonl, by step. */
function logged(run: RunData, split: Split, key: string): { step: number; value: number }[] {
  return run.metrics
    .filter((r) => r.split === split && typeof r[key] === 'number' && Number.isFinite(r[key]))
    .map((r) => ({ step: r.step, value: r[key] as number }))
    .sort((a, b) => a.step - b.step);
}

/** Metric names the run can answer, for "did you mean" suggestions and the default baseline. */
export function availableMetrics(run: RunData): string[] {
  const names: string[] = [];
  for (const [split, values] of Object.entries(run.summary.final)) {
    for (const key of Object.keys(values ?? {})) names.push(`final.${split}.${key}`);
  }
  const loggedKeys = new Set<string>();
  for (const record of run.metrics) {
    for (const [key, value] of Object.entries(record)) {
      if (typeof value === 'number' && !['step', 'epoch', 'elapsed', 'lr', 'gradNorm', 'updateNorm'].includes(key)) loggedKeys.add(`best.${String(record.split)}.${key}`);
    }
  }
  return [...names, ...loggedKeys, ...TOTALS];
}
