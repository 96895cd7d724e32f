/**
 * A run's memory, estimated before the model is built, and the refusal of a run that cannot fit.
 *
 * Estimate (bytes, float32 = 4 bytes a value), from the model family's analytic shapes (`ModelFamily.memory`):
 *   parameters P · (1 weights + 1 gradients + slots optimizer state + 1 accumulated gradients when
 *   train.accumulationSteps > 1 + 1 the new values an update makes before it replaces the old)
 *   + activations of one micro-batch (batchSize / accumulationSteps examples) · 3 (`ACTIVATION_COPIES`: the
 *   forward values the tape keeps, and the backward pass's gradients and temporaries, alive until the step ends);
 *   each extra worker thread adds its own weights, gradients and micro-batch activations.
 * Evaluation holds parameters and optimizer state, plus the forward values of one evaluation batch
 * (min(train.evalBatchSize, the largest evaluated split) examples, `EVAL_ACTIVATION_COPIES`: no tape, no
 * gradients); with the default evalBatchSize of 1000 it is often the larger of the two peaks, and both are checked.
 * Optimizer slots: Lion 1 (momentum), AdamW 2 (first and second moments), Adafactor 1 with beta1 else ~0
 * (its factored second moment is rows + columns per matrix).
 * Limits: wasm addresses at most 4 GiB (32-bit memory); on wasm, cpu, node and webgpu the estimate must also fit
 * the memory available to this process (`process.availableMemory()`, which follows cgroup limits: webgpu stages
 * every upload and read-back there); on gpu no limit is known and nothing is refused.
 * On webgpu, besides, every tensor is one GPU buffer bound whole to a shader, so the largest single tensor (the
 * largest parameter matrix, whose gradient and optimizer state are as large, or the largest activation of one
 * micro-batch, from the model's analytic shapes) must fit the adapter's `maxBufferSize` and
 * `maxStorageBufferBindingSize` (`checkGpuTensors`).
 * The estimate is checked against measured peaks in test/train/memory.test.ts (within the factor stated there).
 */
import type { RunConfig } from '../config/types.generated.js';
import type { GpuBufferLimits } from '../backend.js';
import { EXIT, UserError } from '../errors.js';
import { formatBytes } from '../files/input-file.js';
import type { ModelMemory } from '../models/model.js';

export const WASM_ADDRESS_SPACE = 4 * 1024 ** 3;

/**
 * Activation values alive per forward value at the peak of a step: the forward values, plus the gradients and
 * temporaries of the backward pass, which the step's tf.tidy keeps until it ends (measured about 2x the forward).
 */
export const ACTIVATION_COPIES = 3;

/** Forward values alive per activation while one evaluation batch is measured (no tape: only the forward pass). */
export const EVAL_ACTIVATION_COPIES = 1;

export interface MemoryEstimate {
  /** Bytes of each part. */
  parameters: number;
  gradients: number;
  optimizerState: number;
  /** Accumulated gradients and update temporaries. */
  updateBuffers: number;
  activations: number;
  /** Weights, gradients and activations of the worker threads beyond the first. */
  workers: number;
  total: number;
  microBatch: number;
  /** Examples in one evaluation batch (0: nothing is evaluated). */
  evalBatch: number;
  /** Forward values of one evaluation batch. */
  evalActivations: number;
  /** The peak while evaluating: parameters, optimizer state and `evalActivations`. */
  evaluation: number;
}

/** Optimizer state values per parameter. */
export function optimizerSlots(optimizer: RunConfig['optimizer']): number {
  if (optimizer.name === 'adamw') return 2;
  if (optimizer.name === 'lion') return 1;
  const beta1 = optimizer.adafactor?.beta1;
  return beta1 !== null && beta1 !== undefined ? 1 : 0.01;
}

/**
 * The run's memory in bytes from its model's analytic memory (see the module comment for the formula).
 * `evalBatch`: examples in one evaluation batch (0 when the run evaluates nothing).
 */
export function estimateRunMemory(config: RunConfig, model: ModelMemory, evalBatch = 0): MemoryEstimate {
  const { batchSize, accumulationSteps, workers } = config.train;
  const microBatch = Math.ceil(batchSize / accumulationSteps);
  const p = 4 * model.parameters;
  const parameters = p;
  const gradients = p;
  const optimizerState = Math.ceil(optimizerSlots(config.optimizer) * p);
  const updateBuffers = p * (accumulationSteps > 1 ? 2 : 1);
  const activations = ACTIVATION_COPIES * 4 * model.activationsPerExample * microBatch;
  const extraWorkers = (Math.max(1, workers) - 1) * (parameters + gradients + activations);
  const evalActivations = EVAL_ACTIVATION_COPIES * 4 * model.activationsPerExample * evalBatch;
  return {
    parameters,
    gradients,
    optimizerState,
    updateBuffers,
    activations,
    workers: extraWorkers,
    total: parameters + gradients + optimizerState + updateBuffers + activations + extraWorkers,
    microBatch,
    evalBatch,
    evalActivations,
    evaluation: evalBatch > 0 ? parameters + optimizerState + evalActivations : 0,
  };
}

export interface MemoryLimit {
  bytes: number;
  /** What holds the limit, for the message ("the wasm backend's 4 GiB address space"). */
  what: string;
}

/** The limits a backend's tensors must fit, tightest first. `available` is the memory this process may still use. */
export function memoryLimits(backend: string, available: number): MemoryLimit[] {
  const limits: MemoryLimit[] = [];
  if (backend === 'gpu') return limits;
  limits.push({ bytes: available, what: 'the memory available to this process' });
  if (backend === 'wasm') limits.push({ bytes: WASM_ADDRESS_SPACE, what: "the wasm backend's 4 GiB address space" });
  return limits.sort((a, b) => a.bytes - b.bytes);
}

/** Memory this process may still allocate: free memory within any cgroup limit. */
export function availableMemory(): number {
  return process.availableMemory();
}

/** The config keys to change, in words, for the part of the estimate that is largest. */
function advice(config: RunConfig, estimate: MemoryEstimate): string {
  const modelPart = estimate.parameters + estimate.gradients + estimate.optimizerState + estimate.updateBuffers;
  return modelPart >= estimate.activations ? modelAdvice(config, true) : batchAdvice(config);
}

/** `make model.width (…), model.mlpWidth or model.depth smaller` (depth only where the whole model counts). */
function modelAdvice(config: RunConfig, withDepth: boolean): string {
  const model = config.model as { name: string; width?: number; hidden?: number[]; mlpWidth?: number; depth?: number; dense?: number[] };
  const modelKeys =
    model.name === 'cnn' && model.dense !== undefined
      ? `model.conv's channels or model.dense (${JSON.stringify(model.dense)})`
      : model.width !== undefined
      ? withDepth
        ? `model.width (${model.width}), model.mlpWidth or model.depth`
        : `model.width (${model.width}) or model.mlpWidth (${model.mlpWidth})`
      : model.hidden !== undefined
        ? `model.hidden (${JSON.stringify(model.hidden)})`
        : 'the model';
  return `make ${modelKeys} smaller`;
}

function batchAdvice(config: RunConfig): string {
  return `lower train.batchSize (${config.train.batchSize}) or raise train.accumulationSteps (${config.train.accumulationSteps})`;
}

/** The one-line summary of an estimate: "6.1 GiB (parameters 1.0 GiB, …)". */
export function describeEstimate(e: MemoryEstimate): string {
  const parts = [
    `parameters ${formatBytes(e.parameters)}`,
    `gradients ${formatBytes(e.gradients)}`,
    `optimizer state ${formatBytes(e.optimizerState)}`,
    `update buffers ${formatBytes(e.updateBuffers)}`,
    `activations of a ${e.microBatch}-example micro-batch ${formatBytes(e.activations)}`,
    ...(e.workers > 0 ? [`other worker threads ${formatBytes(e.workers)}`] : []),
  ];
  return `${formatBytes(e.total)} (${parts.join(', ')})`;
}

/** The one-line summary of the evaluation peak: "5.2 GiB (parameters 1.0 GiB, …)". */
function describeEvaluation(e: MemoryEstimate): string {
  const parts = [`parameters ${formatBytes(e.parameters)}`, `optimizer state ${formatBytes(e.optimizerState)}`, `activations of a ${e.evalBatch}-example evaluation batch ${formatBytes(e.evalActivations)}`];
  return `${formatBytes(e.evaluation)} (${parts.join(', ')})`;
}

/**
 * Refuses a run whose training step or evaluation passes a limit of its backend, or (given `gpu`, the webgpu
 * adapter's limits) whose largest tensor does not fit one GPU buffer. `evalBatch`: examples in one evaluation
 * batch, min(train.evalBatchSize, the largest evaluated split); 0 when nothing is evaluated.
 * @throws UserError (exit 2) with the estimate, the limit and what to change.
 */
export function checkMemory(
  config: RunConfig,
  model: ModelMemory,
  backend: string,
  available = availableMemory(),
  gpu?: GpuBufferLimits,
  evalBatch = 0,
): MemoryEstimate {
  if (gpu !== undefined) checkGpuTensors(config, model, gpu);
  const estimate = estimateRunMemory(config, model, evalBatch);
  const limits = memoryLimits(backend, available);
  const limit = limits.find((l) => estimate.total > l.bytes);
  if (limit) {
    throw new UserError(
      `this run needs about ${describeEstimate(estimate)}, more than ${limit.what} (${formatBytes(limit.bytes)}); ${advice(config, estimate)}`,
      EXIT.usage,
    );
  }
  const evalLimit = limits.find((l) => estimate.evaluation > l.bytes);
  if (evalLimit) {
    const fix = estimate.evalActivations >= estimate.parameters + estimate.optimizerState ? `lower train.evalBatchSize (${config.train.evalBatchSize})` : advice(config, estimate);
    throw new UserError(`evaluating this run needs about ${describeEvaluation(estimate)}, more than ${evalLimit.what} (${formatBytes(evalLimit.bytes)}); ${fix}`, EXIT.usage);
  }
  return estimate;
}


/** The largest single tensor of a run: its bytes, what it is, and what to change to shrink it. */
export interface LargestTensor {
  bytes: number;
  what: string;
  advice: string;
}

/** The largest single tensor of a run from the model's analytic shapes; null when the model cannot say. */
export function largestTensor(config: RunConfig, model: ModelMemory): LargestTensor | null {
  const microBatch = Math.ceil(config.train.batchSize / config.train.accumulationSteps);
  const parameter = model.largestParameter === undefined ? null : 4 * model.largestParameter;
  const activation = model.largestActivationPerExample === undefined ? null : 4 * model.largestActivationPerExample * microBatch;
  if (parameter === null && activation === null) return null;
  if (activation === null || (parameter !== null && parameter >= activation)) {
    return { bytes: parameter!, what: 'its largest parameter matrix', advice: modelAdvice(config, false) };
  }
  return { bytes: activation, what: `its largest activation for a ${microBatch}-example micro-batch`, advice: batchAdvice(config) };
}

/**
 * Refuses a webgpu run whose largest single tensor does not fit one GPU buffer of the adapter.
 * @throws UserError (exit 2) with the tensor's size, the limit and what to change.
 */
export function checkGpuTensors(config: RunConfig, model: ModelMemory, limits: GpuBufferLimits): void {
  const largest = largestTensor(config, model);
  if (largest === null) return;
  const [name, bytes] =
    limits.maxStorageBufferBindingSize <= limits.maxBufferSize
      ? ['maxStorageBufferBindingSize', limits.maxStorageBufferBindingSize]
      : ['maxBufferSize', limits.maxBufferSize];
  if (largest.bytes > bytes) {
    throw new UserError(
      `this run's largest tensor, ${largest.what}, needs ${formatBytes(largest.bytes)}, more than the GPU adapter's ${name} (${formatBytes(bytes)}); ${largest.advice}`,
      EXIT.usage,
    );
  }
}

/** Whether an error thrown by a backend is an allocation failure (wasm's out-of-bounds access after a failed grow, V8's). */
export function isAllocationFailure(error: unknown): boolean {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return /memory access out of bounds|Array buffer allocation failed|Out of memory|Cannot allocate|Aborted\(OOM\)|Invalid typed array length|Invalid array buffer length|Could not allocate|failed to grow/i.test(message);
}

/**
 * The one-line error for an allocation failure (exit 1): at `step` when known; `during` names the phase when it
 * was not the training step itself ("evaluating the validation split", "saving a checkpoint").
 */
export function allocationFailure(error: unknown, step?: number, during?: string): UserError {
  const first = (error instanceof Error ? error.message : String(error)).split('\n')[0];
  const where = step === undefined ? '' : during ? ` at step ${step} while ${during}` : ` at step ${step}`;
  const advice = during?.startsWith('evaluating') ? "lower train.evalBatchSize or the model's size" : "lower train.batchSize or the model's size";
  return new UserError(`out of memory${where}: the backend could not allocate a tensor (${first}); ${advice}`, EXIT.failed);
}

/** `error` as the one-line allocation failure when it is one (see `allocationFailure`), else unchanged. */
export function asAllocationFailure(error: unknown, step: number, during?: string): unknown {
  return !(error instanceof UserError) && isAllocationFailure(error) ? allocationFailure(error, step, during) : error;
}
