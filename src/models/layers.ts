/**
 * Building blocks shared by the model families, written the way the wasm backend is fast (DESIGN.md):
 * every weight matMul is a plain 2-D product with no transpose flags, in the forward pass and in a
 * hand-written backward pass (`tf.customGrad`, explicit `tf.transpose`). Activations stay 2-D, [rows,
 * features] with rows = batch·tokens; only attention reshapes them to rank 4 (on the tfjs-op path).
 * On wasm, the dense layers' products (x·W + b, dy·Wᵀ, xᵀ·dy), LayerNorm, GELU and attention's
 * softmax(q·kᵀ/√d)·v run as fused WebAssembly SIMD kernels instead (fused.ts), each replacing a chain of
 * small ops or an XNNPACK call; other backends use tfjs ops.
 *
 * Parameters are created from a seed by `ParameterStore`: each parameter draws from its own stream
 * `Rng.derive(seed, 'init', name)`, in JS, so the values do not depend on the backend or on build order.
 */
import * as tf from '../tf.js';
import { Rng } from '../random.js';
import {
  canFuseAttention,
  canFuseColumnSums,
  canFuseGelu,
  canFuseLayerNorm,
  canFuseMatMul,
  canFuseMatMulTN,
  columnSums as fusedColumnSums,
  fusedAttention,
  fusedGelu,
  fusedLayerNorm,
  matMul as fusedMatMul,
  matMulTN,
} from './fused.js';
import type { ForwardOptions, Model } from './model.js';

// ── Parameters ────────────────────────────────────────────────────────────────────────────────────

/** Standard deviation of a unit normal truncated at ±2σ; dividing by it restores the intended variance. */
const TRUNCATED_NORMAL_STD = 0.87962566103423978;

/** Creates named, registered tf.Variables from a seed, in the order they are asked for. */
export class ParameterStore {
  readonly params = new Map<string, tf.Variable>();

  constructor(private readonly seed: number) {}

  /**
   * A [fanIn, fanOut] weight matrix, truncated normal with variance `scale / fanIn`
   * (LeCun normal for scale 1, He normal for scale 2 before a ReLU).
   */
  kernel(name: string, fanIn: number, fanOut: number, scale = 1): tf.Variable {
    return this.normal(name, [fanIn, fanOut], Math.sqrt(scale / fanIn));
  }

  /** Truncated normal (±2σ) with standard deviation `std`. */
  normal(name: string, shape: number[], std: number): tf.Variable {
    const rng = Rng.derive(this.seed, 'init', name);
    const values = new Float32Array(sizeOf(shape));
    for (let i = 0; i < values.length; i++) values[i] = rng.truncatedNormal(std / TRUNCATED_NORMAL_STD);
    return this.create(name, shape, values);
  }

  zeros(name: string, shape: number[]): tf.Variable {
    return this.create(name, shape, new Float32Array(sizeOf(shape)));
  }

  ones(name: string, shape: number[]): tf.Variable {
    return this.create(name, shape, new Float32Array(sizeOf(shape)).fill(1));
  }

  dense(name: string, fanIn: number, fanOut: number, scale = 1): DenseParams {
    return { kernel: this.kernel(`${name}.kernel`, fanIn, fanOut, scale), bias: this.zeros(`${name}.bias`, [fanOut]) };
  }

  layerNorm(name: string, width: number): LayerNormParams {
    return { scale: this.ones(`${name}.scale`, [width]), bias: this.zeros(`${name}.bias`, [width]) };
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
  }

  private create(name: string, shape: number[], values: Float32Array): tf.Variable {
    if (this.params.has(name)) throw new Error(`parameter "${name}" is defined twice`);
    if (tf.engine().registeredVariables[name] !== undefined) {
      throw new Error(
        `parameter "${name}" is already registered: another model with the same parameter names is alive; dispose it before building this one`,
      );
    }
    const variable = tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32'), true, name));
    this.params.set(name, variable);
    return variable;
  }
}

function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Builds a model's parameters with `define`, disposing the ones already made if it throws
 * (so a failed build leaves no registered names behind).
 */
export function withParameters<T>(seed: number, define: (store: ParameterStore) => T): { store: ParameterStore; value: T } {
  const store = new ParameterStore(seed);
  try {
    return { store, value: define(store) };
  } catch (error) {
    store.dispose();
    throw error;
  }
}

/** The common `Model` object around a parameter store and a forward function. */
export function makeModel(
  family: Model['family'],
  store: ParameterStore,
  forward: Model['forward'],
  flopsPerExample: number,
): Model {
  let parameterCount = 0;
  for (const v of store.params.values()) parameterCount += v.size;
  let disposed = false;
  return {
    family,
    params: store.params,
    forward(x, options) {
      if (disposed) throw new Error(`this ${family} model has been disposed`);
      return forward(x, options);
    },
    parameterCount,
    flopsPerExample,
    dispose() {
      disposed = true;
      store.dispose();
    },
  };
}

// ── Dense ─────────────────────────────────────────────────────────────────────────────────────────

export interface DenseParams {
  kernel: tf.Variable; // [in, out]
  bias: tf.Variable; // [out]
}

let autodiffReference = false;

/**
 * Test hook: with `true`, dense, layerNorm and smallMatMuls run as plain tfjs ops differentiated by tfjs
 * autodiff (the same maths, slower on wasm), the reference their hand-written gradients are tested against.
 */
export function useAutodiffReference(on: boolean): void {
  autodiffReference = on;
}

/** Whether the autodiff reference (useAutodiffReference) is on. */
export function autodiffReferenceOn(): boolean {
  return autodiffReference;
}

/**
 * The bias gradient: column sums of dy [rows, n] → [n]. On wasm one pass (fused.ts: tfjs's Sum over axis 0
 * transposes dy first); elsewhere `tf.sum(dy, 0)`, measured as fast as ones[1, rows]·dy in a training step
 * (XNNPACK repacks dy as the right operand on every call).
 */
function columnSums(dy: tf.Tensor2D): tf.Tensor1D {
  if (canFuseColumnSums()) return fusedColumnSums(dy);
  return tf.sum(dy, 0);
}

/** The weight gradient xᵀ·dy [in, out] of x [rows, in], dy [rows, out]: on wasm one kernel that reads x as it lies. */
function weightGradient(x: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor2D {
  if (canFuseMatMulTN(dy.shape[1])) return matMulTN(x, dy);
  return tf.matMul(tf.transpose(x), dy);
}

/** x·W + b in one call: on wasm our kernel (fused.ts), elsewhere tfjs's fused matMul (XNNPACK on wasm), the bias riding along. */
function affine(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  if (canFuseMatMul(w.shape[1])) return fusedMatMul(x, w, b);
  return tf.fused.matMul({ a: x, b: w, bias: b }) as tf.Tensor2D;
}

/** The input gradient dy·Wᵀ of dy [rows, out], W [in, out] (W is small: its transpose is cheap). */
function inputGradient(dy: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const wt = tf.transpose(w);
  return canFuseMatMul(w.shape[0]) ? fusedMatMul(dy, wt) : tf.matMul(dy, wt);
}

/** x·W + b with the gradient as plain 2-D matMuls: dx = dy·Wᵀ, dW = xᵀ·dy, db = Σ_rows dy. */
const denseOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: affine(x, w, b), // [rows, out]
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      const g = dy as tf.Tensor2D;
      return [inputGradient(g, ws), weightGradient(xs, g), columnSums(g)];
    },
  };
});

/** The same for an input that needs no gradient (the data): skips dy·Wᵀ, as large as the forward matMul. */
function denseOnData(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [wi, bi, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    save([x]);
    return {
      value: affine(x, wi, bi),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const g = dy as tf.Tensor2D;
        return [weightGradient(saved[0] as tf.Tensor2D, g), columnSums(g)];
      },
    };
  });
  return op(w, b) as tf.Tensor2D;
}

/**
 * Dense layer on rows: x [rows, in] → [rows, out]. With `inputGrad: false` no gradient flows back to x
 * (use it only where x is data, such as the first layer).
 */
export function dense(x: tf.Tensor2D, p: { kernel: tf.Tensor; bias: tf.Tensor }, inputGrad = true): tf.Tensor2D {
  if (autodiffReference) return tf.add(tf.matMul(x, p.kernel), p.bias);
  if (!inputGrad) return denseOnData(x, p.kernel, p.bias);
  return denseOp(x, p.kernel, p.bias) as tf.Tensor2D;
}

// ── LayerNorm ─────────────────────────────────────────────────────────────────────────────────────

export interface LayerNormParams {
  scale: tf.Variable; // [width], initialised to ones
  bias: tf.Variable; // [width], zeros
}

export const LAYER_NORM_EPSILON = 1e-6;

/** x̂ = (x − mean) / sqrt(var + ε) over the last axis, and 1 / sqrt(var + ε): x [rows, width] → [rows, width], [rows, 1]. */
function normalise(x: tf.Tensor2D): { xhat: tf.Tensor2D; rstd: tf.Tensor2D } {
  const centred = tf.sub(x, tf.mean(x, -1, true)); // [rows, width]
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), LAYER_NORM_EPSILON)) as tf.Tensor2D; // [rows, 1]
  return { xhat: tf.mul(centred, rstd), rstd };
}

/**
 * LayerNorm over the last axis of x [rows, width]: x̂ = (x − mean) / sqrt(var + ε), y = x̂·scale + bias.
 * Hand-written gradient (fewer ops than autodiff through moments):
 *   g = dy·scale;  dx = (g − mean(g) − x̂·mean(g·x̂)) / sqrt(var + ε);  dscale = Σ_rows dy·x̂;  dbias = Σ_rows dy.
 */
const layerNormOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, scale, bias, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
  const { xhat, rstd } = normalise(x);
  save([xhat, rstd, scale]);
  return {
    value: tf.add(tf.mul(xhat, scale), bias),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xh, rs, sc] = saved;
      const g = tf.mul(dy, sc); // [rows, width]
      const dx = tf.mul(tf.sub(tf.sub(g, tf.mean(g, -1, true)), tf.mul(xh, tf.mean(tf.mul(g, xh), -1, true))), rs);
      return [dx, columnSums(tf.mul(dy, xh) as tf.Tensor2D), columnSums(dy as tf.Tensor2D)];
    },
  };
});

/** LayerNorm of x [rows, width]; on wasm one fused kernel forward and one backward (fused.ts). */
export function layerNorm(x: tf.Tensor2D, p: LayerNormParams): tf.Tensor2D {
  if (autodiffReference) return tf.add(tf.mul(normalise(x).xhat, p.scale), p.bias);
  if (canFuseLayerNorm(x.shape[1])) return fusedLayerNorm(x, p.scale, p.bias, LAYER_NORM_EPSILON);
  return layerNormOp(x, p.scale, p.bias) as tf.Tensor2D;
}

// ── Activations and dropout ───────────────────────────────────────────────────────────────────────

export type GeluFormula = 'sigmoid' | 'tanh';

/**
 * GELU as x·σ(1.702x) (`sigmoid`, fast on wasm: tf.tanh is ~17x slower; one fused kernel there) or
 * 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).
 */
export function gelu<T extends tf.Tensor>(x: T, formula: GeluFormula = 'sigmoid'): T {
  if (formula === 'sigmoid' && !autodiffReference && x.dtype === 'float32' && canFuseGelu(x.size)) return fusedGelu(x);
  if (formula === 'sigmoid') return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))) as T;
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.square(x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1)) as T;
}

export type Activation = 'relu' | 'gelu' | 'tanh';

export function activate<T extends tf.Tensor>(x: T, activation: Activation): T {
  switch (activation) {
    case 'relu':
      return tf.relu(x);
    case 'gelu':
      return gelu(x);
    case 'tanh':
      return tf.tanh(x);
  }
}

/**
 * Inverted dropout: zeroes each element with probability `rate` and scales the rest by 1/(1 − rate).
 * The mask comes from `Rng.derive(options.seed, 'dropout', site)`, so a call repeats exactly for the same
 * seed and site, and different sites (`blocks.0.attn`) draw different masks. Identity when not training.
 */
export function dropout<T extends tf.Tensor>(x: T, rate: number, options: ForwardOptions, site: string): T {
  if (!options.training || rate === 0) return x;
  if (options.seed === undefined) throw new Error(`dropout at ${site} needs ForwardOptions.seed while training`);
  const rng = Rng.derive(options.seed, 'dropout', site);
  const keep = 1 - rate;
  const scale = 1 / keep;
  const mask = new Float32Array(x.size);
  const uniforms = new Float64Array(Math.min(mask.length, 4096));
  for (let start = 0; start < mask.length; start += uniforms.length) {
    const u = rng.fillUniform(start + uniforms.length <= mask.length ? uniforms : uniforms.subarray(0, mask.length - start));
    const n = u.length;
    for (let i = 0; i < n; i++) if (u[i] < keep) mask[start + i] = scale;
  }
  return tf.mul(x, tf.tensor(mask, x.shape, 'float32')) as T;
}

// ── Attention ─────────────────────────────────────────────────────────────────────────────────────

export interface AttentionParams {
  q: DenseParams; // [width, width]
  k: DenseParams;
  v: DenseParams;
  out: DenseParams;
}

/** Additive causal mask [t, t]: 0 on and below the diagonal, −1e9 above (a token sees only the past). */
export function causalMask(tokens: number): tf.Tensor2D {
  const values = new Float32Array(tokens * tokens);
  for (let i = 0; i < tokens; i++) for (let j = i + 1; j < tokens; j++) values[i * tokens + j] = -1e9;
  return tf.tensor2d(values, [tokens, tokens]);
}

/**
 * out[m, n, p] = Σ_k input[m, k, n]·filter[k, n, p] for input [m, k, n], filter [k, n, p]: a depthwise
 * convolution (channels n, channel multiplier p, a 1×k kernel, valid padding), which reaches XNNPACK.
 */
function depthwiseProduct(input: tf.Tensor3D, filter: tf.Tensor3D): tf.Tensor3D {
  const [m, k, n] = input.shape;
  const p = filter.shape[2];
  const out = tf.depthwiseConv2d(tf.reshape(input, [1, m, k, n]) as tf.Tensor4D, tf.reshape(filter, [1, k, n, p]) as tf.Tensor4D, 1, 'valid');
  return tf.reshape(out, [m, n, p]); // [1, m, 1, n·p] → [m, n, p]
}

const SWAP = [1, 0, 2];

/**
 * Many small matMuls a [n, m, k]·b [n, k, p] → [n, m, p] (attention's per-head products). A batched
 * tf.matMul falls to a scalar loop on wasm; as a depthwise convolution with channel = n (plus three rank-3
 * transposes) it measured ~2x faster. Gradient: da = dy·bᵀ, db = aᵀ·dy, computed the same way.
 */
const smallMatMulsOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
  save([a, b]);
  const product = depthwiseProduct(tf.transpose(a, [1, 2, 0]), tf.transpose(b, SWAP)); // [m, n, p]
  return {
    value: tf.transpose(product, SWAP), // [n, m, p]
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [as, bs] = saved as [tf.Tensor3D, tf.Tensor3D];
      const da = depthwiseProduct(tf.transpose(dy, [1, 2, 0]) as tf.Tensor3D, tf.transpose(bs, [2, 0, 1])); // [m, n, k]
      const db = depthwiseProduct(tf.transpose(as, [2, 1, 0]), tf.transpose(dy, SWAP) as tf.Tensor3D); // [k, n, p]
      return [tf.transpose(da, SWAP), tf.transpose(db, SWAP)];
    },
  };
});

export function smallMatMuls(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (autodiffReference) return tf.matMul(a, b);
  return smallMatMulsOp(a, b) as tf.Tensor3D;
}

export interface AttentionShape {
  batch: number;
  tokens: number;
  heads: number;
  /** Additive mask [tokens, tokens] (e.g. `causalMask(tokens)`), broadcast over batch and heads. */
  mask?: tf.Tensor2D;
  /** The mask is `causalMask(tokens)`: lets the fused kernel skip the masked scores instead of adding it. */
  causal?: boolean;
}

/**
 * Multi-head self-attention on x [batch·tokens, width] → [batch·tokens, width]: separate q/k/v
 * projections (no column slices). On wasm (head width a multiple of 4) softmax(q·kᵀ)·v is one fused kernel
 * that reads the heads in place (fused.ts); elsewhere rank-4 transposes split the heads and `smallMatMuls`
 * computes the per-head products.
 */
export function selfAttention(x: tf.Tensor2D, p: AttentionParams, shape: AttentionShape): tf.Tensor2D {
  const { batch: b, tokens: t, heads: h, mask } = shape;
  const width = x.shape[1];
  const hd = width / h; // head width
  if (!autodiffReference && (mask === undefined || shape.causal === true) && canFuseAttention(hd)) {
    // One product for q, k and v: [b·t, width]·[width, 3·width] (x is read once; dx is one product, not three and two adds).
    const packed = { kernel: tf.concat([p.q.kernel, p.k.kernel, p.v.kernel], 1), bias: tf.concat([p.q.bias, p.k.bias, p.v.bias]) };
    const y = fusedAttention(dense(x, packed), { batch: b, tokens: t, heads: h, causal: mask !== undefined });
    return dense(y, p.out); // [b·t, width]
  }
  const scale = 1 / Math.sqrt(hd); // folded into the q projection: cheaper than scaling [b·t, width]
  const scaledQ = { kernel: tf.mul(p.q.kernel, scale), bias: tf.mul(p.q.bias, scale) };
  // [b·t, width] → [b, t, h, hd] → transposed by perm → [b·h, ·, ·]
  const toHeads = (y: tf.Tensor2D, perm: number[]): tf.Tensor3D => {
    const split = tf.transpose(tf.reshape(y, [b, t, h, hd]) as tf.Tensor4D, perm);
    return tf.reshape(split, [b * h, split.shape[2], split.shape[3]]);
  };
  const q = toHeads(dense(x, scaledQ), [0, 2, 1, 3]); // [b·h, t, hd], scaled by 1/√hd
  const kT = toHeads(dense(x, p.k), [0, 2, 3, 1]); // [b·h, hd, t]
  const v = toHeads(dense(x, p.v), [0, 2, 1, 3]); // [b·h, t, hd]
  let scores = smallMatMuls(q, kT); // [b·h, t, t] = q·kᵀ
  if (mask) scores = tf.add(scores, mask);
  const weights = tf.softmax(scores) as tf.Tensor3D; // [b·h, t, t], each row sums to 1
  const y = tf.transpose(tf.reshape(smallMatMuls(weights, v), [b, h, t, hd]), [0, 2, 1, 3]); // [b, t, h, hd]
  return dense(tf.reshape(y, [b * t, width]), p.out); // [b·t, width]
}
