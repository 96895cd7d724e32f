/**
 * The training loop, top to bottom: state (fresh or resumed) → steps → logs, evals, checkpoints →
 * final evaluation and summary. No hidden callbacks: every side effect is written out here.
 *
 * Resume rules:
 *   1. The newest checkpoint that is whole and belongs to this run is used (train.ts validates it before
 *      anything is touched: checkpoint-state.ts); an unusable one falls back to the one before.
 *   2. Parameters, optimizer state (step counters included), sampler cursor, best metric, early-stopping
 *      counters, log-interval sums and compute totals all come from the checkpoint.
 *   3. All randomness derives from (seed, purpose, step), so restoring the step restores the PRNG.
 *   4. metrics.jsonl and compute.jsonl are cut back to the checkpoint's step, so they continue without
 *      duplicated or missing steps.
 *   5. Nothing is saved from a non-finite state, and a checkpoint carries checkpoint.bestMetric only when
 *      it was measured at the checkpoint's own step (see writeCheckpoint).
 */
import * as tf from '../tf.js';
import { EpochSampler, type Cursor } from '../data/sampler.js';
import { BatchStream, trainingBatches } from './batch-stream.js';
import { scheduledLearningRate } from '../optim/factory.js';
import { JsonlLog } from '../telemetry/jsonl.js';
import type { Progress } from '../telemetry/progress.js';
import { summaryTotals, writeSummary, type RunStatus, type RunSummary, type SplitMetrics } from '../telemetry/summary.js';
import {
  checkpointMetricOf,
  nonFiniteTensor,
  NonFiniteState,
  pruneCheckpoints,
  readBestPointer,
  restoreModel,
  restoreOptimizer,
  saveCheckpoint,
  writeBestPointer,
  type LoadedCheckpoint,
  type TrainingState,
} from './checkpoint.js';
import { evaluate, type EvalResult } from './evaluate.js';
import type { Plan } from './plan.js';
import type { RunPaths } from './run-dir.js';
import { allocationFailure, asAllocationFailure, isAllocationFailure } from './memory.js';
import { takeDeviceError } from '../webgpu.js';
import { readStepScalars, stepScalars, trainStepTensors, type StepResult } from './step.js';
import { trainStepWithWorkers, WorkerFailure, type WorkerPool } from './workers/index.js';
import { derivedMetrics, labelsPerExample } from './task.js';

export interface StopRequest {
  /** Set (e.g. to 'SIGINT') to finish the current step, checkpoint and stop. */
  signal: string | null;
}

export interface LoopOptions {
  paths: RunPaths;
  progress: Progress;
  configHash: string;
  resumeFrom?: LoadedCheckpoint;
  stop: StopRequest;
  /** Stop after this many steps with a checkpoint, to continue later with --resume. */
  pauseAtStep?: number;
  /** Worker threads that share each step's micro-batches (train.workers > 1). */
  workers?: WorkerPool;
  /** Filled in by the loop: the summary of what the run has reached so far (for an exit on an error or a forced quit). */
  live?: LiveRun;
}

export interface LiveRun {
  /** Status running, the step reached, totals and the last metrics measured. */
  summary?: () => RunSummary;
}

type Mode = 'min' | 'max';

function modeFor(metric: string, mode: 'auto' | Mode): Mode {
  if (mode !== 'auto') return mode;
  return /accuracy/i.test(metric) ? 'max' : 'min';
}

function improves(value: number, best: number | null, mode: Mode, minDelta = 0): boolean {
  if (!Number.isFinite(value)) return false;
  if (best === null) return true;
  return mode === 'min' ? value < best - minDelta : value > best + minDelta;
}

/** A step taken whose results have not been read yet, with what its records need from the moment it was taken. */
interface PendingStep {
  /** The step count after it. */
  step: number;
  /** Its results: a `stepScalars` tensor still on the device, or already read (worker threads). */
  outcome: tf.Tensor1D | StepResult;
  labels: number;
  lr: number;
  logNow: boolean;
  epoch: number;
  cursor: Cursor;
  totals: TrainingState['totals'];
  elapsed: number;
}

interface IntervalSums {
  lossSum: number;
  correct: number;
  labels: number;
  steps: number;
}

export async function runLoop(plan: Plan, options: LoopOptions): Promise<RunSummary> {
  const { config, model, optimizer, dataset, task, totalSteps } = plan;
  const { train, checkpoint: ckpt, log } = config;
  const { paths, progress, stop } = options;
  const metrics = new JsonlLog(paths.metrics);
  const compute = new JsonlLog(paths.compute, { roundFloats: true });
  const note = (line: string) => progress.note(line);

  // ── 1. State: fresh, or restored from a checkpoint ──────────────────────────────────────────
  let state: Omit<TrainingState, 'checksums' | 'format'> & { interval: IntervalSums } = {
    step: 0,
    epoch: 0,
    cursor: { epoch: 0, position: 0 },
    rng: { algorithm: 'sfc32-derived', seed: train.seed, step: 0 },
    schedule: { multiplier: plan.multiplier(0), learningRate: scheduledLearningRate(plan.resolvedOptimizer, plan.multiplier, 0) },
    earlyStopping: train.earlyStopping ? { best: null, badEvaluations: 0 } : null,
    best: null,
    totals: { examples: 0, flops: 0, trainSeconds: 0, wallSeconds: 0 },
    lastLoggedStep: 0,
    checkpointMetric: null,
    configHash: options.configHash,
    interval: { lossSum: 0, correct: 0, labels: 0, steps: 0 },
  };
  const resumed = options.resumeFrom;
  if (resumed) {
    restoreModel(model, resumed.model);
    await restoreOptimizer(optimizer, resumed.optimizer);
    const saved = resumed.state as TrainingState & { interval?: IntervalSums };
    state = { ...state, ...saved, configHash: options.configHash, interval: saved.interval ?? state.interval };
    note(`resumed from ${resumed.name} (step ${state.step})`);
  }
  // A resumed run drops what was logged after its checkpoint (or everything, resuming without one).
  metrics.truncateAfter(state.step);
  compute.truncateAfter(state.step);
  const makeBatch = trainingBatches(dataset, train.seed);
  const batchesFrom = (cursor: Cursor) => new BatchStream(new EpochSampler(dataset.train.size, train.batchSize, train.seed, cursor), makeBatch);
  let batches = batchesFrom(state.cursor);
  /** Steps taken whose results are not read yet, in order (see readPending). */
  let pending: PendingStep[] = [];
  const bestMode = modeFor(ckpt.bestMetric, ckpt.bestMode);
  const stopMode = train.earlyStopping ? modeFor(train.earlyStopping.metric, train.earlyStopping.mode) : 'min';
  let bestCheckpoint = readBestPointer(paths.checkpoints);
  let bestCheckpointValue = bestCheckpoint ? checkpointMetricOf(paths.checkpoints, bestCheckpoint) : null;

  const sessionStart = performance.now();
  const wallBefore = state.totals.wallSeconds;
  const wallSeconds = () => wallBefore + (performance.now() - sessionStart) / 1000;
  let lastCheckpointTime = performance.now();
  let lastValidation: EvalResult | undefined;
  let lastValidationStep = -1;
  let lastTrainMetrics: SplitMetrics | undefined;
  let stepTimeSum = 0;
  let status: RunStatus = 'completed';
  let reason = '';

  const startedAt = new Date().toISOString();
  const summary = (final: RunSummary['final'], finishedAt: string | null, current: RunStatus = status): RunSummary => ({
    name: config.name!,
    status: current,
    reason,
    model: plan.labels.model,
    dataset: plan.labels.data,
    optimizer: plan.resolvedOptimizer.name,
    backend: plan.backend.name,
    ...(plan.backend.adapter ? { adapter: plan.backend.adapter } : {}),
    parameterCount: model.parameterCount,
    optimizerStateBytes: optimizer.stateBytes(),
    steps: state.step,
    totalSteps,
    epochs: batches.epochProgress(),
    final,
    best: state.best,
    totals: summaryTotals(state.totals),
    startedAt,
    finishedAt,
    configHash: options.configHash,
  });
  writeSummary(paths.summary, summary({}, null, 'running'));
  if (options.live) options.live.summary = () => summary(finalSoFar(), null, 'running');

  const metricValue = (name: string): number | undefined => {
    const [split, key] = name.split('.');
    if (split === 'validation') return lastValidation?.[key];
    if (split === 'train') return lastTrainMetrics?.[key];
    return undefined;
  };

  /** The metric's value only when it was measured at the current step, on the current weights. */
  const measuredNow = (name: string): number | undefined => {
    const split = name.split('.')[0];
    if (split === 'validation' && lastValidationStep !== state.step) return undefined;
    if (split === 'train' && state.lastLoggedStep !== state.step) return undefined;
    return metricValue(name);
  };

  /** Tracks the best value of checkpoint.bestMetric seen so far (reported in the summary). */
  const recordBest = () => {
    const value = metricValue(ckpt.bestMetric);
    if (value !== undefined && improves(value, state.best?.value ?? null, bestMode)) state.best = { metric: ckpt.bestMetric, value, step: state.step };
  };

  /** Evaluates one split; an allocation failure there is reported as such, with the step and the split. */
  const evaluateSplit = async (split: 'validation' | 'test', stopped?: () => boolean): Promise<EvalResult | undefined> => {
    const data = dataset[split];
    if (!data) return undefined;
    try {
      return await evaluate(model, data, task, train.evalBatchSize, split === 'validation' ? train.evalExamples : null, stopped);
    } catch (error) {
      throw asAllocationFailure(error, state.step, `evaluating the ${split} split`);
    }
  };

  const validate = async () => {
    if (!dataset.validation) return;
    recordValidation((await evaluateSplit('validation'))!);
  };

  const recordValidation = (result: EvalResult) => {
    lastValidation = recordEvaluation(result, 'validation');
    lastValidationStep = state.step;
    recordBest();
  };

  const recordEvaluation = (result: EvalResult, splitName: string): EvalResult => {
    const { examples: _examples, ...values } = result;
    metrics.append({ step: state.step, epoch: batches.epochProgress(), split: splitName, ...values, elapsed: wallSeconds() });
    note(`step ${state.step} ${splitName}: ${Object.entries(values).map(([k, v]) => `${k} ${k === 'accuracy' ? `${(100 * v).toFixed(2)}%` : v.toFixed(4)}`).join('  ')}`);
    return result;
  };

  /** The final metrics measured so far (train and validation). */
  const finalSoFar = (): RunSummary['final'] => {
    const final: RunSummary['final'] = {};
    if (lastTrainMetrics) final.train = lastTrainMetrics;
    if (lastValidation) {
      const { examples: _e, ...validation } = lastValidation;
      final.validation = validation;
    }
    return final;
  };

  /** A non-finite state ends the run as diverged, naming the step and the first bad tensor; nothing is saved. */
  const diverge = (tensor: string) => {
    status = 'diverged';
    reason = `${tensor} is not finite (NaN or Inf) at step ${state.step}; nothing was saved from it`;
  };

  /**
   * Saves a checkpoint; false (and the run diverged) when the state is not finite. A checkpoint is tagged
   * with checkpoint.bestMetric only when that metric was measured at its step: periodic and end-of-run
   * checkpoints evaluate the validation split first when it was not evaluated at this step; a checkpoint
   * on a signal or pause is not evaluated (that would change the run's records) and is tagged only if it is.
   */
  const writeCheckpoint = async (why: string, evaluateFirst: boolean): Promise<boolean> => {
    const measurable = ckpt.keepBest && ckpt.bestMetric.startsWith('validation.') && dataset.validation !== undefined;
    if (evaluateFirst && measurable && lastValidationStep !== state.step) {
      const bad = await nonFiniteTensor(model, optimizer);
      if (bad) {
        diverge(bad);
        return false;
      }
      await validate();
    }
    // Weights whose own evaluation overflows are not saved either (finite but huge: NaN logits).
    if (lastValidationStep === state.step && lastValidation && !Number.isFinite(lastValidation.loss)) {
      status = 'diverged';
      reason = `validation loss is ${lastValidation.loss} at step ${state.step}; nothing was saved from it`;
      return false;
    }
    state.cursor = batches.position();
    state.epoch = batches.epochProgress();
    state.totals.wallSeconds = wallSeconds();
    state.schedule = { multiplier: plan.multiplier(state.step), learningRate: scheduledLearningRate(plan.resolvedOptimizer, plan.multiplier, state.step) };
    const value = measuredNow(ckpt.bestMetric);
    state.checkpointMetric = value ?? null;
    let saved;
    try {
      saved = await saveCheckpoint(paths.checkpoints, model, optimizer, state);
    } catch (error) {
      if (!(error instanceof NonFiniteState)) throw asAllocationFailure(error, state.step, 'saving a checkpoint');
      diverge(error.tensor);
      return false;
    }
    if (ckpt.keepBest && value !== undefined && improves(value, bestCheckpointValue, bestMode)) {
      bestCheckpoint = saved.name;
      bestCheckpointValue = value;
      writeBestPointer(paths.checkpoints, saved.name);
    }
    pruneCheckpoints(paths.checkpoints, ckpt.keepLast, ckpt.keepBest ? bestCheckpoint : undefined, note);
    lastCheckpointTime = performance.now();
    note(`checkpoint ${saved.name} (${why})`);
    return true;
  };

  /**
   * The read-back rule: a step's loss, correct count and norms stay on the device (as one small tensor) until
   * they are needed: at a log step, before an evaluation or a checkpoint, and before the loop stops. Then every
   * step not read yet is read with one asynchronous data(), and processed in step order exactly as if it had
   * been read at its own step: interval sums, the first non-finite loss (the run diverged at that step: the
   * step counter, totals and data cursor go back to it, so the later steps never happened), the log records.
   * Returns true when a step diverged.
   */
  const readPending = async (): Promise<boolean> => {
    if (pending.length === 0) return false;
    const steps = pending;
    pending = [];
    const waitStart = performance.now();
    const tensors = steps.flatMap((p) => (p.outcome instanceof tf.Tensor ? [p.outcome as tf.Tensor1D] : []));
    const read = await readStepScalars(tensors);
    // Waiting for the device is part of the steps' time.
    const waited = (performance.now() - waitStart) / 1000;
    state.totals.trainSeconds += waited;
    stepTimeSum += waited;
    steps[steps.length - 1].totals.trainSeconds += waited;
    let next = 0;
    for (const [k, p] of steps.entries()) {
      const result = p.outcome instanceof tf.Tensor ? read[next++] : p.outcome;
      state.interval = {
        lossSum: state.interval.lossSum + result.loss * p.labels,
        correct: state.interval.correct + result.correct,
        labels: state.interval.labels + p.labels,
        steps: state.interval.steps + 1,
      };
      // c. A loss that is not finite ends the run.
      if (!Number.isFinite(result.loss)) {
        if (k < steps.length - 1) {
          state.step = p.step;
          state.rng.step = p.step;
          state.totals = p.totals;
          batches = batchesFrom(p.cursor);
        }
        status = 'diverged';
        reason = `loss is ${result.loss} at step ${p.step}`;
        metrics.append({ step: p.step, epoch: p.epoch, split: 'train', loss: String(result.loss), lr: p.lr, elapsed: p.elapsed });
        return true;
      }
      // d. Train metrics and compute figures every log interval (a log step is always the last one read).
      if (p.logNow) logInterval(p, result);
    }
    return false;
  };

  const logInterval = (p: PendingStep, result: StepResult) => {
    const loss = state.interval.lossSum / state.interval.labels;
    const accuracy = state.interval.correct / state.interval.labels;
    lastTrainMetrics = { loss, accuracy, ...derivedMetrics(task, loss) };
    metrics.append({
      step: p.step,
      epoch: p.epoch,
      split: 'train',
      ...lastTrainMetrics,
      lr: p.lr,
      gradNorm: result.gradNorm,
      updateNorm: result.updateNorm,
      elapsed: wallSeconds(),
    });
    const meanStep = stepTimeSum / state.interval.steps;
    const memory = tf.memory();
    compute.append({
      step: p.step,
      stepTimeMs: meanStep * 1000,
      examplesPerSecond: train.batchSize / meanStep,
      flopsPerStep: plan.flopsPerStep,
      flopsTotal: p.totals.flops,
      gflopsPerSecond: plan.flopsPerStep === null ? null : plan.flopsPerStep / meanStep / 1e9,
      rssBytes: process.memoryUsage().rss,
      tfBytes: memory.numBytes,
      tfTensors: memory.numTensors,
      optimizerStateBytes: optimizer.stateBytes(),
      backend: plan.backend.name,
      ...(plan.backend.adapter ? { adapter: plan.backend.adapter } : {}),
    });
    state.lastLoggedStep = p.step;
    recordBest();
    state.interval = { lossSum: 0, correct: 0, labels: 0, steps: 0 };
    stepTimeSum = 0;
  };

  // ── 2. The loop ──────────────────────────────────────────────────────────────────────────────
  progress.start(totalSteps, state.step);
  const stepSettings = {
    model,
    optimizer,
    accumulationSteps: train.accumulationSteps,
    gradClipNorm: train.gradClipNorm,
    labelSmoothing: train.labelSmoothing,
    seed: train.seed,
  };
  for (;;) {
    // a. Stop conditions. Yielding to the event loop first lets SIGINT/SIGTERM handlers run. Before stopping,
    //    the steps not read yet are read: one of them may have diverged.
    await new Promise((resolve) => setImmediate(resolve));
    const stopping =
      state.step >= totalSteps ||
      (train.maxMinutes !== null && wallSeconds() >= train.maxMinutes * 60) ||
      stop.signal !== null ||
      (options.pauseAtStep !== undefined && state.step >= options.pauseAtStep);
    if (stopping && (await readPending())) break;
    if (state.step >= totalSteps) {
      reason = train.steps !== null && state.step >= train.steps ? 'steps' : 'epochs';
      break;
    }
    if (train.maxMinutes !== null && wallSeconds() >= train.maxMinutes * 60) {
      reason = 'time';
      break;
    }
    if (stop.signal) {
      status = 'interrupted';
      reason = stop.signal;
      break;
    }
    if (options.pauseAtStep !== undefined && state.step >= options.pauseAtStep) {
      status = 'interrupted';
      reason = `paused at step ${state.step}`;
      break;
    }

    // b. One optimizer step (shared with the worker threads when train.workers > 1; a failed thread fails the run).
    //    Its results stay on the device until the next read (see readPending).
    const stepStart = performance.now();
    const batch = batches.take(state.step);
    const nextStep = state.step + 1;
    // While this thread waits for the others, the next step's batch (the cursor checkpoints record does not move).
    const whileWaiting = () => nextStep < totalSteps && batches.prepare(nextStep);
    const logNow = nextStep % log.everySteps === 0 || nextStep === totalSteps;
    let outcome: PendingStep['outcome'];
    try {
      outcome = options.workers
        ? await trainStepWithWorkers(stepSettings, options.workers, batch, state.step, logNow, whileWaiting)
        : stepScalars(trainStepTensors(stepSettings, batch, state.step, logNow));
    } catch (error) {
      if (isAllocationFailure(error)) throw allocationFailure(error, nextStep);
      if (!(error instanceof WorkerFailure)) throw error;
      status = 'failed';
      reason = error.message;
      break;
    }
    const deviceError = takeDeviceError();
    if (deviceError !== undefined) {
      status = 'failed';
      reason = `the GPU rejected work in step ${state.step + 1}: ${deviceError}`;
      break;
    }
    const lr = scheduledLearningRate(plan.resolvedOptimizer, plan.multiplier, state.step);
    const stepSeconds = (performance.now() - stepStart) / 1000;
    state.step = nextStep;
    state.rng.step = nextStep;
    state.totals.examples += train.batchSize;
    state.totals.flops += plan.flopsPerStep ?? 0;
    state.totals.trainSeconds += stepSeconds;
    stepTimeSum += stepSeconds;
    pending.push({
      step: nextStep,
      outcome,
      labels: batch.yShape[0] * labelsPerExample(batch.yShape),
      lr,
      logNow,
      epoch: batches.epochProgress(),
      cursor: batches.position(),
      totals: { ...state.totals },
      elapsed: wallSeconds(),
    });

    // c-d. At a log step, and before anything that needs the results (an evaluation, a checkpoint): read them.
    const evalNow = train.evalEvery > 0 && state.step % train.evalEvery === 0;
    if ((logNow || evalNow) && (await readPending())) break;
    progress.update(state.step, {
      loss: lastTrainMetrics?.loss,
      accuracy: task === 'classification' ? lastTrainMetrics?.accuracy : undefined,
      bitsPerChar: task === 'language' ? lastTrainMetrics?.bitsPerChar : undefined,
      lr,
      examplesPerSecond: state.totals.trainSeconds > 0 ? state.totals.examples / state.totals.trainSeconds : 0,
    });

    // e. Validation, best metric and early stopping.
    if (evalNow) await validate();
    if (evalNow && train.earlyStopping && state.earlyStopping) {
      const value = metricValue(train.earlyStopping.metric);
      if (value !== undefined) {
        if (improves(value, state.earlyStopping.best, stopMode, train.earlyStopping.minDelta)) state.earlyStopping = { best: value, badEvaluations: 0 };
        else state.earlyStopping.badEvaluations += 1;
        if (state.earlyStopping.badEvaluations >= train.earlyStopping.patience) {
          reason = `early-stopping: ${train.earlyStopping.metric} did not improve for ${train.earlyStopping.patience} evaluations`;
          break;
        }
      }
    }

    // f. Periodic checkpoints (of read results only).
    const dueBySteps = ckpt.everySteps !== null && state.step % ckpt.everySteps === 0;
    const dueByTime = ckpt.everyMinutes !== null && performance.now() - lastCheckpointTime >= ckpt.everyMinutes * 60_000;
    if ((dueBySteps || dueByTime) && state.step < totalSteps) {
      if (await readPending()) break;
      if (!(await writeCheckpoint(dueBySteps ? 'every steps' : 'every minutes', true))) break;
    }
  }
  progress.stop();
  // Steps left unread by a failed step (the run failed: their results do not matter).
  tf.dispose(pending.flatMap((p) => (p.outcome instanceof tf.Tensor ? [p.outcome] : [])));

  // ── 3. Final evaluation, checkpoint and summary ────────────────────────────────────────────────
  // Both final evaluations are measured before either is recorded: a signal during them stops the run
  // as interrupted (checkpoint on signal) with no partial record, and a resume evaluates again.
  let testResult: EvalResult | undefined;
  // Nothing is evaluated or saved from a non-finite state: the run diverged (the last good checkpoint stays latest).
  if (status === 'completed' || status === 'interrupted') {
    const bad = state.step > 0 ? await nonFiniteTensor(model, optimizer) : null;
    if (bad) diverge(bad);
  }
  if (status === 'completed') {
    const stopped = () => stop.signal !== null;
    const validation = lastValidationStep !== state.step ? await evaluateSplit('validation', stopped) : undefined;
    testResult = !stopped() ? await evaluateSplit('test', stopped) : undefined;
    if (stopped()) {
      status = 'interrupted';
      reason = stop.signal!;
    } else {
      if (validation) recordValidation(validation);
      if (testResult) recordEvaluation(testResult, 'test');
    }
  }
  const final = finalSoFar();
  if (testResult && status === 'completed') {
    const { examples: _e, ...test } = testResult;
    final.test = test;
  }
  const paused = options.pauseAtStep !== undefined && status === 'interrupted' && !stop.signal;
  const wantCheckpoint = (status === 'completed' && ckpt.atEnd) || (status === 'interrupted' && (ckpt.onSignal || paused));
  if (wantCheckpoint && state.step > 0) await writeCheckpoint(status === 'completed' ? 'end of training' : `on ${reason}`, false);
  state.totals.wallSeconds = wallSeconds();
  const done = summary(final, new Date().toISOString());
  writeSummary(paths.summary, done);
  return done;
}
