/**
 * The kinds of fused layer kernels (fused.ts) and how a user picks them: without TensorFlow, so that the CLI
 * can check LION_TRAIN_FUSED before anything runs.
 */
import { UserError } from '../errors.js';

/**
 * The kinds: the kernels (`matMul` is a dense layer's x·W + b and dy·Wᵀ, in place of XNNPACK; `conv` a
 * convolution and both its gradients as patch-row products; `maxPool` max-pooling, with a ReLU before it
 * fused in, and its gradient);
 * `block`: a whole pre-LayerNorm transformer block (transformer.ts) as one kernel forward and one backward, calling
 * the attention, layerNorm, gelu, matMul, matMulTN and columnSums kernels in turn (so it needs them on too) with
 * no tfjs op between them: the same numbers, bit for bit, without ~55 engine calls per block;
 * `sharedIdentity`: tfjs-backend-wasm's Identity (behind tf.clone, and so behind every tensor a gradient
 * saves) copies the data; replaced by one that shares it, as Reshape does. Sound because no wasm kernel
 * writes into an input: every output is memory the backend allocated. `fma`: the products in matMul,
 * matMulTN and attention use relaxed SIMD's fused multiply-add (the module built with relaxed SIMD; see
 * fused.ts's relaxedKernels); fusedKernel('fma') says whether the engine has it.
 */
export type FusedKind = 'attention' | 'layerNorm' | 'gelu' | 'matMul' | 'matMulTN' | 'columnSums' | 'block' | 'conv' | 'maxPool' | 'sharedIdentity' | 'fma';

export const FUSED_KINDS: readonly FusedKind[] = ['attention', 'layerNorm', 'gelu', 'matMul', 'matMulTN', 'columnSums', 'block', 'conv', 'maxPool', 'sharedIdentity', 'fma'];

/** The kinds whose kernels `block` calls: it runs only with all of them switched on. */
export const BLOCK_CALLS: readonly FusedKind[] = ['attention', 'layerNorm', 'gelu', 'matMul', 'matMulTN', 'columnSums'];

/** The environment variable that picks the fused kinds for a process and its worker threads. */
export const FUSED_ENV = 'LION_TRAIN_FUSED';

/**
 * Parses `all`, `none` or a comma list of kinds (the ones switched on; the rest off), as the bench's
 * `--fused` and the environment variable LION_TRAIN_FUSED take them.
 * @throws UserError naming `source` and the unknown kind.
 */
export function parseFusedKinds(value: string, source: string): Record<FusedKind, boolean> {
  const on = value === 'all' ? [...FUSED_KINDS] : value === 'none' ? [] : value.split(',').map((k) => k.trim());
  const unknown = on.find((k) => !(FUSED_KINDS as readonly string[]).includes(k));
  if (unknown !== undefined) {
    const what = unknown === '' ? `an empty kernel name in '${value}'` : `unknown fused kernel '${unknown}'`;
    throw new UserError(`${source}: ${what} (all, none, or a comma list of ${FUSED_KINDS.join(', ')})`);
  }
  return Object.fromEntries(FUSED_KINDS.map((k) => [k, on.includes(k)])) as Record<FusedKind, boolean>;
}

/**
 * The kinds LION_TRAIN_FUSED picks, or undefined when it is unset or empty (all on).
 * @throws UserError naming the variable and the unknown kind.
 */
export function fusedKindsFromEnvironment(env: NodeJS.ProcessEnv = process.env): Record<FusedKind, boolean> | undefined {
  const value = env[FUSED_ENV];
  return value === undefined || value === '' ? undefined : parseFusedKinds(value, FUSED_ENV);
}
