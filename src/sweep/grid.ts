/**
 * A sweep's trials: the product of every grid list and every paired group (whose lists move
 * together), in a fixed order: the first dimension varies slowest, as nested loops would.
 *
 *   grid:   { optimizer.name: [lion, adamw], train.seed: [0, 1] }     → 4 trials
 *   paired: [{ optimizer.name: [lion, adamw],
 *              optimizer.learningRate: [3e-4, 3e-3] }]               → 2 trials (lion with 3e-4, adamw with 3e-3)
 *
 * Grid dimensions come first (in the order written), then paired groups. A trial's name lists its
 * settings (`optimizer.name=lion,optimizer.learningRate=3e-4`), so it is readable and stays the same
 * as long as the sweep does; it names the trial's run directory.
 */
import { createHash } from 'node:crypto';
import { parse } from 'yaml';
import { ConfigError, type ConfigProblem } from '../config/problems.js';
import { FORBIDDEN_KEYS } from '../config/problems.js';
import { formatValue } from '../telemetry/run-reader.js';

export interface SweepSpec {
  /** Key path → values; each key is one dimension. */
  grid: Record<string, unknown[]>;
  /** Each group is one dimension: its lists (of equal length) move together. */
  paired: Record<string, unknown[]>[];
}

export interface Trial {
  /** Position in the full trial list (0-based): the order of expansion. */
  index: number;
  /** Readable, stable, safe as a directory name. */
  name: string;
  /** Key path → value, in dimension order. */
  overrides: Record<string, unknown>;
}

const KEY_PATH = /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*$/;
const MAX_NAME = 120;

// ── Command-line forms ───────────────────────────────────────────────────────────────────────────

/** Splits on commas outside brackets, braces and quotes: `[1,2],[3,4]` → `[1,2]`, `[3,4]`. */
export function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let current = '';
  for (const char of text) {
    if (quote) {
      if (char === quote) quote = null;
    } else if (char === '"' || char === "'") quote = char;
    else if (char === '[' || char === '{') depth++;
    else if (char === ']' || char === '}') depth--;
    else if (char === separator && depth === 0) {
      parts.push(current);
      current = '';
      continue;
    }
    current += char;
  }
  parts.push(current);
  return parts;
}

/** `--grid key.path=v1,v2,v3`: each value parsed as YAML, as --set does. */
export function parseGridArg(arg: string): [string, unknown[]] {
  const where = `--grid ${arg}`;
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new ConfigError([{ where, path: '', message: 'expected key.path=value1,value2,…' }]);
  const key = arg.slice(0, eq).trim();
  const texts = splitTopLevel(arg.slice(eq + 1), ',');
  const values = texts.map((text) => {
    try {
      return parse(text) ?? null;
    } catch (error) {
      throw new ConfigError([{ where, path: '', message: `value ${JSON.stringify(text)} is not valid YAML: ${(error as Error).message.split('\n')[0]}` }]);
    }
  });
  return [key, values];
}

/** `--paired "k1=a,b;k2=c,d"`: one paired group, its lists separated by semicolons. */
export function parsePairedArg(arg: string): Record<string, unknown[]> {
  return Object.fromEntries(splitTopLevel(arg, ';').filter((part) => part.trim()).map((part) => parseGridArg(part.trim())));
}

// ── Checking and expanding ───────────────────────────────────────────────────────────────────────

export function sweepProblems(spec: SweepSpec, where: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  const checkKey = (key: string, path: string) => {
    if (!KEY_PATH.test(key) || key.split('.').some((segment) => FORBIDDEN_KEYS.has(segment))) problems.push({ where, path, message: `"${key}" is not a config key path (e.g. optimizer.learningRate)` });
    if (seen.has(key)) problems.push({ where, path, message: `${key} is swept twice (in grid and paired, or in two paired groups)` });
    seen.add(key);
  };
  for (const [key, values] of Object.entries(spec.grid)) {
    checkKey(key, `sweep.grid.${key}`);
    if (!Array.isArray(values) || values.length === 0) problems.push({ where, path: `sweep.grid.${key}`, message: 'needs a list of at least one value' });
  }
  spec.paired.forEach((group, i) => {
    const lengths = Object.entries(group).map(([key, values]) => {
      checkKey(key, `sweep.paired.${i}.${key}`);
      return Array.isArray(values) ? values.length : 0;
    });
    if (lengths.length === 0) problems.push({ where, path: `sweep.paired.${i}`, message: 'an empty paired group' });
    else if (new Set(lengths).size > 1) {
      problems.push({ where, path: `sweep.paired.${i}`, message: `lists that move together must have equal lengths; got ${Object.entries(group).map(([k, v]) => `${k}: ${v.length}`).join(', ')}` });
    }
  });
  return problems;
}

/** Every trial, in expansion order. Call sweepProblems first: this assumes a consistent spec. */
export function expandTrials(spec: SweepSpec): Trial[] {
  const dimensions: Record<string, unknown>[][] = [
    ...Object.entries(spec.grid).map(([key, values]) => values.map((value) => ({ [key]: value }))),
    ...spec.paired.map((group) => {
      const entries = Object.entries(group);
      return entries[0][1].map((_, i) => Object.fromEntries(entries.map(([key, values]) => [key, values[i]])));
    }),
  ];
  let combos: Record<string, unknown>[] = [{}];
  for (const dimension of dimensions) combos = combos.flatMap((combo) => dimension.map((choice) => ({ ...combo, ...choice })));
  const exponent = exponentKeys(spec);
  // Names that collide (after sanitising, or in case only) are refused by prepare.ts before anything runs.
  return combos.map((overrides, index) => ({ index, name: trialName(overrides, exponent), overrides }));
}

/**
 * Keys whose numbers are all written in exponent form in trial names, so one dimension reads
 * `1e-4, 3e-3, 1e-2` rather than `1e-4, 3e-3, 0.01`: those where any value's shortest form is one.
 */
export function exponentKeys(spec: SweepSpec): Set<string> {
  const lists: [string, unknown[]][] = [...Object.entries(spec.grid), ...spec.paired.flatMap((group) => Object.entries(group))];
  return new Set(lists.filter(([, values]) => values.some((v) => typeof v === 'number' && /e/.test(formatValue(v)))).map(([key]) => key));
}

/** A value as a trial name shows it: numbers in exponent form when their dimension uses it (0 stays 0). */
export function formatTrialValue(value: unknown, exponent: boolean): string {
  if (typeof value === 'number' && exponent && value !== 0) return value.toExponential().replace('e+', 'e');
  return formatValue(value);
}

/** `optimizer.name=lion,optimizer.learningRate=3e-4`, with characters unsafe in paths replaced by `_`. */
export function trialName(overrides: Record<string, unknown>, exponent: ReadonlySet<string> = new Set()): string {
  const raw = Object.entries(overrides).map(([key, value]) => `${key}=${formatTrialValue(value, exponent.has(key))}`).join(',') || 'base';
  const safe = raw.replace(/[^A-Za-z0-9._=,+-]/g, '_').replace(/^[.-]/, '_');
  return safe.length <= MAX_NAME ? safe : `${safe.slice(0, MAX_NAME - 9)}~${hashOf(overrides)}`;
}

function hashOf(overrides: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(overrides)).digest('hex').slice(0, 8);
}

/** The `--set` arguments that make a trial. */
export function trialSets(trial: Trial): string[] {
  return Object.entries(trial.overrides).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
}

// ── Shards ───────────────────────────────────────────────────────────────────────────────────────

export interface Shard {
  /** 0-based, as Kubernetes' JOB_COMPLETION_INDEX and `sbatch --array=0-(n-1)` count. */
  index: number;
  count: number;
}

export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = match ? Number(match[1]) : NaN;
  const count = match ? Number(match[2]) : NaN;
  if (!match || count < 1 || index >= count) {
    throw new ConfigError([{ where: `--shard ${text}`, path: '', message: 'expected i/n with 0 <= i < n (e.g. --shard 0/4 … --shard 3/4)' }]);
  }
  return { index, count };
}

/** The shard's trials: every n-th trial starting at i. The n shards partition the trial list exactly. */
export function shardTrials(trials: readonly Trial[], shard: Shard): Trial[] {
  return trials.filter((trial) => trial.index % shard.count === shard.index);
}
