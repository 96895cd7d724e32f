/**
 * From a config and the command line to the jobs a sweep runs:
 *   1. The config's `sweep:` section, with --grid lists replacing its grid lists of the same key and
 *      --paired groups added, expands into the full trial list (grid.ts).
 *   2. Every trial's config is loaded and checked before anything runs: one report of all problems.
 *      A swept shared optimizer key (optimizer.learningRate) that the named optimizer's own block
 *      overrides would have no effect; that is a problem too, not a silent duplicate trial.
 *   3. The shard's slice is kept; a trial whose run directory already completed with the same config
 *      is skipped; an interrupted one with a checkpoint is resumed; any other is started afresh.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { ConfigError, configToYaml, loadConfig, type ConfigProblem, type LoadedConfig } from '../config/index.js';
import { describeOrigin } from '../config/print.js';
import { OPTIMIZER_NAMES } from '../config/optimizer-options.js';
import { readSummary } from '../telemetry/run-reader.js';
import { UserError } from '../errors.js';
import { checkRunDirectory } from '../train/run-dir.js';
import { checkNotLocked } from '../train/run-lock.js';
import { staticProblems } from '../train/static-checks.js';
import { expandTrials, parseGridArg, parsePairedArg, shardTrials, sweepProblems, trialSets, type Shard, type SweepSpec, type Trial } from './grid.js';
import type { TrialJob } from './runner.js';

export interface SweepOptions {
  /** --set arguments for every trial (applied before the trial's own settings). */
  set: string[];
  grid: string[];
  paired: string[];
  dir?: string;
  shard?: Shard;
  metric?: string;
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
}

export async function prepareSweep(configFile: string, options: SweepOptions): Promise<PreparedSweep> {
  const base = loadConfig(configFile, { set: options.set });
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
  if (!/^(train|validation|test)\.[A-Za-z][A-Za-z0-9]*$/.test(metric)) throw new ConfigError([{ where: `--metric ${metric}`, path: '', message: 'expected <split>.<name> with split train, validation or test (e.g. test.accuracy)' }]);

  // 2. Check every trial's config before running any.
  const problems: ConfigProblem[] = [];
  const loadedTrials = new Map<Trial, LoadedConfig>();
  for (const trial of trials) {
    const set = [...options.set, ...trialSets(trial), `output.dir=${JSON.stringify(join(dir, trial.name))}`];
    try {
      const loaded = loadConfig(configFile, { set });
      const found = [...(await staticProblems(loaded)), ...ineffectiveOverrides(loaded, trial)];
      if (found.length > 0) throw new ConfigError(found);
      loadedTrials.set(trial, loaded);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const p of error.problems) {
        const pathShown = p.where.startsWith(`--set ${p.path}=`) ? '' : p.path;
        problems.push({ ...p, path: pathShown, where: `trial ${trial.name}: ${p.where}` });
      }
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  // 3. This shard's jobs: skip completed trials, resume interrupted ones.
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
      checkNotLocked(runDir);
      checkRunDirectory(runDir, state === 'resumable' ? 'resume' : state === 'absent' ? 'new' : 'overwrite');
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      problems.push({ where: `trial ${trial.name}`, path: '', message: error.message });
      continue;
    }
    const args = ['train', configFile, '--quiet', ...[...options.set, ...trialSets(trial), `output.dir=${JSON.stringify(runDir)}`].flatMap((s) => ['--set', s]), ...mode];
    jobs.push({ trial, dir: runDir, args, log: join(dir, 'logs', `${trial.name}.log`) });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { name, configFile: base.file, dir, metric, trials, jobs, skipped };
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
  const block = config.optimizer[name] as unknown as Record<string, unknown>;
  const problems: ConfigProblem[] = [];
  for (const key of Object.keys(trial.overrides)) {
    const [section, option, ...rest] = key.split('.');
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
    const [before, now] = [parse(readFileSync(configFile, 'utf8')), parse(yamlNow)] as Record<string, unknown>[];
    delete before.output;
    delete now.output;
    return JSON.stringify(before) === JSON.stringify(now);
  } catch {
    return false;
  }
}
