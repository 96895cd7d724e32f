/**
 * Reading run directories back: summary.json, metrics.jsonl, compute.jsonl and config.yaml of one run,
 * and finding every run under a folder (runs/, a sweep directory, copies of several shards).
 * What `regress`, `report` and `runs` read; nothing here imports tf.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parse } from 'yaml';
import { readJsonl, type JsonlRecord } from './jsonl.js';
import type { RunSummary } from './summary.js';

export interface RunData {
  /** Absolute path of the run directory. */
  dir: string;
  summary: RunSummary;
  metrics: JsonlRecord[];
  compute: JsonlRecord[];
  /** The resolved config as run (config.yaml), or undefined when it is missing or unreadable. */
  config: Record<string, unknown> | undefined;
  /** Set when the run is a sweep trial: the trial's name (its directory name) and overrides. */
  trial?: { name: string; overrides: Record<string, unknown> };
}

export function isRunDir(dir: string): boolean {
  return existsSync(join(dir, 'summary.json'));
}

/** Reads summary.json; throws an Error naming the file when it is missing or not a summary. */
export function readSummary(dir: string): RunSummary {
  const file = join(dir, 'summary.json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${dir} is not a run directory (no summary.json)` : `${file} is not valid JSON`);
  }
  const summary = parsed as Partial<RunSummary>;
  if (typeof summary !== 'object' || summary === null || typeof summary.status !== 'string' || typeof summary.steps !== 'number' || typeof summary.final !== 'object') {
    throw new Error(`${file} is not a lion-train run summary`);
  }
  // A run writes summary.json when it starts, and then its status may already read "completed" with
  // finishedAt still null; a process killed mid-run leaves it so. Such a run did not finish.
  if (summary.finishedAt === null && summary.status !== 'running') return { ...(summary as RunSummary), status: 'running' };
  return summary as RunSummary;
}

export function readRun(dir: string): RunData {
  const absolute = resolve(dir);
  const summary = readSummary(absolute);
  let config: Record<string, unknown> | undefined;
  try {
    config = parse(readFileSync(join(absolute, 'config.yaml'), 'utf8')) as Record<string, unknown>;
  } catch {
    config = undefined;
  }
  return {
    dir: absolute,
    summary,
    metrics: readJsonl(join(absolute, 'metrics.jsonl')),
    compute: readJsonl(join(absolute, 'compute.jsonl')),
    config,
    trial: trialOf(absolute),
  };
}

/** A sweep directory's manifest, trials.json (written by `lion-train sweep`). */
export interface TrialManifest {
  sweep: string;
  config: string;
  metric: string;
  trials: { index: number; name: string; overrides: Record<string, unknown> }[];
}

export function readManifest(sweepDir: string): TrialManifest | undefined {
  try {
    return JSON.parse(readFileSync(join(sweepDir, 'trials.json'), 'utf8')) as TrialManifest;
  } catch {
    return undefined;
  }
}

function trialOf(runDir: string): RunData['trial'] {
  const manifest = readManifest(dirname(runDir));
  const trial = manifest?.trials.find((t) => t.name === basename(runDir));
  return trial ? { name: trial.name, overrides: trial.overrides } : undefined;
}

/** Folders never searched for runs. */
const NOT_RUNS = new Set(['checkpoints', 'logs', 'node_modules', '.git']);

/**
 * Every run directory at or under each path (a run directory itself, a folder of runs, a sweep
 * directory), in a stable order: by path. Searches at most `depth` levels down.
 */
export function findRunDirs(paths: readonly string[], depth = 4): string[] {
  const found = new Set<string>();
  const visit = (dir: string, left: number) => {
    if (isRunDir(dir)) {
      found.add(dir);
      return;
    }
    if (left === 0) return;
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const entry of entries.sort()) {
      if (NOT_RUNS.has(entry) || entry.startsWith('.')) continue;
      const child = join(dir, entry);
      if (statSync(child, { throwIfNoEntry: false })?.isDirectory()) visit(child, left - 1);
    }
  };
  for (const path of paths) visit(resolve(path), depth);
  return [...found].sort();
}

/**
 * A label for each run: its trial name in a sweep (every key in full, `optimizer.name=lion,train.seed=0`,
 * so a label never loses the section it sets), else its name; directory names settle ties.
 */
export function runLabels(runs: readonly RunData[]): string[] {
  const first = runs.map((run) => run.trial?.name ?? run.summary.name);
  return first.map((label, i) => (first.filter((other) => other === label).length > 1 ? `${label} (${basename(runs[i].dir)})` : label));
}

/** A config value as it reads in a trial name: numbers in their shortest form (3e-4, 0.5, 1000). */
export function formatValue(value: unknown): string {
  if (typeof value === 'number') {
    const plain = String(value);
    if (Number.isInteger(value) && Math.abs(value) < 1e6) return plain;
    const exponent = value.toExponential().replace('e+', 'e');
    return exponent.length < plain.length ? exponent : plain;
  }
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/** A path as shown to the user: relative to `cwd` when inside it, else absolute. */
export function displayPath(path: string, cwd = process.cwd()): string {
  const rel = relative(cwd, resolve(path));
  return rel === '' ? '.' : rel.startsWith('..') ? resolve(path) : rel;
}
