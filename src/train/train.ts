/**
 * train(config): the whole run as a library call. Loads and checks the config, prepares the run
 * directory (new, overwritten or resumed), builds the plan, runs the loop, returns the summary.
 * The CLI's train command is a thin shell around this.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../atomic-write.js';
import { ConfigError, configToYaml, loadConfig, type LoadedConfig } from '../config/index.js';
import { EXIT, UserError } from '../errors.js';
import { createProgress, type ProgressMode } from '../telemetry/progress.js';
import type { RunStatus, RunSummary } from '../telemetry/summary.js';
import { newestValidCheckpoint } from './checkpoint.js';
import { breakingDifferences, configHash } from './compat.js';
import { runLoop, type LiveRun, type StopRequest } from './loop.js';
import { buildPlan, disposePlan } from './plan.js';
import { checkRunDirectory, markRunDirectory, prepareRunDirectory, runDirectoryFor, runPaths, type RunPaths } from './run-dir.js';
import { acquireRunLock, checkNotLocked, type RunLock } from './run-lock.js';
import { staticProblems } from './static-checks.js';
import { startWorkers, type WorkerPool } from './workers/index.js';
import { readInputText } from '../files/input-file.js';

export interface TrainOptions {
  /** `key.path=value` overrides, as on the command line. */
  set?: string[];
  /** Folders the config may load model/data modules from besides its own folder tree (--allow-module). */
  allowModule?: string[];
  /** Replace an existing run directory. */
  overwrite?: boolean;
  /** Continue a run: true for the config's own run directory, or the directory to continue. */
  resume?: boolean | string;
  /** Progress display; defaults to the config's log.progress. */
  progress?: ProgressMode;
  /** Where diagnostics go (default: stderr). */
  log?: (line: string) => void;
  /** Set its `signal` to stop after the current step with a checkpoint (the CLI wires SIGINT/SIGTERM to it). */
  stop?: StopRequest;
  /** Stop after this step with a checkpoint (status interrupted, reason "paused at step N"); continue with resume. */
  pauseAtStep?: number;
}

export interface TrainResult {
  summary: RunSummary;
  runDir: string;
}

export async function train(configFile: string, options: TrainOptions = {}): Promise<TrainResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const loaded = loadConfig(configFile, { set: options.set, allowModule: options.allowModule });
  const problems = await staticProblems(loaded);
  if (problems.length > 0) throw new ConfigError(problems);
  for (const hint of loaded.hints) log(hint);
  const { config } = loaded;

  // Run directory: resume an existing one, or start a new one (never clobbering without --overwrite).
  // Everything that can refuse the run is checked before the directory is touched.
  const resumeDir = resumeDirectory(loaded, options.resume);
  const dir = resumeDir ?? runDirectoryFor(config);
  const mode = resumeDir ? 'resume' : options.overwrite ? 'overwrite' : 'new';
  checkNotLocked(dir);
  checkRunDirectory(dir, mode);
  if (resumeDir) refuseBreakingChanges(loaded, runPaths(resumeDir));

  const plan = await buildPlan(config, log);
  const stop = options.stop ?? { signal: null };
  let paths: RunPaths | undefined;
  let workers: WorkerPool | undefined;
  let lock: RunLock | undefined;
  // The summary on every exit path: the loop keeps `live` current; an error or a forced quit
  // (process.exit on a second Ctrl-C) writes it with its own status and reason.
  const live: LiveRun = {};
  let ended = false;
  const onForcedExit = () => {
    if (!ended && paths) writeEndSummary(paths.summary, live, 'interrupted', `${stop.signal ?? 'exit'}: quit at once, without a checkpoint`, log);
  };
  process.on('exit', onForcedExit);
  try {
    // One writer per run directory: the marker (this folder is lion-train's) and the lock come first.
    markRunDirectory(dir);
    lock = acquireRunLock(dir, log);
    const resumeFrom = resumeDir ? newestValidCheckpoint(runPaths(resumeDir).checkpoints, log) : undefined;
    if (resumeDir && !resumeFrom) log(`no usable checkpoint in ${runPaths(resumeDir).checkpoints}; starting from step 0`);
    paths = prepareRunDirectory(dir, mode);
    writeFileAtomic(paths.config, configToYaml(config));
    for (const [file, text] of Object.entries(plan.dataset.artifacts?.() ?? {})) writeFileAtomic(join(paths.dir, file), text);
    log(`run directory: ${paths.dir}`);
    log(
      `${plan.labels.model}: ${plan.model.parameterCount.toLocaleString('en-US')} parameters, ${formatFlops(plan.model.flopsPerExample)} per example; ` +
        `${plan.labels.data}: ${plan.dataset.train.size} train examples; ${plan.resolvedOptimizer.name}, ${plan.totalSteps} steps of ${config.train.batchSize}`,
    );
    workers = await startWorkers(plan, log);
    const progress = createProgress(options.progress ?? config.log.progress, config.log.everySteps, log);
    const summary = await runLoop(plan, { paths, progress, configHash: configHash(config), resumeFrom, stop, pauseAtStep: options.pauseAtStep, workers, live });
    ended = true;
    return { summary, runDir: paths.dir };
  } catch (error) {
    ended = true;
    if (paths) writeEndSummary(paths.summary, live, 'failed', (error instanceof Error ? error.message : String(error)).split('\n')[0], log);
    throw error;
  } finally {
    process.off('exit', onForcedExit);
    // Worker threads end with the run, whichever way it ends (a live thread would keep the process up).
    await workers?.close();
    disposePlan(plan);
    lock?.release();
  }
}

function formatFlops(flops: number | null): string {
  if (flops === null) return 'FLOPs unknown';
  const [value, unit] = flops >= 1e9 ? [flops / 1e9, 'GFLOPs'] : flops >= 1e6 ? [flops / 1e6, 'MFLOPs'] : [flops / 1e3, 'kFLOPs'];
  return `${value.toPrecision(3)} ${unit}`;
}

/**
 * A run that ends on an error or a forced quit says so in summary.json: the step reached, totals and last
 * metrics from the loop (or, before the loop began, the summary on disk), the status and the reason.
 * Best effort: when even this cannot be written (the disk is still full), it says so and goes on.
 */
function writeEndSummary(summaryPath: string, live: LiveRun, status: RunStatus, reason: string, log: (line: string) => void): void {
  try {
    const summary = live.summary?.() ?? (existsSync(summaryPath) ? (JSON.parse(readInputText(summaryPath)) as RunSummary) : undefined);
    if (summary) writeJsonAtomic(summaryPath, { ...summary, status, reason, finishedAt: new Date().toISOString() });
  } catch (error) {
    log(`could not record the run's end in ${summaryPath}: ${(error as Error).message}`);
  }
}

/** The run directory to continue, or undefined for a fresh run. */
function resumeDirectory(loaded: LoadedConfig, resume: boolean | string | undefined): string | undefined {
  const { config } = loaded;
  if (typeof resume === 'string') {
    if (!existsSync(resume)) throw new UserError(`cannot resume: ${resume} does not exist`, EXIT.usage);
    return resolve(resume);
  }
  if (!resume && !config.checkpoint.autoResume) return undefined;
  const found = config.output.dir !== null ? resolve(config.output.dir) : newestRunOf(config.output.root, config.name!);
  if (found && existsSync(join(found, 'config.yaml'))) return found;
  if (resume) throw new UserError(`cannot resume: no run directory of ${config.name} found${config.output.dir === null ? ` under ${config.output.root}/` : ` at ${config.output.dir}`}`, EXIT.usage);
  return undefined;
}

function newestRunOf(root: string, name: string): string | undefined {
  if (!existsSync(root)) return undefined;
  const pattern = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d{8}-\\d{6}$`);
  const dirs = readdirSync(root).filter((d) => pattern.test(d) && statSync(join(root, d)).isDirectory()).sort();
  return dirs.length > 0 ? resolve(root, dirs[dirs.length - 1]) : undefined;
}

function refuseBreakingChanges(loaded: LoadedConfig, paths: RunPaths): void {
  if (!existsSync(paths.config)) return;
  const before = loadConfig(paths.config, { allowModule: true }).config;
  const differences = breakingDifferences(before, loaded.config);
  if (differences.length > 0) {
    throw new UserError(`cannot resume ${paths.dir}: the config changed in a way the checkpoint cannot follow: ${differences.join('; ')}`, EXIT.usage);
  }
}
