/**
 * From a config and the command line to the jobs a sweep runs:
 *   1. The config's `sweep:` section, with --grid lists replacing its grid lists of the same key and
 *      --paired groups added, expands into the full trial list (grid.ts).
 *   2. Every trial's config is loaded and checked before anything runs: one report of all problems.
 *      A swept value that has no effect on its trial is a problem, not a silent duplicate trial: a
 *      shared optimizer key (optimizer.learningRate) that the named optimizer's own block overrides,
 *      or a key of another optimizer's block (optimizer.lion.* in an adamw trial). The sweep metric
 *      must be one every trial measures. Two trials with the same effective config (whatever the
 *      spelling of their values: 1e-4 and 0.0001), or whose names (directories) collide, are refused:
 *      a dimension that changes nothing shows up as such a pair.
 *   3. A sweep directory holds one sweep: its trials.json must list the same trials (re-running the
 *      same command resumes; another grid needs another --dir, so results never mix two grids).
 *   4. The shard's slice is kept; a trial whose run directory already completed with the same config
 *      is skipped; an interrupted one with a checkpoint is resumed; any other is started afresh.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { ConfigError, configToYaml, loadConfig, type ConfigProblem, type LoadedConfig, type RunConfig } from '../config/index.js';
import { whereOf } from '../config/problems.js';
import { describeOrigin } from '../config/print.js';
import { OPTIMIZER_NAMES } from '../config/optimizer-options.js';
import { displayPath, readSummary, type TrialManifest } from '../telemetry/run-reader.js';
import { metricProblem, runMetrics } from '../train/run-metrics.js';
import { UserError } from '../errors.js';
import { checkRunDirectory } from '../train/run-dir.js';
import { checkNotLocked } from '../train/run-lock.js';
import { staticProblems } from '../train/static-checks.js';
import { expandTrials, parseGridArg, parsePairedArg, shardTrials, sweepProblems, trialSets, type Shard, type SweepSpec, type Trial } from './grid.js';
import type { TrialJob } from './runner.js';
import { readInputText } from '../files/input-file.js';

export interface SweepOptions {
  /** --set arguments for every trial (applied before the trial's own settings). */
  set: string[];
  /** --allow-module folders, for every trial. */
  allowModule?: string[];
  grid: string[];
  paired: string[];
  dir?: string;
  shard?: Shard;
  metric?: string;
  /** Trials go to a work queue: their directories are the workers' to lock and check, not this process's. */
  queue?: boolean;
}

export interface PreparedSweep {
  name: string;
  configFile: string;
  dir: string;
  metric: string;
  trials: Trial[];
  /** This shard's trials that will run. */
  jobs: TrialJob[];
  /** This shard's trials already completed with the same config. */
  skipped: Trial[];
  /** The largest train.workers of any trial (threads per trial on wasm/cpu). */
  workers: number;
}

export async function prepareSweep(configFile: string, options: SweepOptions): Promise<PreparedSweep> {
  const allowModule = options.allowModule ?? [];
  const base = loadConfig(configFile, { set: options.set, allowModule });
  const spec = sweepSpec(base, options);
  const specProblems = sweepProblems(spec, base.file);
  if (specProblems.length > 0) throw new ConfigError(specProblems);
  const trials = expandTrials(spec);
  if (trials.length === 1 && Object.keys(trials[0].overrides).length === 0) {
    throw new ConfigError([{ where: base.file, path: 'sweep', message: 'nothing to sweep: give --grid key=v1,v2 (or --paired) or a sweep: section with grid or paired lists' }]);
  }
  const name = base.config.name!;
  const dir = resolve(options.dir ?? join(base.config.output.root, `${name}-sweep`));
  const metric = options.metric ?? base.config.sweep?.metric ?? 'test.accuracy';
  const metricOrigin = base.origins.get('sweep.metric');
  const metricWhere = options.metric !== undefined ? `--metric ${metric}` : metricOrigin && metricOrigin.kind !== 'default' ? whereOf(['sweep', 'metric'], base.origins, base.file) : `${base.file}: sweep.metric (default)`;
  if (!/^(train|validation|test)\.[A-Za-z][A-Za-z0-9]*$/.test(metric)) throw new ConfigError([{ where: metricWhere, path: '', message: 'expected <split>.<name> with split train, validation or test (e.g. test.accuracy)' }]);

  // 2. Check every trial's config before running any.
  const problems: ConfigProblem[] = [];
  const loadedTrials = new Map<Trial, LoadedConfig>();
  const metricProblems = new Map<string, string[]>();
  for (const trial of trials) {
    const set = [...options.set, ...trialSets(trial), `output.dir=${JSON.stringify(join(dir, trial.name))}`];
    try {
      const loaded = loadConfig(configFile, { set, allowModule });
      const found = [...(await staticProblems(loaded)), ...ineffectiveOverrides(loaded, trial)];
      if (found.length > 0) throw new ConfigError(found);
      loadedTrials.set(trial, loaded);
      const unmeasured = metricProblem(metric, 'final', runMetrics(loaded.config));
      if (unmeasured) metricProblems.set(unmeasured, [...(metricProblems.get(unmeasured) ?? []), trial.name]);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const p of error.problems) {
        const pathShown = p.where.startsWith(`--set ${p.path}=`) ? '' : p.path;
        problems.push({ ...p, path: pathShown, where: `trial ${trial.name}: ${p.where}` });
      }
    }
  }
  for (const [message, names] of metricProblems) {
    const which = names.length === trials.length ? '' : ` (trial${names.length > 1 ? 's' : ''} ${names.join(', ')})`;
    problems.push({ where: metricWhere, path: '', message: `cannot rank the trials${which}: ${message}; give --metric` });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  // 2b. No two trials are the same run or share a directory; 3. the directory holds no other sweep.
  problems.push(...duplicateTrials(trials, loadedTrials, base.file));
  problems.push(...otherSweepIn(dir, base.file, trials));
  if (problems.length > 0) throw new ConfigError(problems);

  // 4. This shard's jobs: skip completed trials, resume interrupted ones.
  const jobs: TrialJob[] = [];
  const skipped: Trial[] = [];
  for (const trial of options.shard ? shardTrials(trials, options.shard) : trials) {
    const runDir = join(dir, trial.name);
    const loaded = loadedTrials.get(trial)!;
    const state = existingRun(runDir, loaded);
    if (state === 'changed') {
      problems.push({ where: runDir, path: '', message: `trial ${trial.name} already ran there with a different config; sweep into another --dir, or remove that run directory` });
      continue;
    }
    if (state === 'completed') {
      skipped.push(trial);
      continue;
    }
    const mode = state === 'resumable' ? ['--resume', runDir] : state === 'absent' ? [] : ['--overwrite'];
    // A trial directory another process is writing (a sweep still running), or one holding what
    // lion-train did not write, stops the whole sweep before anything runs.
    try {
      if (!options.queue) checkNotLocked(runDir);
      if (!options.queue) checkRunDirectory(runDir, state === 'resumable' ? 'resume' : state === 'absent' ? 'new' : 'overwrite');
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      problems.push({ where: `trial ${trial.name}`, path: '', message: error.message });
      continue;
    }
    // Not --quiet: the trial's log keeps its whole record (plain progress lines, evaluations, the outcome).
    const args = ['train', configFile, ...[...options.set, ...trialSets(trial), `output.dir=${JSON.stringify(runDir)}`].flatMap((s) => ['--set', s]), ...allowModule.flatMap((d) => ['--allow-module', resolve(d)]), ...mode];
    jobs.push({ trial, dir: runDir, args, log: join(dir, 'logs', `${trial.name}.log`) });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const workers = Math.max(...[...loadedTrials.values()].map((l) => l.config.train.workers));
  return { name, configFile: base.file, dir, metric, trials, jobs, skipped, workers };
}

/**
 * What decides a trial's run: the resolved config without its name, output place and sweep section,
 * and with only the named optimizer's effective options (other blocks and the shared keys, already
 * folded into the named block, change nothing). Keys sorted, so equal configs give equal text.
 */
export function effectiveConfigKey(config: RunConfig): string {
  const { name: _name, output: _output, sweep: _sweep, optimizer, ...rest } = config;
  const effective = { ...rest, optimizer: { name: optimizer.name, options: optimizer[optimizer.name], weightDecayExclude: optimizer.weightDecayExclude } };
  return canonicalJson(effective);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Trials that would be the same run, or share a directory and log: refused, naming each pair. */
function duplicateTrials(trials: readonly Trial[], loaded: ReadonlyMap<Trial, LoadedConfig>, file: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const byConfig = new Map<string, Trial>();
  const byName = new Map<string, Trial>();
  for (const trial of trials) {
    const first = byConfig.get(effectiveConfigKey(loaded.get(trial)!.config));
    if (first) {
      const differing = Object.keys(trial.overrides).filter((key) => JSON.stringify(trial.overrides[key]) !== JSON.stringify(first.overrides[key]));
      const why = differing.length === 0
        ? 'a value listed twice, perhaps spelt differently (1e-4 and 0.0001 are one number)'
        : `${differing.join(', ')} change${differing.length === 1 ? 's' : ''} nothing between them`;
      problems.push({ where: file, path: 'sweep', message: `trials #${first.index} ${first.name} and #${trial.index} ${trial.name} are the same run: ${why}; remove the duplicate` });
      continue;
    }
    byConfig.set(effectiveConfigKey(loaded.get(trial)!.config), trial);
    // Directory names compared without case: macOS and Windows file systems do.
    const clash = byName.get(trial.name.toLowerCase());
    if (clash) problems.push({ where: file, path: 'sweep', message: `trials #${clash.index} and #${trial.index} would share the run directory and log ${trial.name} (their values differ only in characters a directory name cannot hold, or in case); give values that read differently` });
    else byName.set(trial.name.toLowerCase(), trial);
  }
  return problems;
}

/** A sweep directory written by another sweep (other trials, or another config) is not reused. */
function otherSweepIn(dir: string, configFile: string, trials: readonly Trial[]): ConfigProblem[] {
  const manifestFile = join(dir, 'trials.json');
  if (!existsSync(manifestFile)) return [];
  let manifest: TrialManifest;
  try {
    manifest = JSON.parse(readInputText(manifestFile)) as TrialManifest;
  } catch {
    return [{ where: manifestFile, path: '', message: 'is not a sweep manifest lion-train can read; sweep into another --dir' }];
  }
  const listed = (list: readonly { name: string; overrides: Record<string, unknown> }[]) => JSON.stringify(list.map((t) => [t.name, t.overrides]));
  const sameTrials = Array.isArray(manifest.trials) && listed(manifest.trials) === listed(trials);
  if (sameTrials && resolve(manifest.config) === resolve(configFile)) return [];
  const what = sameTrials ? `the same trials of another config (${manifest.config})` : `another sweep (${manifest.trials?.length ?? 0} trials of ${manifest.config}: ${(manifest.trials ?? []).slice(0, 3).map((t) => t.name).join(', ')}${(manifest.trials?.length ?? 0) > 3 ? ', …' : ''})`;
  return [{ where: displayPath(dir), path: '', message: `already holds ${what}; sweep into another --dir (re-running that sweep's own command resumes it)` }];
}

function sweepSpec(base: LoadedConfig, options: SweepOptions): SweepSpec {
  const fromConfig = base.config.sweep;
  const grid: Record<string, unknown[]> = { ...((fromConfig?.grid ?? {}) as Record<string, unknown[]>) };
  for (const arg of options.grid) {
    const [key, values] = parseGridArg(arg);
    grid[key] = values;
  }
  const paired = [...((fromConfig?.paired ?? []) as Record<string, unknown[]>[]), ...options.paired.map(parsePairedArg)];
  return { grid, paired };
}

/**
 * Swept shared optimizer keys that the named optimizer's block overrides: `--grid optimizer.learningRate=…`
 * does nothing for Lion when the file says `optimizer.lion.learningRate`.
 */
function ineffectiveOverrides(loaded: LoadedConfig, trial: Trial): ConfigProblem[] {
  const { config, origins } = loaded;
  const name = config.optimizer.name;
  // name: program has no block of options (optimizer.program is the program text).
  const block = (name === 'program' ? {} : config.optimizer[name]) as unknown as Record<string, unknown>;
  const problems: ConfigProblem[] = [];
  for (const key of Object.keys(trial.overrides)) {
    const [section, option, ...rest] = key.split('.');
    if (section === 'optimizer' && option !== name && (OPTIMIZER_NAMES as readonly string[]).includes(option)) {
      problems.push({
        where: `--set ${key}=${JSON.stringify(trial.overrides[key])}`,
        path: '',
        message: `has no effect on this trial: it sets ${option}'s options and the trial trains with ${name}; pair it with optimizer.name=${option} only`,
      });
      continue;
    }
    if (section !== 'optimizer' || rest.length > 0 || option === 'name' || (OPTIMIZER_NAMES as readonly string[]).includes(option) || !(option in block)) continue;
    const origin = origins.get(`optimizer.${name}.${option}`);
    if (origin?.kind === 'file') {
      problems.push({
        where: `--set ${key}=${JSON.stringify(trial.overrides[key])}`,
        path: '',
        message: `has no effect with ${name}: optimizer.${name}.${option} (${describeOrigin(origin)}) overrides it; sweep optimizer.${name}.${option}, or move the value out of the ${name} block`,
      });
    }
  }
  return problems;
}

type ExistingRun = 'absent' | 'completed' | 'resumable' | 'restart' | 'changed';

function existingRun(runDir: string, loaded: LoadedConfig): ExistingRun {
  if (!existsSync(runDir)) return 'absent';
  let status: string;
  try {
    status = readSummary(runDir).status;
  } catch {
    return 'restart';
  }
  const sameConfig = sameSettings(join(runDir, 'config.yaml'), configToYaml(loaded.config));
  if (status === 'completed') return sameConfig ? 'completed' : 'changed';
  const hasCheckpoint = existsSync(join(runDir, 'checkpoints', 'latest'));
  return (status === 'interrupted' || status === 'running') && hasCheckpoint && sameConfig ? 'resumable' : 'restart';
}

/** The config a run used equals the one it would use now (the output section aside: a copied sweep moves). */
function sameSettings(configFile: string, yamlNow: string): boolean {
  try {
    const [before, now] = [parse(readInputText(configFile)), parse(yamlNow)] as Record<string, unknown>[];
    delete before.output;
    delete now.output;
    return JSON.stringify(before) === JSON.stringify(now);
  } catch {
    return false;
  }
}
