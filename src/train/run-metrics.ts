/**
 * The metrics a run will measure, known from its config alone, and the check of every metric name a
 * config or command gives (checkpoint.bestMetric, train.earlyStopping.metric, sweep.metric / --metric).
 *
 *   split        measured                                       names
 *   train        every log.everySteps, and in summary.final     loss, accuracy (+ bitsPerChar, perplexity
 *   validation   every train.evalEvery and at the end, when        for a language model)
 *                the data holds a validation split out
 *   test         once, at the end, when the data has a test split
 *
 * A best checkpoint and early stopping compare values measured during training, so `test.*` is refused
 * there; a sweep ranks by a final value, so any split the run has will do.
 */
import type { LoadedConfig, RunConfig } from '../config/index.js';
import { whereOf, type ConfigProblem } from '../config/problems.js';
import { closest } from '../config/suggest.js';
import type { DataFamily } from '../data/dataset.js';
import { dataFamily } from '../data/registry.js';
import { derivedMetrics, taskOf, type TaskKind } from './task.js';

export type MetricSplit = 'train' | 'validation' | 'test';

export interface RunMetrics {
  task: TaskKind;
  /** Metric names (`validation.loss`) by split; a split the run does not have is absent. */
  splits: Partial<Record<MetricSplit, string[]>>;
  /** Why a split is absent, for messages. */
  missing: Partial<Record<MetricSplit, string>>;
}

/** What each evaluated split reports: the names evaluate() and the loop write for this task. */
export function metricKeys(task: TaskKind): string[] {
  return ['loss', 'accuracy', ...Object.keys(derivedMetrics(task, 1))];
}

/**
 * The metrics a run of this (resolved) config will measure. `family`: the data family already loaded (a
 * data module's); without one the built-in family of `data.name` is used, and a data module is taken to
 * be a classifier. A family without `splits()` (a module's, optionally) is taken to hold out both splits.
 */
export function runMetrics(config: RunConfig, family?: DataFamily): RunMetrics {
  const data = config.data as unknown as { name?: string; module?: string };
  const chosen = family ?? (data.module === undefined ? dataFamily(data.name!) : undefined);
  const kind = chosen ? chosen.describe(config.data as never).kind : 'vector';
  const task = taskOf({ kind, shape: [], classes: 0 });
  const held = chosen?.splits ? chosen.splits(config.data as never) : { validation: true, test: true };
  const keys = metricKeys(task);
  const names = (split: MetricSplit) => keys.map((key) => `${split}.${key}`);
  const splits: RunMetrics['splits'] = { train: names('train') };
  const missing: RunMetrics['missing'] = {};
  if (held.validation) splits.validation = names('validation');
  else missing.validation = `this run holds out no validation split (data.validationFraction is ${(config.data as { validationFraction?: number }).validationFraction ?? 0})`;
  if (held.test) splits.test = names('test');
  else missing.test = `${config.data.name} data has no test split${config.data.name === 'csv' ? ' (data.testFraction is 0)' : ''}`;
  return { task, splits, missing };
}

export type MetricUse = 'during' | 'final';

/**
 * Why `name` cannot serve as a metric for `use` in this run, or undefined when it can.
 * `during`: compared while training (best checkpoint, early stopping); `final`: read from summary.final.
 */
export function metricProblem(name: string, use: MetricUse, metrics: RunMetrics): string | undefined {
  const usable = (Object.keys(metrics.splits) as MetricSplit[]).filter((s) => use === 'final' || s !== 'test').flatMap((s) => metrics.splits[s]!);
  if (usable.includes(name)) return undefined;
  const [split, key] = name.split('.') as [MetricSplit, string];
  const suggestion = suggest(split, key ?? '', usable);
  const hint = suggestion ? ` (did you mean ${suggestion}?)` : '';
  const listed = `; measured${use === 'during' ? ' during training' : ''}: ${usable.join(', ')}`;
  if (split === 'test' && use === 'during' && metrics.splits.test?.includes(name)) {
    return `${name} is measured only once, at the end of training, so it cannot pick a best checkpoint or stop early${hint}${listed}`;
  }
  if (metrics.missing[split] && metricKeys(metrics.task).includes(key)) return `${name} is never measured: ${metrics.missing[split]}${hint}${listed}`;
  if (['bitsPerChar', 'perplexity'].includes(key) && metrics.task !== 'language') return `${name} is measured only for language models (text data), this run classifies${hint}${listed}`;
  return `${name} is not a metric this run measures${hint}${listed}`;
}

/**
 * The closest usable name: a near spelling, a key the given one begins (`validation.acc`), or the same
 * key on another split (validation first: it is what a best checkpoint or a ranking usually wants).
 */
function suggest(split: string, key: string, usable: readonly string[]): string | undefined {
  const near = closest(`${split}.${key}`, usable);
  if (near) return near;
  const keys = [...new Set(usable.map((name) => name.split('.')[1]))];
  const fullKey = closest(key, keys) ?? (key.length >= 2 ? keys.find((k) => k.toLowerCase().startsWith(key.toLowerCase())) : undefined);
  if (!fullKey) return undefined;
  return [`${split}.${fullKey}`, `validation.${fullKey}`, `train.${fullKey}`].find((name) => usable.includes(name));
}

/**
 * Problems with the metric names of a loaded config: a written checkpoint.bestMetric, any early-stopping
 * metric, and a written sweep.metric (read from summary.final, so test.* will do).
 */
export function configMetricProblems(loaded: LoadedConfig, metrics: RunMetrics = runMetrics(loaded.config)): ConfigProblem[] {
  const { config, origins, file } = loaded;
  const problems: ConfigProblem[] = [];
  const check = (path: string, name: string, use: MetricUse = 'during') => {
    const message = metricProblem(name, use, metrics);
    if (message) problems.push({ where: whereOf(path.split('.'), origins, file), path, message });
  };
  // The default bestMetric (validation.loss) is only a default: without a validation split there is simply no best checkpoint.
  const bestOrigin = origins.get('checkpoint.bestMetric');
  if (bestOrigin && bestOrigin.kind !== 'default') check('checkpoint.bestMetric', config.checkpoint.bestMetric);
  if (config.train.earlyStopping) check('train.earlyStopping.metric', config.train.earlyStopping.metric);
  const sweepOrigin = origins.get('sweep.metric');
  if (config.sweep && sweepOrigin && sweepOrigin.kind !== 'default') check('sweep.metric', config.sweep.metric, 'final');
  return problems;
}
