/**
 * What makes a checkpoint usable by a run, checked as a whole before anything is restored or truncated:
 *   1. `state.json` matches its schema (types, integers, non-negative counts, sha256 checksums);
 *   2. it belongs to this run: its config hash and seed are the run's, its step lies within the run, its
 *      data cursor lies within the training split and agrees with its step;
 *   3. every tensor (name, dtype, shape, byte length) is the one the model and the optimizer expect.
 * A failure throws a CheckpointMismatch whose message names the first problem found.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { NamedArray } from '../safetensors.js';

/** A checkpoint that cannot be used by this run; the message says why. */
export class CheckpointMismatch extends Error {
  override name = 'CheckpointMismatch';
}

const count = { type: 'integer', minimum: 0 };
const finiteNonNegative = { type: 'number', minimum: 0 };
const nullableNumber = { type: ['number', 'null'] };
const sha256 = { type: 'string', pattern: '^[0-9a-f]{64}$' };

/** The schema of state.json (format 1). Extra keys are refused: a checkpoint is read only by the writer's rules. */
const STATE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['format', 'step', 'epoch', 'cursor', 'rng', 'schedule', 'earlyStopping', 'best', 'totals', 'lastLoggedStep', 'checkpointMetric', 'configHash', 'checksums'],
  properties: {
    format: { const: 1 },
    step: count,
    epoch: finiteNonNegative,
    cursor: { type: 'object', additionalProperties: false, required: ['epoch', 'position'], properties: { epoch: count, position: count } },
    rng: {
      type: 'object',
      additionalProperties: false,
      required: ['algorithm', 'seed', 'step'],
      properties: { algorithm: { const: 'sfc32-derived' }, seed: { type: 'integer' }, step: count },
    },
    schedule: { type: 'object', additionalProperties: false, required: ['multiplier', 'learningRate'], properties: { multiplier: { type: 'number' }, learningRate: { type: 'number' } } },
    // Object-or-null, with the object's keywords applying only to objects: errors name the bad field.
    earlyStopping: { type: ['object', 'null'], additionalProperties: false, required: ['best', 'badEvaluations'], properties: { best: nullableNumber, badEvaluations: count } },
    best: { type: ['object', 'null'], additionalProperties: false, required: ['metric', 'value', 'step'], properties: { metric: { type: 'string' }, value: { type: 'number' }, step: count } },
    totals: {
      type: 'object',
      additionalProperties: false,
      required: ['examples', 'flops', 'trainSeconds', 'wallSeconds'],
      properties: { examples: count, flops: finiteNonNegative, trainSeconds: finiteNonNegative, wallSeconds: finiteNonNegative },
    },
    lastLoggedStep: count,
    checkpointMetric: nullableNumber,
    configHash: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    checksums: {
      type: 'object',
      additionalProperties: false,
      required: ['model.safetensors', 'optimizer.safetensors'],
      properties: { 'model.safetensors': sha256, 'optimizer.safetensors': sha256 },
    },
    interval: {
      type: 'object',
      additionalProperties: false,
      required: ['lossSum', 'correct', 'labels', 'steps'],
      properties: { lossSum: { type: 'number' }, correct: count, labels: count, steps: count },
    },
  },
} as const;

// Compiled on first use: every command loads this module, and few of them read a checkpoint.
let validateSchema: ValidateFunction | undefined;
const stateValidator = (): ValidateFunction => (validateSchema ??= new Ajv2020({ allErrors: false, strict: true, allowUnionTypes: true }).compile(STATE_SCHEMA));

function schemaMessage(error: ErrorObject): string {
  const key = error.instancePath.slice(1).replace(/\//g, '.') || 'state.json';
  if (error.keyword === 'additionalProperties') return `${key === 'state.json' ? '' : `${key}.`}${String(error.params.additionalProperty)} is not a checkpoint field`;
  if (error.keyword === 'required') return `${key === 'state.json' ? '' : `${key}.`}${String(error.params.missingProperty)} is missing`;
  return `${key} ${error.message ?? 'is invalid'}`;
}

/**
 * Checks state.json's shape (the schema above) without any run to compare with; used by readers such
 * as `export`. Throws CheckpointMismatch naming the first bad field.
 */
export function checkStateSchema(raw: unknown): void {
  const validate = stateValidator();
  if (!validate(raw)) throw new CheckpointMismatch(`state.json: ${schemaMessage(validate.errors![0])}`);
}

/** What a run expects of a checkpoint it would resume from. */
export interface RunExpectation {
  configHash: string;
  seed: number;
  /** The furthest step this run (as started, or as configured now) can reach. */
  maxStep: number;
  trainExamples: number;
  batchSize: number;
  /** Parameters by name with their shapes (float32). */
  model: { name: string; shape: number[] }[];
  /** Optimizer tensors by name with shapes and dtype (`iter` is the int32 step counter). */
  optimizer: { name: string; shape: number[]; dtype: 'F32' | 'I32' }[];
}

interface StateFields {
  step: number;
  cursor: { epoch: number; position: number };
  rng: { seed: number; step: number };
  configHash: string;
  lastLoggedStep: number;
}

/** Checks a schema-valid state against the run. Throws CheckpointMismatch naming the first mismatch. */
export function checkStateAgainstRun(state: StateFields, run: RunExpectation): void {
  const fail = (message: string) => {
    throw new CheckpointMismatch(`state.json: ${message}`);
  };
  if (state.configHash !== run.configHash) fail(`config hash ${state.configHash.slice(0, 12)}… is not this run's (${run.configHash.slice(0, 12)}…): the checkpoint belongs to another run`);
  if (state.rng.seed !== run.seed) fail(`seed ${state.rng.seed} is not this run's train.seed ${run.seed}`);
  if (state.step < 1 || state.step > run.maxStep) fail(`step ${state.step} is outside this run's steps 1…${run.maxStep}`);
  if (state.rng.step !== state.step) fail(`rng.step ${state.rng.step} differs from step ${state.step}`);
  if (state.lastLoggedStep > state.step) fail(`lastLoggedStep ${state.lastLoggedStep} is after step ${state.step}`);
  const { epoch, position } = state.cursor;
  if (position + run.batchSize > run.trainExamples || position % run.batchSize !== 0) {
    fail(`cursor.position ${position} is not a batch start within the ${run.trainExamples} training examples`);
  }
  const stepsPerEpoch = Math.floor(run.trainExamples / run.batchSize);
  if (epoch * stepsPerEpoch + position / run.batchSize !== state.step) fail(`cursor {epoch ${epoch}, position ${position}} does not match step ${state.step}`);
}

/** Checks tensors against the expected names, dtypes and shapes (byte lengths follow from them). */
export function checkTensors(file: string, tensors: NamedArray[], expected: { name: string; shape: number[]; dtype?: 'F32' | 'I32' }[]): void {
  const fail = (message: string) => {
    throw new CheckpointMismatch(`${file}: ${message}`);
  };
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const want of expected) {
    const got = byName.get(want.name);
    if (!got) fail(`tensor ${want.name} is missing`);
    const dtype = got!.data instanceof Int32Array ? 'I32' : 'F32';
    if (dtype !== (want.dtype ?? 'F32')) fail(`tensor ${want.name} is ${dtype}, expected ${want.dtype ?? 'F32'}`);
    if (got!.shape.join(',') !== want.shape.join(',')) fail(`tensor ${want.name} has shape [${got!.shape}], expected [${want.shape}]`);
    const elements = want.shape.reduce((a, b) => a * b, 1);
    if (got!.data.length !== elements) fail(`tensor ${want.name} holds ${got!.data.length} values, its shape [${want.shape}] needs ${elements}`);
  }
  const known = new Set(expected.map((e) => e.name));
  const extra = tensors.find((t) => !known.has(t.name));
  if (extra) fail(`tensor ${extra.name} is not part of this run`);
}

/** The first tensor holding a NaN or ±Inf, as `name` (null when all are finite). One pass per tensor. */
export function firstNonFinite(tensors: NamedArray[]): string | null {
  for (const t of tensors) {
    const data = t.data;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return t.name;
  }
  return null;
}
