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
import { readJsonl } from '../telemetry/jsonl.js';
import { summaryTotals, type RunStatus, type RunSummary } from '../telemetry/summary.js';
import type { RunConfig } from '../config/types.generated.js';
import { scheduledLearningRate } from '../optim/factory.js';
import { listCheckpoints, newestValidCheckpoint, runExpectation, type LoadedCheckpoint, type TrainingState } from './checkpoint.js';
import { configChanges, configHash, describeChange, RESUME_SAFE_KEYS } from './compat.js';
import { runLoop, type LiveRun, type StopRequest } from './loop.js';
import { buildPlan, disposePlan, totalStepsFor, type Plan } from './plan.js';
import { checkRunDirectory, markRunDirectory, prepareRunDirectory, runDirectoryFor, runPaths, type RunPaths } from './run-dir.js';
import { acquireRunLock, checkNotLocked, type RunLock } from './run-lock.js';
import { staticProblems } from './static-checks.js';
import { startWorkers, type WorkerPool } from './workers/index.js';
import { readInputText } from '../files/input-file.js';
import { asAllocationFailure } from './memory.js';

export interface TrainOptions {
  /** `key.path=value` overrides, as on the command line. */
  set?: string[];
  /** Folders the config may load model/data modules from besides its own folder tree (--allow-module). */
  allowModule?: string[];
  /** The config file is a resolved config (every default written out, as a run's config.yaml or a queue job's): only the model and data families' checks apply. */
  resolvedConfig?: boolean;
  /** Replace an existing run directory. */
  overwrite?: boolean;
  /** Continue a run: true for the config's own run directory, or the directory to continue (its config.yaml is the base). */
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
  /** The run was resumed from its end-of-run checkpoint with the same limits: nothing ran, nothing changed. */
  alreadyComplete?: boolean;
}

export async function train(configFile: string | undefined, options: TrainOptions = {}): Promise<TrainResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  // What to run: a fresh config, or a run directory to continue (its own config.yaml is the base).
  const { loaded, resumeDir, base } = chooseRun(configFile, options);
  const problems = await staticProblems(loaded, { resolved: options.resolvedConfig === true || (configFile === undefined && resumeDir !== undefined) });
  if (problems.length > 0) throw new ConfigError(problems);
  for (const hint of loaded.hints) log(hint);
  const { config } = loaded;
  // A resumed run stays in its directory: output.* is the run's own, whatever the config file says.
  if (base) config.output = base.output;

  // Everything that can refuse the run is checked before the directory is touched.
  const changes = base ? configChanges(base, config) : [];
  const refused = changes.filter((c) => !c.safe);
  if (refused.length > 0) {
    throw new UserError(
      `cannot resume ${resumeDir}: ${refused.map(describeChange).join('; ')}; a resume may change only ${RESUME_SAFE_KEYS.join(', ')} (README: What may change on resume)`,
      EXIT.usage,
    );
  }
  const dir = resumeDir ?? runDirectoryFor(config);
  const mode = resumeDir ? 'resume' : options.overwrite ? 'overwrite' : 'new';
  checkNotLocked(dir);
  checkRunDirectory(dir, mode);

  const plan = await buildPlan(config, log);
  const stop = options.stop ?? { signal: null };
  let paths: RunPaths | undefined;
  let workers: WorkerPool | undefined;
  let lock: RunLock | undefined;
  // The summary on every exit path: the loop keeps `live` current; an error or a forced quit
  // (process.exit on a second Ctrl-C) writes it with its own status and reason.
  const live: LiveRun = {};
  let ended = false;
  let failed = false;
  const onForcedExit = () => {
    if (!ended && paths) writeEndSummary(paths.summary, live, 'interrupted', `${stop.signal ?? 'exit'}: quit at once, without a checkpoint`, log);
  };
  process.on('exit', onForcedExit);
  try {
    // One writer per run directory: the marker (this folder is lion-train's) and the lock come first.
    markRunDirectory(dir);
    lock = acquireRunLock(dir, log);
    // The checkpoint to resume from is validated as a whole before anything in the directory changes.
    const resumeFrom = resumeDir ? chooseCheckpoint(resumeDir, plan, base, log) : undefined;
    if (resumeDir && resumeFrom) {
      const finished = alreadyComplete(resumeFrom.state, plan);
      const summary = finished ? readSummary(runPaths(resumeDir).summary) : undefined;
      // A run stopped in its final evaluation (interrupted at its last step) goes on: the loop evaluates.
      if (finished && summary && summary.status !== 'interrupted') {
        log(`${resumeDir} is already complete at step ${resumeFrom.state.step} (${finished}); nothing to do (raise train.steps or train.epochs to continue it)`);
        return { summary: completeSummary(runPaths(resumeDir), summary, resumeFrom.state, finished), runDir: resumeDir, alreadyComplete: true };
      }
      if (base) reportScheduleChange(base, plan, resumeFrom.state, log);
    }
    paths = prepareRunDirectory(dir, mode);
    // A resumed run's config.yaml changes only by the safe changes asked for, each printed.
    for (const change of changes) log(`resume: ${describeChange(change)}`);
    if (!resumeDir || changes.length > 0 || !existsSync(paths.config)) writeFileAtomic(paths.config, configToYaml(config));
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
  } catch (thrown) {
    ended = true;
    // Wherever else the backend runs out (building the model, restoring, the final checks), one line names it.
    const error = asAllocationFailure(thrown, live.summary?.().steps ?? 0, 'preparing, restoring or checking the model');
    if (paths) writeEndSummary(paths.summary, live, 'failed', (error instanceof Error ? error.message : String(error)).split('\n')[0], log);
    failed = true;
    throw error;
  } finally {
    process.off('exit', onForcedExit);
    // Worker threads end with the run, whichever way it ends (a live thread would keep the process up).
    await workers?.close();
    try {
      disposePlan(plan);
    } catch (disposeError) {
      // After an allocation failure wasm's heap is unusable and freeing throws too: the first error says why.
      if (!failed) throw disposeError;
    }
    lock?.release();
  }
}

/**
 * The config to run and, when continuing, the run directory and its own config.yaml:
 *   - `resume: <dir>`: the run's config.yaml, changed by the config file (when given) or `--set`;
 *   - `resume: true` or `checkpoint.autoResume`: the config file's run directory, when there is one;
 *   - otherwise a fresh run of the config file.
 */
function chooseRun(configFile: string | undefined, options: TrainOptions): { loaded: LoadedConfig; resumeDir?: string; base?: RunConfig } {
  if (typeof options.resume === 'string') {
    const resumeDir = resolve(options.resume);
    if (!existsSync(resumeDir)) throw new UserError(`cannot resume: ${options.resume} does not exist`, EXIT.usage);
    const own = runPaths(resumeDir).config;
    if (!existsSync(own) && configFile === undefined) throw new UserError(`cannot resume: ${options.resume} is not a run directory (it has no config.yaml)`, EXIT.usage);
    // Its modules were allowed when the run began; config.yaml holds their absolute paths.
    const base = existsSync(own) ? loadConfig(own, { allowModule: true }).config : undefined;
    return { loaded: loadConfig(configFile ?? own, { set: options.set, allowModule: configFile === undefined ? true : options.allowModule }), resumeDir, base };
  }
  if (configFile === undefined) throw new UserError('train needs a config file, or --resume <run-dir> to continue a run (see lion-train --help)', EXIT.usage);
  const loaded = loadConfig(configFile, { set: options.set, allowModule: options.allowModule });
  const resumeDir = resumeDirectory(loaded, options.resume);
  return { loaded, resumeDir, base: resumeDir ? loadConfig(runPaths(resumeDir).config, { allowModule: true }).config : undefined };
}

/**
 * The newest checkpoint of `dir` that is whole and belongs to this run (checkpoint-state.ts); unusable ones
 * are reported and skipped. None at all: the run starts at step 0. Some, none usable: refused, nothing touched.
 */
function chooseCheckpoint(dir: string, plan: Plan, base: RunConfig | undefined, log: (line: string) => void): LoadedCheckpoint | undefined {
  const { checkpoints } = runPaths(dir);
  const { config } = plan;
  // A checkpoint may lie beyond the new limits when they were lowered; it still belongs to the run.
  const startedTotal = base ? totalStepsFor(base.train, plan.stepsPerEpoch) : 0;
  const expectation = runExpectation(plan.model, plan.optimizer, {
    configHash: configHash(config),
    seed: config.train.seed,
    maxStep: Math.max(plan.totalSteps, startedTotal),
    trainExamples: plan.dataset.train.size,
    batchSize: config.train.batchSize,
  });
  const found = newestValidCheckpoint(checkpoints, log, expectation);
  if (found) return found;
  if (listCheckpoints(checkpoints).length > 0) {
    throw new UserError(`cannot resume ${dir}: none of its checkpoints is usable (reasons above); nothing in it was changed`, EXIT.failed);
  }
  log(`no checkpoint in ${checkpoints}; starting from step 0`);
  return undefined;
}

/** Why a run resumed from `state` would stop before its first step (its limits are reached), or null. */
function alreadyComplete(state: TrainingState, plan: Plan): string | null {
  const { train } = plan.config;
  if (state.step >= plan.totalSteps) return train.steps !== null && state.step >= train.steps ? 'steps' : 'epochs';
  if (train.maxMinutes !== null && state.totals.wallSeconds >= train.maxMinutes * 60) return 'time';
  if (train.earlyStopping && state.earlyStopping && state.earlyStopping.badEvaluations >= train.earlyStopping.patience) return 'early-stopping';
  return null;
}

/**
 * The summary of a run whose end-of-run checkpoint exists. It is left as it is when it says completed; a
 * summary that does not (the process ended between that checkpoint and its summary) is completed from the
 * checkpoint and the final records in metrics.jsonl, which were written before the checkpoint.
 */
function completeSummary(paths: RunPaths, summary: RunSummary, state: TrainingState, reason: string): RunSummary {
  if (summary.status === 'completed' && summary.steps === state.step) return summary;
  const meta = new Set(['step', 'epoch', 'split', 'lr', 'gradNorm', 'updateNorm', 'elapsed']);
  const values = (record: Record<string, unknown> | undefined) =>
    record ? Object.fromEntries(Object.entries(record).filter(([k, v]) => !meta.has(k) && typeof v === 'number')) : undefined;
  const records = readJsonl(paths.metrics).filter((r) => r.step <= state.step);
  const last = (split: string, atStep: boolean) => records.filter((r) => r.split === split && (!atStep || r.step === state.step)).at(-1);
  const final: RunSummary['final'] = {};
  const [train, validation, test] = [values(last('train', false)), values(last('validation', true)), values(last('test', true))];
  if (train) final.train = train as never;
  if (validation) final.validation = validation as never;
  if (test) final.test = test as never;
  const completed: RunSummary = {
    ...summary,
    status: 'completed',
    reason,
    steps: state.step,
    final,
    best: state.best,
    totals: summaryTotals(state.totals),
    finishedAt: summary.finishedAt ?? new Date().toISOString(),
  };
  writeJsonAtomic(paths.summary, completed);
  return completed;
}

function readSummary(path: string): RunSummary | undefined {
  try {
    return JSON.parse(readInputText(path)) as RunSummary;
  } catch {
    return undefined;
  }
}

/** When the step count changed, the schedule spans the new total: one line with the learning rate before and after. */
function reportScheduleChange(base: RunConfig, plan: Plan, state: TrainingState, log: (line: string) => void): void {
  const before = totalStepsFor(base.train, plan.stepsPerEpoch);
  if (before === plan.totalSteps) return;
  const lrBefore = state.schedule.learningRate;
  const lrAfter = scheduledLearningRate(plan.resolvedOptimizer, plan.multiplier, state.step);
  log(
    `resume: the run's length changed from ${before} to ${plan.totalSteps} steps, so the ${plan.config.schedule.name} schedule is laid out anew over ${plan.totalSteps} steps; ` +
      `learning rate at step ${state.step}: ${formatRate(lrBefore)} before, ${formatRate(lrAfter)} after (for a run meant to be extended, use schedule.name: wsd)`,
  );
}

function formatRate(lr: number): string {
  return lr === 0 ? '0' : lr.toPrecision(4);
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
