/**
 * Checkpoints: checkpoints/step-000500/{model.safetensors, optimizer.safetensors, state.json}, and
 * `latest`, a pointer written last. Atomic: written into a temporary directory, flushed, renamed into
 * place; a crash at any instant leaves every earlier checkpoint intact and loadable.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../tf.js';
import { fsyncDirectory, writeFileAtomic } from '../atomic-write.js';
import type { Cursor } from '../data/sampler.js';
import type { Model } from '../models/model.js';
import { openInputFile, readInputText } from '../files/input-file.js';
import { EXIT, UserError } from '../errors.js';
import type { RunOptimizer } from '../optim/factory.js';
import { encodeSafetensors, readSafetensorsFile, type NamedArray } from '../safetensors.js';
import { CHECKPOINT_DIR, foreignCheckpoint, removeOwned } from './run-dir.js';
import { byStep, checkpointName, listCheckpoints } from './checkpoint-ref.js';
import { checkStateAgainstRun, checkStateSchema, checkTensors, CheckpointMismatch, firstNonFinite, type RunExpectation } from './checkpoint-state.js';

export { CheckpointMismatch, type RunExpectation } from './checkpoint-state.js';
export { checkpointName, listCheckpoints, readBestPointer } from './checkpoint-ref.js';

/** The model or optimizer state holds NaN or ±Inf: nothing is saved from it. */
export class NonFiniteState extends Error {
  override name = 'NonFiniteState';
  constructor(readonly tensor: string) {
    super(`${tensor} is not finite (NaN or Inf)`);
  }
}

export const CHECKPOINT_FORMAT = 1;

/** Everything besides tensors that a resumed run needs to continue exactly. */
export interface TrainingState {
  format: number;
  /** Optimizer steps completed. */
  step: number;
  epoch: number;
  /** The data sampler's position. */
  cursor: Cursor;
  /** All randomness derives from (seed, purpose, step): the seed and step are the PRNG state. */
  rng: { algorithm: 'sfc32-derived'; seed: number; step: number };
  schedule: { multiplier: number; learningRate: number };
  earlyStopping: { best: number | null; badEvaluations: number } | null;
  best: { metric: string; value: number; step: number } | null;
  totals: { examples: number; flops: number; trainSeconds: number; wallSeconds: number };
  /** The last metrics written, so logs continue without gaps or duplicates. */
  lastLoggedStep: number;
  /** Value of checkpoint.bestMetric when this checkpoint was written (null before any evaluation). */
  checkpointMetric: number | null;
  configHash: string;
  /** sha256 of each tensor file. */
  checksums: Record<string, string>;
}

export interface SavedCheckpoint {
  name: string;
  dir: string;
  state: TrainingState;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** sha256 of a file, read in 4 MiB pieces (memory stays flat however large the file is). */
export function fileSha256(path: string): string {
  const { fd } = openInputFile(path);
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(4 << 20);
    for (let n = readSync(fd, buffer, 0, buffer.length, null); n > 0; n = readSync(fd, buffer, 0, buffer.length, null)) hash.update(buffer.subarray(0, n));
    return hash.digest('hex');
  } finally {
    closeSync(fd);
  }
}

function writeDurable(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The parameters as arrays, read with data() (the webgpu backend cannot read synchronously in Node). */
export async function modelArrays(model: Model): Promise<NamedArray[]> {
  return Promise.all([...model.params].map(async ([name, v]) => ({ name, shape: v.shape, data: (await v.data()).slice() as Float32Array })));
}

async function optimizerArrays(optimizer: tf.Optimizer): Promise<NamedArray[]> {
  const weights = await optimizer.getWeights();
  const arrays = await Promise.all(weights.map(async ({ name, tensor }) => ({ name, shape: tensor.shape, data: (await tensor.data()).slice() as Float32Array })));
  // getWeights hands out the state variables themselves plus a fresh iteration-count scalar.
  for (const { tensor } of weights) if (!(tensor instanceof tf.Variable)) tensor.dispose();
  return arrays;
}

/**
 * The first parameter or optimizer-state tensor holding NaN or ±Inf (as `parameter <name>` or
 * `optimizer state <name>`), or null. One pass over each tensor's values.
 */
export async function nonFiniteTensor(model: Model, optimizer: tf.Optimizer): Promise<string | null> {
  const badParam = firstNonFinite(await modelArrays(model));
  if (badParam) return `parameter ${badParam}`;
  const badState = firstNonFinite(await optimizerArrays(optimizer));
  return badState ? `optimizer state ${badState}` : null;
}

/** Writes a checkpoint atomically; throws NonFiniteState (writing nothing) when the state holds NaN or Inf. */
export async function saveCheckpoint(
  checkpointsDir: string,
  model: Model,
  optimizer: tf.Optimizer,
  state: Omit<TrainingState, 'checksums' | 'format'>,
): Promise<SavedCheckpoint> {
  const name = checkpointName(state.step);
  const finalDir = join(checkpointsDir, name);
  const tempDir = join(checkpointsDir, `.tmp-${name}-${process.pid}`);
  removeOwned(tempDir);
  mkdirSync(tempDir);
  // Nothing is saved from a non-finite state (checked on the copies about to be written: one pass each).
  const params = await modelArrays(model);
  const optimizerState = await optimizerArrays(optimizer);
  const bad = firstNonFinite(params) ?? firstNonFinite(optimizerState);
  if (bad) {
    removeOwned(tempDir);
    throw new NonFiniteState(firstNonFinite(params) ? `parameter ${bad}` : `optimizer state ${bad}`);
  }
  const checksums: Record<string, string> = {};
  let full: TrainingState;
  try {
    const files: Record<string, Uint8Array> = {
      'model.safetensors': encodeSafetensors(params, { format: 'pt', producer: 'lion-train' }),
      'optimizer.safetensors': encodeSafetensors(optimizerState, { producer: 'lion-train' }),
    };
    for (const [file, bytes] of Object.entries(files)) {
      writeDurable(join(tempDir, file), bytes);
      checksums[file] = sha256(bytes);
    }
    full = { format: CHECKPOINT_FORMAT, ...state, checksums };
    writeDurable(join(tempDir, 'state.json'), Buffer.from(`${JSON.stringify(full, null, 2)}\n`));
    fsyncDirectory(tempDir);
  } catch (error) {
    // A failed write (disk full) gives its space back, so the run's summary can still be written.
    removeOwned(tempDir);
    throw error;
  }
  // A checkpoint of the same step (resumed from an earlier one) is replaced only when it is lion-train's.
  const foreign = foreignCheckpoint(checkpointsDir, name);
  if (foreign && existsSync(finalDir)) {
    removeOwned(tempDir);
    throw new UserError(`cannot write checkpoint ${name}: ${foreign}; it is left untouched`, EXIT.usage);
  }
  removeOwned(finalDir);
  renameSync(tempDir, finalDir);
  fsyncDirectory(checkpointsDir);
  writeFileAtomic(join(checkpointsDir, 'latest'), `${name}\n`);
  return { name, dir: finalDir, state: full };
}

export interface LoadedCheckpoint extends SavedCheckpoint {
  model: NamedArray[];
  optimizer: NamedArray[];
}

/**
 * Reads and verifies one checkpoint as a whole: state.json against its schema, each file against its
 * checksum and the safetensors layout, and, given `run`, the state and every tensor against that run
 * (see checkpoint-state.ts). Throws with the reason when it is incomplete, corrupt or not this run's.
 */
export function readCheckpoint(dir: string, run?: RunExpectation): LoadedCheckpoint {
  const statePath = join(dir, 'state.json');
  if (!existsSync(statePath)) throw new CheckpointMismatch('state.json is missing');
  let raw: unknown;
  try {
    raw = JSON.parse(readInputText(statePath));
  } catch (error) {
    throw new CheckpointMismatch(`state.json is not valid JSON (${(error as Error).message})`);
  }
  checkStateSchema(raw);
  const state = raw as TrainingState;
  if (run) checkStateAgainstRun(state, run);
  const tensors: Record<string, NamedArray[]> = {};
  for (const file of ['model.safetensors', 'optimizer.safetensors']) {
    const path = join(dir, file);
    if (!existsSync(path)) throw new CheckpointMismatch(`${file} is missing`);
    if (fileSha256(path) !== state.checksums[file]) throw new CheckpointMismatch(`${file} does not match its checksum (corrupt or truncated)`);
    try {
      tensors[file] = readSafetensorsFile(path).tensors;
    } catch (error) {
      // The reader names the file by its full path; the checkpoint's own name for it is enough here.
      throw new CheckpointMismatch(`${file}: ${(error as Error).message.replace(`${path}: `, '')}`);
    }
  }
  if (run) {
    checkTensors('model.safetensors', tensors['model.safetensors'], run.model);
    checkTensors('optimizer.safetensors', tensors['optimizer.safetensors'], run.optimizer);
    const iterations = tensors['optimizer.safetensors'].find((t) => t.name === 'iter')!.data[0];
    if (iterations !== state.step) throw new CheckpointMismatch(`optimizer.safetensors: step counter iter ${iterations} differs from state.json's step ${state.step}`);
  }
  return { name: dir.split('/').pop()!, dir, state, model: tensors['model.safetensors'], optimizer: tensors['optimizer.safetensors'] };
}

/** What `run` (model, optimizer, data and config) expects of a checkpoint, for readCheckpoint. */
export function runExpectation(
  model: Model,
  optimizer: RunOptimizer,
  run: Omit<RunExpectation, 'model' | 'optimizer'>,
): RunExpectation {
  const params = [...model.params].map(([name, v]) => ({ name, shape: v.shape }));
  return {
    ...run,
    model: params,
    optimizer: [
      { name: 'iter', shape: [], dtype: 'I32' },
      ...params.flatMap(({ name, shape }) => optimizer.stateLayout(name, shape).map((spec) => ({ name: `${name}/${spec.key}`, shape: spec.shape, dtype: 'F32' as const }))),
    ],
  };
}

/**
 * The newest checkpoint that reads back whole (and, given `run`, belongs to it). Unusable ones are reported through `warn` and skipped,
 * so a damaged newest checkpoint falls back to the one before it.
 */
export function newestValidCheckpoint(checkpointsDir: string, warn: (line: string) => void, run?: RunExpectation): LoadedCheckpoint | undefined {
  for (const name of listCheckpoints(checkpointsDir)) {
    try {
      return readCheckpoint(join(checkpointsDir, name), run);
    } catch (error) {
      warn(`checkpoint ${name} is unusable (${(error as Error).message}); trying the one before it`);
    }
  }
  return undefined;
}

export function restoreModel(model: Model, arrays: NamedArray[]): void {
  const byName = new Map(arrays.map((a) => [a.name, a]));
  for (const [name, variable] of model.params) {
    const saved = byName.get(name);
    if (!saved) throw new Error(`checkpoint has no parameter ${name}`);
    if (saved.shape.join('x') !== variable.shape.join('x')) throw new Error(`checkpoint parameter ${name} has shape [${saved.shape}], the model [${variable.shape}]`);
    const value = tf.tensor(saved.data, saved.shape, 'float32');
    variable.assign(value);
    value.dispose();
  }
}

export async function restoreOptimizer(optimizer: tf.Optimizer, arrays: NamedArray[]): Promise<void> {
  const weights = arrays.map((a) => ({ name: a.name, tensor: tf.tensor(a.data, a.shape, 'float32') }));
  await optimizer.setWeights(weights);
  for (const { tensor } of weights) tensor.dispose();
}

/**
 * Retention: keep the newest `keepLast` checkpoints plus the best one (never deleted). Deletes only
 * `step-NNNNNN` folders that hold nothing but checkpoint files, never following a link; returns their names.
 * (Temporary folders a crash left are removed when the run directory is opened, under its lock.)
 */
export function pruneCheckpoints(checkpointsDir: string, keepLast: number, best: string | undefined, note: (line: string) => void = () => {}): string[] {
  const steps = readdirSync(checkpointsDir).filter((n) => CHECKPOINT_DIR.test(n)).sort(byStep).reverse();
  const keep = new Set([...steps.slice(0, keepLast), ...(best ? [best] : [])]);
  const removed: string[] = [];
  for (const name of steps.filter((n) => !keep.has(n))) {
    // Only a folder holding nothing but checkpoint files is deleted; anything else stays, said once.
    const foreign = foreignCheckpoint(checkpointsDir, name);
    if (foreign) {
      if (!warnedForeign.has(join(checkpointsDir, name))) note(`not removing checkpoints/${name}: ${foreign}`);
      warnedForeign.add(join(checkpointsDir, name));
      continue;
    }
    removeOwned(join(checkpointsDir, name));
    removed.push(name);
  }
  return removed;
}

const warnedForeign = new Set<string>();

export function writeBestPointer(checkpointsDir: string, name: string): void {
  writeFileAtomic(join(checkpointsDir, 'best'), `${name}\n`);
}

/** The bestMetric value recorded in a checkpoint's state.json (null when unreadable or not recorded). */
export function checkpointMetricOf(checkpointsDir: string, name: string): number | null {
  try {
    const state = JSON.parse(readInputText(join(checkpointsDir, name, 'state.json'))) as TrainingState;
    return state.checkpointMetric ?? null;
  } catch {
    return null;
  }
}

