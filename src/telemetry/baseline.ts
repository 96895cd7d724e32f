/**
 * Baselines: the figures a run must keep (committed under baselines/), and the comparison behind
 * `lion-train regress` and `lion-train train --check`.
 *
 * A baseline file (YAML, or JSON with the same shape):
 *
 *   recorded:                       where the values came from (written by --update)
 *     run: tiny
 *     backend: cpu
 *     configHash: 4b1d21e6…         summary.json's configHash: model, data, optimizer kind, batch, seed
 *     versions: { lion-train: 0.1.0, "@tensorflow/tfjs": 4.22.0 }
 *     date: 2026-11-25T21:27:24.789Z
 *   metrics:
 *     final.test.accuracy: { value: 0.921875, better: higher, absolute: 0.02 }
 *     final.test.loss:     { value: 0.3404,   better: lower,  relative: 0.05 }
 *
 * Rules of the comparison:
 *   1. Only a completed run is compared; a running or interrupted one is a usage error (exit 2), a
 *      diverged or failed one regresses every metric (exit 3).
 *   2. A metric regresses when it is worse than the baseline by more than its tolerance (absolute, or
 *      relative to the baseline value); exactly at the tolerance holds. A 1e-9 relative slack absorbs
 *      decimal rounding (0.92 − 0.02 is not exactly 0.9 in binary).
 *   3. A metric the run does not have, an unknown metric name, or a baseline without values is a
 *      mismatched baseline (exit 2), never a silent pass.
 *   4. A different configHash means the run is a different experiment: exit 2, unless the caller
 *      allows it (then every metric is compared and a note says so).
 *   5. A different backend: quality and exact metrics are still compared (tolerances cover numerical
 *      differences), speed metrics are skipped with a note. Different package versions: a note.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { Document, isMap, isScalar, parseDocument } from 'yaml';
import { ConfigError, fileWhere, whereOf, type ConfigProblem } from '../config/problems.js';
import { didYouMean } from '../config/suggest.js';
import { parseYamlText } from '../config/yaml-file.js';
import { EXIT, UserError } from '../errors.js';
import { availableMetrics, EXACT_METRICS, isSpeedMetric, measure, METRIC_FORMS, parseMetric, SPEED_METRICS, usualDirection, type Direction, type MetricSpec, type MetricValue } from './metrics.js';
import type { RunData } from './run-reader.js';
import { formatNumber, textTable } from './table.js';
import { InputFileError, readInputText } from '../files/input-file.js';

export interface Tolerance {
  kind: 'absolute' | 'relative';
  amount: number;
}

export interface BaselineMetric {
  name: string;
  spec: MetricSpec;
  /** null: not recorded yet (run `regress --update`). */
  value: MetricValue | null;
  better: Direction;
  tolerance: Tolerance;
}

export interface Recorded {
  run?: string;
  backend?: string;
  configHash?: string;
  versions?: Record<string, string>;
  date?: string;
}

export interface Baseline {
  file: string;
  format: 'yaml' | 'json';
  recorded: Recorded;
  metrics: BaselineMetric[];
  /** The file's text, kept so --update can rewrite values without losing comments. */
  text: string;
}

export type Verdict = 'ok' | 'improved' | 'regressed' | 'skipped';

export interface ComparisonRow {
  metric: BaselineMetric;
  now: MetricValue | undefined;
  /** now − baseline, when both are numbers. */
  delta: number | undefined;
  verdict: Verdict;
  /** Why: the regression, the improvement or why the metric was skipped. */
  message: string;
}

export interface Comparison {
  run: RunData;
  baseline: Baseline;
  rows: ComparisonRow[];
  /** Differences in backend, versions or config that the reader must know about. */
  notes: string[];
  regressed: boolean;
}

const TOP_KEYS = ['recorded', 'metrics'];
const ENTRY_KEYS = ['value', 'better', 'absolute', 'relative'];
const RECORDED_KEYS = ['run', 'backend', 'configHash', 'versions', 'date'];

// ── Reading ──────────────────────────────────────────────────────────────────────────────────────

export function formatOf(file: string): 'yaml' | 'json' {
  return extname(file).toLowerCase() === '.json' ? 'json' : 'yaml';
}

/** Reads and checks a baseline file; every problem is reported together as a ConfigError (exit 2). */
export function loadBaseline(file: string): Baseline {
  let text: string;
  try {
    text = readInputText(file);
  } catch (error) {
    if (!(error instanceof InputFileError)) throw error;
    throw new ConfigError([{ where: file, path: '', message: error.reason === 'no such file' ? 'baseline file not found (create one with regress --update)' : error.reason }]);
  }
  return parseBaseline(text, file);
}

export function parseBaseline(text: string, file: string): Baseline {
  if (!text.trim() || /^(\s*#.*\n?)*\s*$/.test(text)) throw new ConfigError([{ where: fileWhere(file, 1, 1), path: '', message: 'empty baseline: expected a mapping with a metrics section' }]);
  const { data, origins } = parseYamlText(text, file);
  const problems: ConfigProblem[] = [];
  const problem = (path: string[], message: string, atKey = false) => problems.push({ where: whereOf(path, origins, file, atKey), path: path.join('.'), message });

  for (const key of Object.keys(data)) if (!TOP_KEYS.includes(key)) problem([key], `unknown key${didYouMean(key, TOP_KEYS)}; a baseline has ${TOP_KEYS.join(' and ')}`, true);

  const recorded: Recorded = {};
  if (data.recorded !== undefined && data.recorded !== null) {
    if (!isObject(data.recorded)) problem(['recorded'], 'must be a mapping');
    else {
      for (const [key, value] of Object.entries(data.recorded)) {
        if (!RECORDED_KEYS.includes(key)) problem(['recorded', key], `unknown key${didYouMean(key, RECORDED_KEYS)}; allowed: ${RECORDED_KEYS.join(', ')}`, true);
        else if (key === 'versions') {
          if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string' && typeof v !== 'number')) problem(['recorded', key], 'must map package names to versions');
          else recorded.versions = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
        } else if (typeof value !== 'string') problem(['recorded', key], 'must be a string');
        else (recorded as Record<string, string>)[key] = value;
      }
    }
  }

  const metrics: BaselineMetric[] = [];
  if (!isObject(data.metrics) || Object.keys(data.metrics).length === 0) {
    problem(['metrics'], 'a baseline needs a metrics mapping with at least one metric (name: { value, better, absolute | relative })');
  } else {
    for (const [name, entry] of Object.entries(data.metrics)) {
      const path = ['metrics', name];
      const spec = parseMetric(name);
      if (!spec) {
        problem(path, `unknown metric${suggestMetric(name, EXAMPLE_METRICS)}; a metric is one of ${METRIC_FORMS}`, true);
        continue;
      }
      if (!isObject(entry)) {
        problem(path, 'must be a mapping: { value, better: higher | lower, absolute: <tolerance> | relative: <fraction> }');
        continue;
      }
      for (const key of Object.keys(entry)) if (!ENTRY_KEYS.includes(key)) problem([...path, key], `unknown key${didYouMean(key, ENTRY_KEYS)}; allowed: ${ENTRY_KEYS.join(', ')}`, true);
      const { value, better, absolute, relative } = entry as Record<string, unknown>;
      let okValue: MetricValue | null = null;
      if (value === 'never' && spec.kind === 'stepsTo') okValue = 'never';
      else if (typeof value === 'number' && Number.isFinite(value)) okValue = value;
      else if (value !== null && value !== undefined) problem([...path, 'value'], `must be a number${spec.kind === 'stepsTo' ? ' or never' : ''} (or null until recorded), got ${JSON.stringify(value)}`);
      if (better !== 'higher' && better !== 'lower') problem([...path, 'better'], `must be higher or lower${typeof better === 'string' ? didYouMean(better, ['higher', 'lower']) : ''}, got ${JSON.stringify(better ?? null)}`);
      const given = [['absolute', absolute], ['relative', relative]].filter(([, v]) => v !== undefined) as [Tolerance['kind'], unknown][];
      if (given.length !== 1) {
        problem(path, given.length === 0 ? 'needs a tolerance: absolute: <amount> or relative: <fraction of the baseline value>' : 'give absolute or relative, not both');
        continue;
      }
      const [kind, amount] = given[0];
      if (typeof amount !== 'number' || !Number.isFinite(amount) || amount < 0) {
        problem([...path, kind], `must be a number >= 0, got ${JSON.stringify(amount)}`);
        continue;
      }
      if (better === 'higher' || better === 'lower') metrics.push({ name, spec, value: okValue, better, tolerance: { kind, amount } });
    }
  }
  if (problems.length > 0) throw new ConfigError(byPosition(problems));
  return { file, format: formatOf(file), recorded, metrics, text };
}

const EXAMPLE_METRICS = [
  ...['accuracy', 'loss', 'bitsPerChar'].flatMap((key) => ['test', 'validation', 'train'].flatMap((split) => [`final.${split}.${key}`, `best.${split}.${key}`])),
  'stepsTo(validation.accuracy>=0.9)',
  ...SPEED_METRICS,
  ...EXACT_METRICS,
];

/** " (did you mean …?)": a close spelling, or the same metric with a final./best. prefix or on another split. */
export function suggestMetric(name: string, candidates: readonly string[]): string {
  const close = didYouMean(name, candidates);
  if (close) return close;
  const prefixed = [`final.${name}`, `best.${name}`].filter((n) => candidates.includes(n));
  if (prefixed.length > 0) return ` (did you mean ${prefixed.join(' or ')}?)`;
  const spec = parseMetric(name);
  if (spec && spec.kind !== 'total') {
    const sameKey = candidates.filter((c) => {
      const other = parseMetric(c);
      return other !== undefined && other.kind === spec.kind && other.key === spec.key;
    });
    if (sameKey.length > 0) return ` (did you mean ${sameKey.join(' or ')}?)`;
  }
  return '';
}

function byPosition(problems: ConfigProblem[]): ConfigProblem[] {
  const rank = (p: ConfigProblem) => {
    const m = /:(\d+):(\d+)$/.exec(p.where);
    return m ? Number(m[1]) * 1e6 + Number(m[2]) : 0;
  };
  return [...problems].sort((a, b) => rank(a) - rank(b));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ── Comparing ────────────────────────────────────────────────────────────────────────────────────

export interface CompareOptions {
  /** Compare even when the run's configHash differs from the baseline's (a note says so). */
  allowConfigChange?: boolean;
}

export function compareRun(baseline: Baseline, run: RunData, options: CompareOptions = {}): Comparison {
  const { summary } = run;
  const { recorded } = baseline;
  if (summary.status === 'running' || summary.status === 'interrupted') {
    throw new UserError(`${run.dir} is not finished (status ${summary.status}${summary.reason ? `: ${summary.reason}` : ''}); only a finished run can be compared with a baseline`, EXIT.usage);
  }
  const unrecorded = baseline.metrics.filter((m) => m.value === null).map((m) => m.name);
  if (unrecorded.length > 0) throw new UserError(`${baseline.file} has no recorded value for ${unrecorded.join(', ')}; record them with: lion-train regress <run-dir> --baseline ${baseline.file} --update`, EXIT.usage);

  const notes: string[] = [];
  if (recorded.configHash && recorded.configHash !== summary.configHash) {
    const message = `the run's configHash ${short(summary.configHash)} differs from the baseline's ${short(recorded.configHash)}: model, data, optimizer, batch size or seed changed`;
    if (!options.allowConfigChange) throw new UserError(`mismatched baseline ${baseline.file}: ${message}; compare anyway with --allow-config-change, or re-record it with --update`, EXIT.usage);
    notes.push(`${message}; compared anyway (--allow-config-change)`);
  }
  const otherBackend = recorded.backend !== undefined && recorded.backend !== summary.backend;
  if (otherBackend) notes.push(`the baseline was recorded on the ${recorded.backend} backend and the run used ${summary.backend}: quality metrics compared, speed metrics skipped`);
  const versions = packageVersions();
  for (const [pkg, version] of Object.entries(recorded.versions ?? {})) {
    if (versions[pkg] !== undefined && versions[pkg] !== version) notes.push(`${pkg} is ${versions[pkg]} here; the baseline was recorded with ${version}`);
  }

  if (summary.status !== 'completed') {
    const why = `the run ${summary.status}: ${summary.reason}`;
    const rows = baseline.metrics.map((metric): ComparisonRow => ({ metric, now: undefined, delta: undefined, verdict: 'regressed', message: `${metric.name}: ${why}` }));
    return { run, baseline, rows, notes, regressed: true };
  }

  const available = availableMetrics(run);
  const missing: string[] = [];
  const rows: ComparisonRow[] = [];
  for (const metric of baseline.metrics) {
    if (otherBackend && isSpeedMetric(metric.spec)) {
      rows.push({ metric, now: measure(run, metric.spec, metric.better), delta: undefined, verdict: 'skipped', message: `${metric.name}: speed metric skipped (baseline on ${recorded.backend}, run on ${summary.backend})` });
      continue;
    }
    const now = measure(run, metric.spec, metric.better);
    if (now === undefined) {
      missing.push(`${metric.name}${suggestMetric(metric.name, available)}`);
      continue;
    }
    rows.push(judge(metric, now));
  }
  if (missing.length > 0) throw new UserError(`mismatched baseline ${baseline.file}: the run has no ${missing.join(', no ')}`, EXIT.usage);
  return { run, baseline, rows, notes, regressed: rows.some((r) => r.verdict === 'regressed') };
}

/** The verdict on one metric (rule 2). */
export function judge(metric: BaselineMetric, now: MetricValue): ComparisonRow {
  const base = metric.value as MetricValue;
  const [b, n] = [numeric(base), numeric(now)];
  const allowed = metric.tolerance.kind === 'absolute' ? metric.tolerance.amount : metric.tolerance.amount * Math.abs(b);
  // How much worse than the baseline (negative: better). "never" is infinitely many steps.
  const worse = b === n ? 0 : metric.better === 'higher' ? b - n : n - b;
  const slack = 1e-9 * Math.max(...[b, n, allowed].filter(Number.isFinite).map(Math.abs), 0);
  const delta = Number.isFinite(b) && Number.isFinite(n) ? n - b : undefined;
  const describe = `${metric.name} ${show(now)} vs baseline ${show(base)} (${metric.better} is better, tolerance ${toleranceText(metric.tolerance)})`;
  if (worse > allowed + slack) return { metric, now, delta, verdict: 'regressed', message: `${describe}: worse by ${showAmount(worse)}` };
  if (-worse > allowed + slack) return { metric, now, delta, verdict: 'improved', message: `${describe}: better by ${showAmount(-worse)}; re-record with --update to keep the gain` };
  return { metric, now, delta, verdict: 'ok', message: describe };
}

function numeric(value: MetricValue): number {
  return value === 'never' ? Infinity : value;
}

function short(hash: string | undefined): string {
  return (hash ?? 'none').slice(0, 12);
}

function show(value: MetricValue | null | undefined): string {
  return value === undefined || value === null ? '-' : value === 'never' ? 'never' : formatNumber(value);
}

function showAmount(amount: number): string {
  return Number.isFinite(amount) ? formatNumber(amount) : 'never reaching it';
}

export function toleranceText(tolerance: Tolerance): string {
  return tolerance.kind === 'absolute' ? `±${formatNumber(tolerance.amount)}` : `±${formatNumber(100 * tolerance.amount)}%`;
}

const VERDICT_TEXT: Record<Verdict, string> = { ok: 'ok', improved: 'improved', regressed: 'REGRESSED', skipped: 'skipped' };

/** The table regress prints: metric, baseline, now, delta, tolerance, verdict. */
export function comparisonTable(comparison: Comparison): string {
  return textTable({
    headers: ['metric', 'baseline', 'now', 'delta', 'tolerance', 'verdict'],
    rows: comparison.rows.map((row) => [
      row.metric.name,
      show(row.metric.value),
      show(row.now),
      row.delta === undefined ? '-' : `${row.delta > 0 ? '+' : ''}${formatNumber(row.delta)}`,
      toleranceText(row.metric.tolerance),
      VERDICT_TEXT[row.verdict],
    ]),
    align: ['left', 'right', 'right', 'right', 'right', 'left'],
  });
}

/** One line: how many metrics held, which regressed. */
export function comparisonVerdict(comparison: Comparison): string {
  const { rows } = comparison;
  const regressed = rows.filter((r) => r.verdict === 'regressed');
  const skipped = rows.filter((r) => r.verdict === 'skipped').length;
  const compared = rows.length - skipped;
  const skippedText = skipped > 0 ? `, ${skipped} skipped` : '';
  if (regressed.length === 0) return `${compared} of ${compared} metrics hold${skippedText} (${comparison.baseline.file})`;
  return `regression: ${regressed.length} of ${compared} metrics regressed${skippedText}: ${regressed.map((r) => r.metric.name).join(', ')} (${comparison.baseline.file})`;
}

// ── Recording (--update) ─────────────────────────────────────────────────────────────────────────

export function packageVersions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const read = (specifier: string) => {
    try {
      return String((require(specifier) as { version: string }).version);
    } catch {
      return undefined;
    }
  };
  const versions: Record<string, string> = {};
  const own = read('../../package.json');
  const tfjs = read('@tensorflow/tfjs/package.json');
  if (own) versions['lion-train'] = own;
  if (tfjs) versions['@tensorflow/tfjs'] = tfjs;
  return versions;
}

function recordedFrom(run: RunData): Recorded {
  return {
    run: run.summary.name,
    backend: run.summary.backend,
    configHash: run.summary.configHash,
    versions: packageVersions(),
    date: run.summary.finishedAt ?? new Date().toISOString(),
  };
}

/** Values measured from the run for each of the baseline's metrics; a metric the run lacks is an error. */
function measureAll(metrics: readonly BaselineMetric[], run: RunData, file: string): MetricValue[] {
  if (run.summary.status !== 'completed') throw new UserError(`cannot record a baseline from ${run.dir}: the run is ${run.summary.status}${run.summary.reason ? ` (${run.summary.reason})` : ''}, not completed`, EXIT.usage);
  const available = availableMetrics(run);
  const missing: string[] = [];
  const values = metrics.map((metric) => {
    const value = measure(run, metric.spec, metric.better);
    if (value === undefined) missing.push(`${metric.name}${suggestMetric(metric.name, available)}`);
    return value as MetricValue;
  });
  if (missing.length > 0) throw new UserError(`cannot update ${file}: the run has no ${missing.join(', no ')}`, EXIT.usage);
  return values;
}

/** The baseline's text with every value (and the recorded section) taken from the run; comments and layout kept. */
export function updatedBaselineText(baseline: Baseline, run: RunData): string {
  const values = measureAll(baseline.metrics, run, baseline.file);
  const recorded = recordedFrom(run);
  if (baseline.format === 'json') {
    const data = JSON.parse(baseline.text) as { recorded?: Recorded; metrics: Record<string, Record<string, unknown>> };
    const out = { recorded, metrics: data.metrics };
    baseline.metrics.forEach((metric, i) => (out.metrics[metric.name].value = values[i]));
    return `${JSON.stringify(out, null, 2)}\n`;
  }
  const doc = parseDocument(baseline.text, { version: '1.2' });
  setRecorded(doc, recorded);
  baseline.metrics.forEach((metric, i) => {
    const node = doc.getIn(['metrics', metric.name, 'value'], true);
    if (isScalar(node)) node.value = values[i];
    else doc.setIn(['metrics', metric.name, 'value'], values[i]);
  });
  return doc.toString({ lineWidth: 0 });
}

function setRecorded(doc: Document, recorded: Recorded): void {
  const existing = doc.get('recorded', true);
  if (isMap(existing)) {
    for (const [key, value] of Object.entries(recorded)) doc.setIn(['recorded', key], value);
    const versions = doc.getIn(['recorded', 'versions'], true);
    if (isMap(versions)) versions.flow = true;
    return;
  }
  const node = doc.createNode(recorded);
  const versions = node.get('versions', true);
  if (isMap(versions)) versions.flow = true;
  if (doc.has('recorded')) doc.set('recorded', node);
  else if (isMap(doc.contents)) doc.contents.items.unshift(doc.createPair('recorded', node));
}

/** A new baseline from a run: its final test (or validation) quality, best validation loss, optimizer state. */
export function newBaselineText(run: RunData, file: string): string {
  const names: { name: string; tolerance: Tolerance }[] = [];
  const final = run.summary.final;
  const split = final.test ? 'test' : final.validation ? 'validation' : 'train';
  const values = final[split] ?? {};
  if ('accuracy' in values) names.push({ name: `final.${split}.accuracy`, tolerance: { kind: 'absolute', amount: 0.02 } });
  if ('loss' in values) names.push({ name: `final.${split}.loss`, tolerance: { kind: 'relative', amount: 0.05 } });
  if ('bitsPerChar' in values) names.push({ name: `final.${split}.bitsPerChar`, tolerance: { kind: 'relative', amount: 0.02 } });
  if (final.validation && 'loss' in final.validation) names.push({ name: 'best.validation.loss', tolerance: { kind: 'relative', amount: 0.05 } });
  names.push({ name: 'optimizerStateBytes', tolerance: { kind: 'absolute', amount: 0 } });
  const metrics: BaselineMetric[] = names.map(({ name, tolerance }) => {
    const spec = parseMetric(name)!;
    return { name, spec, value: null, better: usualDirection(spec), tolerance };
  });
  const measured = measureAll(metrics, run, file);
  const entries = Object.fromEntries(metrics.map((m, i) => [m.name, { value: measured[i], better: m.better, [m.tolerance.kind]: m.tolerance.amount }]));
  const data = { recorded: recordedFrom(run), metrics: entries };
  if (formatOf(file) === 'json') return `${JSON.stringify(data, null, 2)}\n`;
  const doc = new Document(data);
  const versions = doc.getIn(['recorded', 'versions'], true);
  if (isMap(versions)) versions.flow = true;
  const metricsNode = doc.get('metrics', true);
  if (isMap(metricsNode)) for (const pair of metricsNode.items) if (isMap(pair.value)) pair.value.flow = true;
  doc.commentBefore = ' lion-train baseline: `lion-train regress <run-dir> --baseline <this file>` compares a run with it.\n Edit the metric list, directions (better) and tolerances (absolute | relative); --update re-records the values.';
  return doc.toString({ lineWidth: 0 });
}

/** True when the file exists (regress --update creates a default baseline otherwise). */
export function baselineExists(file: string): boolean {
  return existsSync(file);
}
