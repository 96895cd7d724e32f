/**
 * Checkpoints: checkpoints/step-000500/{model.safetensors, optimizer.safetensors, state.json}, and
 * `latest`, a pointer written last. Atomic: written into a temporary directory, flushed, renamed into
 * place; a crash at any instant leaves every earlier checkpoint intact and loadable.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fsyncDirectory, writeFileAtomic } from '../atomic-write.js';
import type { Cursor } from '../data/sampler.js';
import type { Model } from '../models/model.js';
import type { RunOptimizer } from '../optim/factory.js';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from '../safetensors.js';
import { checkStateAgainstRun, checkStateSchema, checkTensors, CheckpointMismatch, firstNonFinite, type RunExpectation } from './checkpoint-state.js';

export { CheckpointMismatch, type RunExpectation } from './checkpoint-state.js';

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

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
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

export function modelArrays(model: Model): NamedArray[] {
  return [...model.params].map(([name, v]) => ({ name, shape: v.shape, data: v.dataSync().slice() as Float32Array }));
}

async function optimizerArrays(optimizer: tf.Optimizer): Promise<NamedArray[]> {
  const weights = await optimizer.getWeights();
  const arrays = weights.map(({ name, tensor }) => ({ name, shape: tensor.shape, data: tensor.dataSync().slice() as Float32Array }));
  // getWeights hands out the state variables themselves plus a fresh iteration-count scalar.
  for (const { tensor } of weights) if (!(tensor instanceof tf.Variable)) tensor.dispose();
  return arrays;
}

/**
 * The first parameter or optimizer-state tensor holding NaN or ±Inf (as `parameter <name>` or
 * `optimizer state <name>`), or null. One pass over each tensor's values.
 */
export async function nonFiniteTensor(model: Model, optimizer: tf.Optimizer): Promise<string | null> {
  const badParam = firstNonFinite(modelArrays(model));
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
  rmSync(tempDir, { recursive: true, force: true });
  mkdirSync(tempDir, { recursive: true });
  // Nothing is saved from a non-finite state (checked on the copies about to be written: one pass each).
  const params = modelArrays(model);
  const optimizerState = await optimizerArrays(optimizer);
  const bad = firstNonFinite(params) ?? firstNonFinite(optimizerState);
  if (bad) {
    rmSync(tempDir, { recursive: true, force: true });
    throw new NonFiniteState(firstNonFinite(params) ? `parameter ${bad}` : `optimizer state ${bad}`);
  }
  const files: Record<string, Uint8Array> = {
    'model.safetensors': encodeSafetensors(params, { format: 'pt', producer: 'lion-train' }),
    'optimizer.safetensors': encodeSafetensors(optimizerState, { producer: 'lion-train' }),
  };
  const checksums: Record<string, string> = {};
  for (const [file, bytes] of Object.entries(files)) {
    writeDurable(join(tempDir, file), bytes);
    checksums[file] = sha256(bytes);
  }
  const full: TrainingState = { format: CHECKPOINT_FORMAT, ...state, checksums };
  writeDurable(join(tempDir, 'state.json'), Buffer.from(`${JSON.stringify(full, null, 2)}\n`));
  fsyncDirectory(tempDir);
  rmSync(finalDir, { recursive: true, force: true });
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
    raw = JSON.parse(readFileSync(statePath, 'utf8'));
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
    const bytes = readFileSync(path);
    if (sha256(bytes) !== state.checksums[file]) throw new CheckpointMismatch(`${file} does not match its checksum (corrupt or truncated)`);
    try {
      tensors[file] = decodeSafetensors(bytes).tensors;
    } catch (error) {
      throw new CheckpointMismatch(`${file}: ${(error as Error).message}`);
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

/** Checkpoint directories, newest first (the `latest` pointer's target first when it exists). */
export function listCheckpoints(checkpointsDir: string): string[] {
  if (!existsSync(checkpointsDir)) return [];
  const names = readdirSync(checkpointsDir).filter((n) => /^step-\d+$/.test(n)).sort().reverse();
  const latestPath = join(checkpointsDir, 'latest');
  const latest = existsSync(latestPath) ? readFileSync(latestPath, 'utf8').trim() : undefined;
  return latest && names.includes(latest) ? [latest, ...names.filter((n) => n !== latest)] : names;
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
 * Retention: keep the newest `keepLast` checkpoints plus the best one (never deleted).
 * Temporary directories left by a crash are removed too.
 */
export function pruneCheckpoints(checkpointsDir: string, keepLast: number, best: string | undefined): string[] {
  const all = readdirSync(checkpointsDir);
  for (const name of all) if (name.startsWith('.tmp-') && !name.endsWith(`-${process.pid}`)) rmSync(join(checkpointsDir, name), { recursive: true, force: true });
  const steps = all.filter((n) => /^step-\d+$/.test(n)).sort().reverse();
  const keep = new Set([...steps.slice(0, keepLast), ...(best ? [best] : [])]);
  const removed = steps.filter((n) => !keep.has(n));
  for (const name of removed) rmSync(join(checkpointsDir, name), { recursive: true, force: true });
  return removed;
}

export function writeBestPointer(checkpointsDir: string, name: string): void {
  writeFileAtomic(join(checkpointsDir, 'best'), `${name}\n`);
}

/** The bestMetric value recorded in a checkpoint's state.json (null when unreadable or not recorded). */
export function checkpointMetricOf(checkpointsDir: string, name: string): number | null {
  try {
    const state = JSON.parse(readFileSync(join(checkpointsDir, name, 'state.json'), 'utf8')) as TrainingState;
    return state.checkpointMetric ?? null;
  } catch {
    return null;
  }
}

export function readBestPointer(checkpointsDir: string): string | undefined {
  const path = join(checkpointsDir, 'best');
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}

