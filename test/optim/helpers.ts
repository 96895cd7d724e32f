// Shared by the optimizer tests: backends, golden cases, optimizer construction, comparisons.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Adafactor, AdamW, Lion, type OptimizerAdapter } from '../../src/optim/index.js';
import { FUSED_BACKENDS, fusedImplementation, setFusedImplementation, type FusedImplementation } from '../../src/optim/kernel.js';

export const BACKENDS = ['cpu', 'wasm'] as const;

export interface UpdatePath {
  label: string;
  fused: boolean;
  /** The fused implementation forced (undefined: op by op). */
  implementation: FusedImplementation | undefined;
}

/** Every way an update runs: the SIMD kernels, the fused JS loop, tfjs ops. */
export const PATHS: readonly UpdatePath[] = [
  { label: 'fused SIMD', fused: true, implementation: 'simd' },
  { label: 'fused JS loop', fused: true, implementation: 'js' },
  { label: 'op-by-op', fused: false, implementation: undefined },
];

/**
 * Makes the fused kernels of every backend run `implementation` (undefined: the default), and
 * fails if 'simd' was asked for where the SIMD kernels cannot run on the current backend (a
 * silent fallback to the JS loop would leave them untested).
 */
export function selectImplementation(implementation: FusedImplementation | undefined): void {
  for (const backend of FUSED_BACKENDS) setFusedImplementation(backend, implementation ?? 'auto');
  const backend = tf.getBackend();
  if (implementation === 'simd' && fusedImplementation(backend) !== 'simd') {
    throw new Error(`the SIMD kernels do not run on the ${backend} backend (npm run build:kernels?)`);
  }
}

export async function useBackend(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
  if (tf.getBackend() !== name) throw new Error(`backend is ${tf.getBackend()}, wanted ${name}`);
}

export type OptimizerKind = 'lion' | 'adamw' | 'adafactor';
export const KINDS: OptimizerKind[] = ['lion', 'adamw', 'adafactor'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyOptions = Record<string, any>;

export function makeOptimizer(kind: OptimizerKind, options: AnyOptions = {}): OptimizerAdapter<never> {
  switch (kind) {
    case 'lion':
      return new Lion(options) as unknown as OptimizerAdapter<never>;
    case 'adamw':
      return new AdamW(options) as unknown as OptimizerAdapter<never>;
    case 'adafactor':
      return new Adafactor(options) as unknown as OptimizerAdapter<never>;
  }
}

export interface GoldenCase {
  name: string;
  file: string;
  optimizer: OptimizerKind;
  options: AnyOptions;
  learningRatePerStep?: number[];
  params: Record<string, { shape: number[]; values: number[] }>;
  steps: Array<{ grads: Record<string, number[]>; expected: Record<string, number[]> }>;
}

export const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'golden');

/** Every `*.json` case in the golden directory, sorted by file name. */
export function loadGoldenCases(): GoldenCase[] {
  return readdirSync(GOLDEN_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, ...(JSON.parse(readFileSync(join(GOLDEN_DIR, file), 'utf8')) as Omit<GoldenCase, 'file'>) }));
}

/** The case's optimizer through the public constructor: schedule → function lr, null lr → omitted. */
export function optimizerForCase(c: GoldenCase, fused: boolean | 'auto'): OptimizerAdapter<never> {
  const options: AnyOptions = { ...c.options, fused };
  const schedule = c.learningRatePerStep;
  if (schedule !== undefined) {
    options.learningRate = (step: number): number => {
      if (step < 0 || step >= schedule.length) throw new Error(`no learning rate for step ${step}`);
      return schedule[step];
    };
  } else if (options.learningRate === null) {
    delete options.learningRate;
  }
  return makeOptimizer(c.optimizer, options);
}

/** Registers the case's variables under their golden names (dispose them after use). */
export function caseVariables(c: GoldenCase): Record<string, tf.Variable> {
  const vars: Record<string, tf.Variable> = {};
  for (const [name, p] of Object.entries(c.params)) {
    vars[name] = tf.tidy(() => tf.variable(tf.tensor(p.values, p.shape, 'float32'), true, name));
  }
  return vars;
}

export function applyStep(
  opt: tf.Optimizer,
  c: GoldenCase,
  vars: Record<string, tf.Variable>,
  k: number,
): void {
  const grads: tf.NamedTensorMap = {};
  for (const [name, g] of Object.entries(c.steps[k].grads)) {
    grads[name] = tf.tensor(g, vars[name].shape, 'float32');
  }
  opt.applyGradients(grads);
  tf.dispose(grads);
}

/** The first element outside |got − want| <= 1e-6 + 1e-5·|want|, described; null if none. */
export function firstMismatch(got: ArrayLike<number>, want: ArrayLike<number>): string | null {
  if (got.length !== want.length) return `length ${got.length}, expected ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    const tol = 1e-6 + 1e-5 * Math.abs(want[i]);
    if (!(Math.abs(got[i] - want[i]) <= tol)) return `element ${i}: got ${got[i]}, expected ${want[i]} (tolerance ${tol})`;
  }
  return null;
}

export function disposeAll(vars: Record<string, tf.Variable>): void {
  for (const v of Object.values(vars)) v.dispose();
}
