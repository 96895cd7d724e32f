/** What the main thread and a training worker thread say to each other. */
import type { RunConfig } from '../../config/types.generated.js';
import type { Batch } from '../../data/dataset.js';
import type { InputSpec } from '../../models/model.js';
import type { ParamLayout } from './layout.js';

/** Given once, as workerData, when the thread starts. */
export interface WorkerInit {
  /** Worker number, 1-based (the main thread is 0). */
  index: number;
  /** The concrete backend the main thread runs (wasm, cpu, …). */
  backend: 'gpu' | 'webgpu' | 'node' | 'wasm' | 'cpu';
  model: RunConfig['model'];
  spec: InputSpec;
  labelSmoothing: number;
  /** train.seed: dropout seeds derive from it per (step, micro-batch). */
  seed: number;
  layout: ParamLayout;
  /** The parameters, written by the main thread before each step. */
  params: SharedArrayBuffer;
  /** This worker's gradient slots, one per micro-batch of its share. */
  grads: SharedArrayBuffer;
}

/** Main → worker: compute these micro-batches of `step`; the first is micro-batch `firstMicro` of the step. */
export interface StepRequest {
  type: 'step';
  step: number;
  firstMicro: number;
  micros: Batch[];
}

/** Worker → main. */
export type WorkerReply =
  | { type: 'ready' }
  /** Gradients are in the grads slots; loss and correct count per micro-batch, in order. */
  | { type: 'done'; step: number; losses: number[]; corrects: number[] };
