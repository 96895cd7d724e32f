/**
 * Adafactor: adaptive learning rates with sublinear memory cost.
 *
 * Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
 * arXiv:1804.04235; update as in Hugging Face transformers' `Adafactor` (same order of
 * operations). For a parameter p with gradient g, at step t = 1, 2, …:
 *
 *     ρ   = relativeStep ? min(warmupInit ? 1e-6·t : 1e-2, 1/√t) : lr
 *     α   = scaleParameter ? max(ε2, RMS(p)) · ρ : ρ          RMS(p) taken before the update
 *     β2t = 1 − t^decayRate
 *     q   = g² + ε1
 *   rank ≥ 2, factored over the last two dimensions [… , R, C] (per leading index):
 *     R ← β2t·R + (1 − β2t)·mean_c(q)       (shape […, R])
 *     C ← β2t·C + (1 − β2t)·mean_r(q)       (shape […, C])
 *     u   = g · rsqrt(R / mean_r(R))[…, r, 1] · rsqrt(C)[…, 1, c]
 *   rank < 2:
 *     V ← β2t·V + (1 − β2t)·q;   u = g · rsqrt(V)
 *     u  ← u / max(1, RMS(u) / clipThreshold) · α
 *     m  ← β1·m + (1 − β1)·u;  u = m                       (only when β1 is given)
 *     p  ← p − p·(wd·α)                                     (only when wd ≠ 0)
 *     p  ← p − u
 *
 * RMS(x) = ‖x‖₂ / √numel(x). Defaults: lr none (relative step), ε1 1e-30, ε2 1e-3,
 * clipThreshold 1, decayRate −0.8, β1 none, wd 0, scaleParameter true, relativeStep true,
 * warmupInit false. State: row and column factors (plus m when β1 is given); a full V for rank < 2.
 */
import * as tf from '../tf.js';
import { OptimizerAdapter, type CommonOptions, type StepContext } from './base.js';
import { registerRule, type StateSpec, type UpdateRule } from './kernel.js';
import { f32, u32, WORKGROUP, type GpuRunner } from './wgsl.js';
import {
  checkBoolean,
  checkLearningRate,
  checkNumber,
  describe,
  NON_NEGATIVE,
  NON_POSITIVE,
  POSITIVE,
  UNIT,
  type LearningRate,
} from './options.js';

export interface AdafactorOptions extends CommonOptions {
  /**
   * A number or `(step) => number` (step: 0-based index of the update). Omit (or null) for the
   * relative step. Giving it makes `relativeStep` default to false.
   */
  learningRate?: LearningRate | null;
  /** Added to g² (regularises the second moment), > 0. Default 1e-30. */
  epsilon1?: number;
  /** Lower bound of the parameter scale RMS(p), >= 0. Default 1e-3. */
  epsilon2?: number;
  /** Update clipping threshold on RMS(u), > 0. Default 1. */
  clipThreshold?: number;
  /** Exponent of the second-moment decay β2t = 1 − t^decayRate, <= 0. Default −0.8. */
  decayRate?: number;
  /** First-moment decay in [0, 1); null or omitted: no first moment. */
  beta1?: number | null;
  /** Weight decay (p ← p − p·wd·α), >= 0. Default 0. */
  weightDecay?: number;
  /** Scale the step by max(ε2, RMS(p)). Default true. */
  scaleParameter?: boolean;
  /** Time-dependent step min(1e-2, 1/√t) instead of a learning rate. Default: true without lr. */
  relativeStep?: boolean | null;
  /** With relativeStep: warm up as min(1e-6·t, 1/√t). Default false. */
  warmupInit?: boolean;
}

export type AdafactorHyper = {
  /** ρ: the relative step or the learning rate of this step. */
  stepSize: number;
  scaleParameter: boolean;
  epsilon1: number;
  epsilon2: number;
  clipThreshold: number;
  /** β2t = 1 − t^decayRate. */
  beta2t: number;
  hasFirstMoment: boolean;
  beta1: number;
  weightDecay: number;
};

const f = Math.fround;

/** The update's per-step coefficients rounded to float32, as the JS loop and the SIMD kernels both use them. */
function float32Coefficients(h: AdafactorHyper) {
  return { b2: f(h.beta2t), c2: f(1 - h.beta2t), eps1: f(h.epsilon1), b1: f(h.beta1), c1: f(1 - h.beta1) };
}

const rms = (x: tf.Tensor): tf.Tensor => tf.div(tf.norm(x), Math.sqrt(x.size));

// Column factors of one [R, C] slice; reused between calls (grown as needed).
let colScratch = new Float64Array(0);
function scratch(size: number): Float64Array {
  if (colScratch.length < size) colScratch = new Float64Array(size);
  return colScratch;
}

// The fused kernel's passes, one small function each so that V8 optimises each loop on its own.
// The state, row means, row / column factors, RMS values and p − p·wd·α are rounded to float32
// as PyTorch stores them; per-element temporaries stay float64 (rounding them as well costs ~2x).

// Reductions keep two or four partial sums: one running sum is a chain of dependent adds.
function sumOfSquares(a: Float32Array): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < a.length; i += 4) {
    const x0 = a[i];
    const x1 = a[i + 1];
    const x2 = a[i + 2];
    const x3 = a[i + 3];
    s0 += x0 * x0;
    s1 += x1 * x1;
    s2 += x2 * x2;
    s3 += x3 * x3;
  }
  for (; i < a.length; i++) s0 += a[i] * a[i];
  return s0 + s1 + s2 + s3;
}

function meanOf(a: Float32Array, start: number, count: number): number {
  let s = 0;
  for (let i = start; i < start + count; i++) s += a[i];
  return s / count;
}

/**
 * Rank >= 2, one [R, C] slice at `base`: the decayed row / column factors of q = g² + ε1 into
 * rowOut / colOut, the column factors rsqrt(col) into `colFactor`, and Σu² of the raw update
 * u = g · rsqrt(row / mean(row)) · rsqrt(col), which is returned.
 */
function factoredMoments(
  g: Float32Array, base: number, R: number, C: number,
  rowIn: Float32Array, colIn: Float32Array, rowOut: Float32Array, colOut: Float32Array,
  rowAt: number, colAt: number, colFactor: Float64Array,
  b2: number, c2: number, eps1: number,
): number {
  colFactor.fill(0, 0, C); // first the column sums
  for (let r = 0; r < R; r++) {
    const at = base + r * C;
    let rowSum = 0;
    for (let c = 0; c < C; c++) {
      const gi = g[at + c];
      const q = gi * gi + eps1;
      rowSum += q;
      colFactor[c] += q;
    }
    rowOut[rowAt + r] = f(rowIn[rowAt + r] * b2) + f(f(rowSum / C) * c2);
  }
  for (let c = 0; c < C; c++) {
    const col = f(f(colIn[colAt + c] * b2) + f(f(colFactor[c] / R) * c2));
    colOut[colAt + c] = col;
    colFactor[c] = f(1 / Math.sqrt(col));
  }
  const rowMean = f(meanOf(rowOut, rowAt, R));
  let ssU = 0;
  for (let r = 0; r < R; r++) {
    const rFactor = f(1 / Math.sqrt(f(rowOut[rowAt + r] / rowMean)));
    const at = base + r * C;
    let s0 = 0;
    let s1 = 0;
    let c = 0;
    for (; c + 1 < C; c += 2) {
      const u0 = colFactor[c] * g[at + c];
      const u1 = colFactor[c + 1] * g[at + c + 1];
      s0 += u0 * u0;
      s1 += u1 * u1;
    }
    if (c < C) {
      const u = colFactor[c] * g[at + c];
      s0 += u * u;
    }
    ssU += rFactor * rFactor * (s0 + s1);
  }
  return ssU;
}

/** Rank >= 2, one slice: p' = p − p·wd·α − u with u = raw·scale (through m when β1 is given). */
function factoredFinish(
  p: Float32Array, g: Float32Array, pOut: Float32Array, mIn: Float32Array, mOut: Float32Array,
  base: number, R: number, C: number, rowOut: Float32Array, rowAt: number, colFactor: Float64Array,
  scale: number, decay: number, hasM: boolean, b1: number, c1: number,
): void {
  const rowMean = f(meanOf(rowOut, rowAt, R));
  for (let r = 0; r < R; r++) {
    const rs = f(1 / Math.sqrt(f(rowOut[rowAt + r] / rowMean))) * scale;
    const at = base + r * C;
    for (let c = 0; c < C; c++) {
      const i = at + c;
      let u = rs * colFactor[c] * g[i];
      if (hasM) {
        u = f(mIn[i] * b1 + u * c1);
        mOut[i] = u;
      }
      const pi = p[i];
      pOut[i] = f(pi + pi * decay) - u;
    }
  }
}

/** Rank < 2: V ← β2t·V + (1 − β2t)·q; the raw update g·rsqrt(V) into uOut; returns Σu². */
function unfactoredMoments(
  g: Float32Array, vIn: Float32Array, vOut: Float32Array, uOut: Float32Array,
  b2: number, c2: number, eps1: number,
): number {
  let ssU = 0;
  for (let i = 0; i < g.length; i++) {
    const gi = g[i];
    const vi = f(vIn[i] * b2 + (gi * gi + eps1) * c2);
    vOut[i] = vi;
    const u = gi / Math.sqrt(vi);
    uOut[i] = u;
    ssU += u * u;
  }
  return ssU;
}

/** Rank < 2: p' = p − p·wd·α − u with u = raw·scale (through m when β1 is given); raw is in pOut. */
function unfactoredFinish(
  p: Float32Array, pOut: Float32Array, mIn: Float32Array, mOut: Float32Array,
  scale: number, decay: number, hasM: boolean, b1: number, c1: number,
): void {
  for (let i = 0; i < p.length; i++) {
    let u = pOut[i] * scale;
    if (hasM) {
      u = f(mIn[i] * b1 + u * c1);
      mOut[i] = u;
    }
    const pi = p[i];
    pOut[i] = f(pi + pi * decay) - u;
  }
}

function adafactorState(shape: readonly number[], h: AdafactorHyper): StateSpec[] {
  const specs: StateSpec[] = h.hasFirstMoment ? [{ key: 'm', shape: shape.slice() }] : [];
  if (shape.length >= 2) {
    specs.push({ key: 'vRow', shape: shape.slice(0, -1) });
    specs.push({ key: 'vCol', shape: [...shape.slice(0, -2), shape[shape.length - 1]] });
  } else {
    specs.push({ key: 'v', shape: shape.slice() });
  }
  return specs;
}

// The WGSL passes of the fused kernel on webgpu, float32 throughout (sums too). Rank >= 2, [L, R, C]:
//   factors  one invocation per row (Σ_c q) and per column (Σ_r q): the new row and column factors;
//   sums     one invocation per row: Σ_c (rsqrt(col)·g)² and Σ_c p²;
//   reduce   one workgroup: the row mean of each slice, Σu² (rows weighted by rsqrt(row / mean)²) and Σp²;
//   finish   one invocation per element: α, the clip and the weight decay from those sums, then p' (and m').
// Rank < 2: the new V per element; one workgroup for Σu² and Σp²; then p' (and m') per element.
// Nothing is read back: α and the clip are computed on the GPU from the sums.

/** α·(1 / clip) and −wd·α from the sums at red[u.at] (Σu²) and red[u.at + 1] (Σp²), as in the module comment. */
const COEFFICIENTS = `
fn coefficients() -> vec2<f32> {
  var alpha = u.stepSize;
  if (u.scaleParameter != 0u) { alpha = alpha * max(u.eps2, sqrt(red[u.at + 1u]) / u.sqrtN); }
  let clip = max(sqrt(red[u.at]) / u.sqrtN / u.clipThreshold, 1.0);
  return vec2<f32>(alpha / clip, -u.wd * alpha);
}`;

/** One workgroup's sums a (Σu²) and b (Σp²) of its invocations, written to red[u.at] and red[u.at + 1]. */
const WORKGROUP_SUMS = `
  sumU[lid] = a;
  sumP[lid] = b;
  workgroupBarrier();
  for (var stride = ${WORKGROUP / 2}u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      sumU[lid] = sumU[lid] + sumU[lid + stride];
      sumP[lid] = sumP[lid] + sumP[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    red[u.at] = sumU[0];
    red[u.at + 1u] = sumP[0];
  }`;
const SUM_ARRAYS = `var<workgroup> sumU: array<f32, ${WORKGROUP}>;\nvar<workgroup> sumP: array<f32, ${WORKGROUP}>;`;

function adafactorWebgpu(run: GpuRunner, p: tf.TensorInfo, g: tf.TensorInfo, state: tf.TensorInfo[], h: AdafactorHyper): tf.TensorInfo[] {
  const shape = p.shape;
  const n = tf.util.sizeFromShape(shape);
  const hasM = h.hasFirstMoment;
  const vAt = hasM ? 1 : 0;
  const C = shape.length >= 2 ? shape[shape.length - 1] : n;
  const R = shape.length >= 2 ? shape[shape.length - 2] : 1;
  const L = shape.length >= 2 ? n / (R * C) : 1;
  const { b2, c2, eps1, b1, c1 } = float32Coefficients(h);
  const uniforms = {
    n: u32(n),
    L: u32(L),
    R: u32(R),
    C: u32(C),
    at: u32(shape.length >= 2 ? L : 0),
    b2: f32(b2),
    c2: f32(c2),
    eps1: f32(eps1),
    b1: f32(b1),
    c1: f32(c1),
    stepSize: f32(h.stepSize),
    eps2: f32(h.epsilon2),
    clipThreshold: f32(h.clipThreshold),
    wd: f32(h.weightDecay),
    scaleParameter: u32(h.scaleParameter ? 1 : 0),
    sqrtN: f32(Math.sqrt(n)),
  };
  const m: Record<string, tf.TensorInfo> = hasM ? { m: state[0] } : {};
  const mOut: Record<string, number[]> = hasM ? { mOut: shape } : {};
  const firstMoment = hasM ? `\n  upd = m[i] * u.b1 + upd * u.c1;\n  mOut[i] = upd;` : '';

  if (shape.length < 2) {
    const [vOut] = run.run({
      name: 'adafactor.vector',
      inputs: { g, v: state[vAt] },
      outputs: { vOut: shape },
      uniforms,
      threads: n,
      body: `
  if (i >= u.n) { return; }
  let x = g[i];
  vOut[i] = v[i] * u.b2 + (x * x + u.eps1) * u.c2;`,
    });
    const [red] = run.run({
      name: 'adafactor.vectorSums',
      inputs: { g, p, vOut },
      outputs: { red: [2] },
      uniforms,
      threads: 'one-workgroup',
      declarations: SUM_ARRAYS,
      body: `
  var a = 0.0;
  var b = 0.0;
  for (var k = lid; k < u.n; k = k + ${WORKGROUP}u) {
    let x = g[k] / sqrt(vOut[k]);
    a = a + x * x;
    let y = p[k];
    b = b + y * y;
  }${WORKGROUP_SUMS}`,
    });
    const [pOut, ...moment] = run.run({
      name: 'adafactor.vectorFinish',
      inputs: { p, g, ...m, vOut, red },
      outputs: { pOut: shape, ...mOut },
      uniforms,
      threads: n,
      declarations: COEFFICIENTS,
      body: `
  if (i >= u.n) { return; }
  let k = coefficients();
  var upd = g[i] / sqrt(vOut[i]) * k.x;${firstMoment}
  let pi = p[i];
  pOut[i] = (pi + pi * k.y) - upd;`,
    });
    run.release(red);
    return [pOut, ...moment, vOut];
  }

  const [rowOut, colOut] = run.run({
    name: 'adafactor.factors',
    inputs: { g, rowIn: state[vAt], colIn: state[vAt + 1] },
    outputs: { rowOut: shape.slice(0, -1), colOut: [...shape.slice(0, -2), C] },
    uniforms,
    threads: L * R + L * C,
    body: `
  let rows = u.L * u.R;
  if (i < rows) {
    let base = i * u.C;
    var s = 0.0;
    for (var c = 0u; c < u.C; c = c + 1u) {
      let x = g[base + c];
      s = s + (x * x + u.eps1);
    }
    rowOut[i] = rowIn[i] * u.b2 + (s / f32(u.C)) * u.c2;
  } else if (i < rows + u.L * u.C) {
    let j = i - rows;
    let l = j / u.C;
    let base = l * u.R * u.C + (j - l * u.C);
    var s = 0.0;
    for (var r = 0u; r < u.R; r = r + 1u) {
      let x = g[base + r * u.C];
      s = s + (x * x + u.eps1);
    }
    colOut[j] = colIn[j] * u.b2 + (s / f32(u.R)) * u.c2;
  }`,
  });
  const [part] = run.run({
    name: 'adafactor.sums',
    inputs: { g, p, colOut },
    outputs: { part: [2 * L * R] },
    uniforms,
    threads: L * R,
    body: `
  if (i >= u.L * u.R) { return; }
  let cols = (i / u.R) * u.C;
  let base = i * u.C;
  var a = 0.0;
  var b = 0.0;
  for (var c = 0u; c < u.C; c = c + 1u) {
    let x = (1.0 / sqrt(colOut[cols + c])) * g[base + c];
    a = a + x * x;
    let y = p[base + c];
    b = b + y * y;
  }
  part[2u * i] = a;
  part[2u * i + 1u] = b;`,
  });
  const [red] = run.run({
    name: 'adafactor.reduce',
    inputs: { rowOut, part },
    outputs: { red: [L + 2] },
    uniforms,
    threads: 'one-workgroup',
    declarations: SUM_ARRAYS,
    body: `
  for (var l = lid; l < u.L; l = l + ${WORKGROUP}u) {
    var s = 0.0;
    for (var r = 0u; r < u.R; r = r + 1u) { s = s + rowOut[l * u.R + r]; }
    red[l] = s / f32(u.R);
  }
  storageBarrier();
  var a = 0.0;
  var b = 0.0;
  for (var k = lid; k < u.L * u.R; k = k + ${WORKGROUP}u) {
    let rf = 1.0 / sqrt(rowOut[k] / red[k / u.R]);
    a = a + rf * rf * part[2u * k];
    b = b + part[2u * k + 1u];
  }${WORKGROUP_SUMS}`,
  });
  run.release(part);
  const [pOut, ...moment] = run.run({
    name: 'adafactor.finish',
    inputs: { p, g, ...m, rowOut, colOut, red },
    outputs: { pOut: shape, ...mOut },
    uniforms,
    threads: n,
    declarations: COEFFICIENTS,
    body: `
  if (i >= u.n) { return; }
  let row = i / u.C;
  let l = row / u.R;
  let k = coefficients();
  let rs = 1.0 / sqrt(rowOut[row] / red[l]) * k.x;
  var upd = rs * (1.0 / sqrt(colOut[l * u.C + (i - row * u.C)])) * g[i];${firstMoment}
  let pi = p[i];
  pOut[i] = (pi + pi * k.y) - upd;`,
  });
  run.release(red);
  return [pOut, ...moment, rowOut, colOut];
}

/** Adafactor's update rule: the maths in the module comment, as tfjs ops and as one fused kernel. */
export const adafactorRule: UpdateRule<AdafactorHyper> = {
  name: 'Adafactor',
  state: adafactorState,

  ops(p, g, state, h) {
    const alpha: tf.Tensor | number = h.scaleParameter
      ? tf.mul(tf.maximum(rms(p), h.epsilon2), h.stepSize)
      : h.stepSize;
    const m = h.hasFirstMoment ? state[0] : undefined;
    const v = state.slice(h.hasFirstMoment ? 1 : 0);
    const q = tf.add(tf.square(g), h.epsilon1);
    let update: tf.Tensor;
    const vNext: tf.Tensor[] = [];
    if (p.rank >= 2) {
      const row = tf.add(tf.mul(v[0], h.beta2t), tf.mul(tf.mean(q, -1), 1 - h.beta2t));
      const col = tf.add(tf.mul(v[1], h.beta2t), tf.mul(tf.mean(q, -2), 1 - h.beta2t));
      const rFactor = tf.expandDims(tf.rsqrt(tf.div(row, tf.mean(row, -1, true))), -1);
      const cFactor = tf.expandDims(tf.rsqrt(col), -2);
      update = tf.mul(tf.mul(rFactor, cFactor), g);
      vNext.push(row, col);
    } else {
      const vv = tf.add(tf.mul(v[0], h.beta2t), tf.mul(q, 1 - h.beta2t));
      update = tf.mul(tf.rsqrt(vv), g);
      vNext.push(vv);
    }
    update = tf.div(update, tf.maximum(tf.div(rms(update), h.clipThreshold), 1));
    update = tf.mul(update, alpha);
    const mNext: tf.Tensor[] = [];
    if (m !== undefined) {
      update = tf.add(tf.mul(m, h.beta1), tf.mul(update, 1 - h.beta1));
      mNext.push(update);
    }
    const decayed = h.weightDecay === 0 ? p : tf.add(p, tf.mul(p, tf.mul(alpha, -h.weightDecay)));
    return [tf.sub(decayed, update), ...mNext, ...vNext];
  },

  // Passes: Σp² (for RMS(p)); second moments and Σu² of the raw update; then clip, scale, first
  // moment, decay and p'. Rank >= 2 recomputes the raw update in the last pass from the factors;
  // rank < 2 keeps it in out[0] between passes.
  arrays(shape, p, g, state, out, h) {
    const n = p.length;
    const pOut = out[0];
    const hasM = h.hasFirstMoment;
    const vAt = hasM ? 1 : 0;
    const mIn = hasM ? state[0] : p; // (unused without β1)
    const mOut = hasM ? out[1] : pOut;
    const { b2, c2, eps1, b1, c1 } = float32Coefficients(h);
    let alpha = h.stepSize;
    if (h.scaleParameter) alpha *= Math.max(h.epsilon2, f(f(Math.sqrt(sumOfSquares(p))) / Math.sqrt(n)));
    alpha = f(alpha);
    const decay = f(-h.weightDecay * alpha);
    const clipOf = (ssU: number): number => Math.max(f(f(f(Math.sqrt(ssU)) / Math.sqrt(n)) / h.clipThreshold), 1);

    if (shape.length < 2) {
      const ssU = unfactoredMoments(g, state[vAt], out[vAt + 1], pOut, b2, c2, eps1);
      unfactoredFinish(p, pOut, mIn, mOut, alpha / clipOf(ssU), decay, hasM, b1, c1);
      return;
    }
    const C = shape[shape.length - 1];
    const R = shape[shape.length - 2];
    const L = R * C === 0 ? 0 : n / (R * C);
    const [rowIn, colIn] = [state[vAt], state[vAt + 1]];
    const [rowOut, colOut] = [out[vAt + 1], out[vAt + 2]];
    const colFactor = scratch(C);
    let ssU = 0;
    for (let l = 0; l < L; l++) {
      ssU += factoredMoments(g, l * R * C, R, C, rowIn, colIn, rowOut, colOut, l * R, l * C, colFactor, b2, c2, eps1);
    }
    const scale = alpha / clipOf(ssU);
    for (let l = 0; l < L; l++) {
      for (let c = 0; c < C; c++) colFactor[c] = f(1 / Math.sqrt(colOut[l * C + c]));
      factoredFinish(p, g, pOut, mIn, mOut, l * R * C, R, C, rowOut, l * R, colFactor, scale, decay, hasM, b1, c1);
    }
  },

  // The same passes with the SIMD kernels (assembly/optim.ts), float32 per element, float64 sums.
  // Rank >= 2, per [R, C] slice: g → row factors and column sums; g → Σu²; then p, g (, m) → p'
  // (, m'). Σp² for RMS(p) is one more pass over p, skipped when the update that produced p
  // summed p'² on its way out (`io.memo`: the usual case in training).
  simd(io, shape, h) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n === 0) return;
    const k = io.kernels;
    const hasM = h.hasFirstMoment;
    const vAt = hasM ? 1 : 0;
    const [P, G, POut] = [io.param, io.grad, io.out[0]];
    const M = hasM ? io.state[0] : -1;
    const MOut = hasM ? io.out[1] : -1;
    const { b2, c2, eps1, b1, c1 } = float32Coefficients(h);
    let alpha = h.stepSize;
    if (h.scaleParameter) {
      let ssP = io.memo.paramSumOfSquares;
      if (ssP === undefined) {
        let sum = 0;
        io.stream([P], [], 0, n, 1, (at, count) => (sum += k.sumOfSquares(at(P), count)));
        ssP = sum;
      }
      alpha *= Math.max(h.epsilon2, f(f(Math.sqrt(ssP)) / Math.sqrt(n)));
    }
    alpha = f(alpha);
    const decay = f(-h.weightDecay * alpha);
    const clipOf = (ssU: number): number => Math.max(f(f(f(Math.sqrt(ssU)) / Math.sqrt(n)) / h.clipThreshold), 1);
    const finishIns = hasM ? [P, G, M] : [P, G];
    const finishOuts = hasM ? [POut, MOut] : [POut];
    let ssP = 0;

    if (shape.length < 2) {
      const [V, VOut] = [io.state[vAt], io.out[vAt + 1]];
      let ssU = 0;
      io.stream([G, V], [VOut, POut], 0, n, 1, (at, count) => {
        ssU += k.adafactorVector(at(G), at(V), at(VOut), at(POut), count, b2, c2, eps1);
      });
      const scale = alpha / clipOf(ssU);
      // The raw update waits in p' between the passes.
      io.stream([P, POut, ...(hasM ? [M] : [])], finishOuts, 0, n, 1, (at, count) => {
        ssP += k.adafactorVectorFinish(at(P), at(POut), hasM ? at(M) : 0, hasM ? at(MOut) : 0, count,
          scale, decay, hasM, b1, c1);
      });
      io.memo.outSumOfSquares = ssP;
      return;
    }
    const C = shape[shape.length - 1];
    const R = shape[shape.length - 2];
    const L = n / (R * C);
    const rowIn = io.whole(io.state[vAt]);
    const colIn = io.whole(io.state[vAt + 1]);
    const rowOut = io.whole(io.out[vAt + 1]);
    const colOut = io.whole(io.out[vAt + 2]);
    const colSum = io.scratch(8 * C);
    const colFactor = io.scratch(4 * C);
    const row = (first: number): number => 4 * (first / C); // byte offset of element `first`'s row
    let ssU = 0;
    for (let l = 0; l < L; l++) {
      k.zero(colSum, 8 * C);
      io.stream([G], [], l * R * C, R * C, C, (at, count, first) =>
        k.adafactorRowSums(at(G), count / C, C, rowIn + row(first), rowOut + row(first), colSum, b2, c2, eps1),
      );
      k.adafactorColumns(colIn + 4 * l * C, colSum, colOut + 4 * l * C, colFactor, R, C, b2, c2);
      const mean = k.rowMean(rowOut + 4 * l * R, R);
      io.stream([G], [], l * R * C, R * C, C, (at, count, first) => {
        ssU += k.adafactorSumU2(at(G), count / C, C, rowOut + row(first), mean, colFactor);
      });
    }
    const scale = alpha / clipOf(ssU);
    for (let l = 0; l < L; l++) {
      k.columnFactors(colOut + 4 * l * C, colFactor, C);
      const mean = k.rowMean(rowOut + 4 * l * R, R);
      io.stream(finishIns, finishOuts, l * R * C, R * C, C, (at, count, first) => {
        ssP += k.adafactorFinish(at(P), at(G), at(POut), hasM ? at(M) : 0, hasM ? at(MOut) : 0, count / C, C,
          rowOut + row(first), mean, colFactor, scale, decay, hasM, b1, c1);
      });
    }
    io.memo.outSumOfSquares = ssP;
  },

  webgpu: adafactorWebgpu,
};
registerRule(adafactorRule);

/** Adafactor as a `tf.Optimizer`: `new Adafactor()` (relative step) or `new Adafactor({ learningRate: 1e-3 })`. */
export class Adafactor extends OptimizerAdapter<AdafactorHyper> {
  static readonly className = 'Adafactor';
  readonly epsilon1: number;
  readonly epsilon2: number;
  readonly clipThreshold: number;
  readonly decayRate: number;
  readonly beta1: number | null;
  readonly weightDecay: number;
  readonly scaleParameter: boolean;
  readonly relativeStep: boolean;
  readonly warmupInit: boolean;

  constructor(options: AdafactorOptions = {}) {
    const owner = 'Adafactor';
    const given = options?.learningRate;
    super(
      owner,
      options,
      [
        'learningRate',
        'epsilon1',
        'epsilon2',
        'clipThreshold',
        'decayRate',
        'beta1',
        'weightDecay',
        'scaleParameter',
        'relativeStep',
        'warmupInit',
      ],
      given === undefined || given === null ? undefined : checkLearningRate(owner, given, NaN),
    );
    const hasLr = this.learningRateOption !== undefined;
    this.relativeStep = checkBoolean(owner, 'relativeStep', options.relativeStep, !hasLr);
    this.warmupInit = checkBoolean(owner, 'warmupInit', options.warmupInit, false);
    if (hasLr && this.relativeStep) {
      throw new RangeError(
        `${owner}: a learningRate cannot be combined with relativeStep: true (Hugging Face refuses it too); ` +
          `omit learningRate or set relativeStep: false`,
      );
    }
    if (!hasLr && !this.relativeStep) {
      throw new RangeError(`${owner}: relativeStep: false needs a learningRate`);
    }
    if (this.warmupInit && !this.relativeStep) {
      throw new RangeError(`${owner}: warmupInit: true needs relativeStep: true`);
    }
    this.epsilon1 = checkNumber(owner, 'epsilon1', options.epsilon1, POSITIVE, 1e-30);
    this.epsilon2 = checkNumber(owner, 'epsilon2', options.epsilon2, NON_NEGATIVE, 1e-3);
    this.clipThreshold = checkNumber(owner, 'clipThreshold', options.clipThreshold, POSITIVE, 1);
    this.decayRate = checkNumber(owner, 'decayRate', options.decayRate, NON_POSITIVE, -0.8);
    if (options.beta1 === undefined || options.beta1 === null) {
      this.beta1 = null;
    } else if (typeof options.beta1 !== 'number') {
      throw new RangeError(`${owner}: beta1 must be null or in [0, 1), got ${describe(options.beta1)}`);
    } else {
      this.beta1 = checkNumber(owner, 'beta1', options.beta1, UNIT, 0);
    }
    this.weightDecay = checkNumber(owner, 'weightDecay', options.weightDecay, NON_NEGATIVE, 0);
    this.scaleParameter = checkBoolean(owner, 'scaleParameter', options.scaleParameter, true);
  }

  protected get rule(): UpdateRule<AdafactorHyper> {
    return adafactorRule;
  }

  /** ρ of the update with 0-based index `step`: the relative step, or the learning rate. */
  override learningRateAt(step: number): number {
    if (!this.relativeStep) return super.learningRateAt(step);
    const t = step + 1;
    return Math.min(this.warmupInit ? 1e-6 * t : 1e-2, 1 / Math.sqrt(t));
  }

  protected hyper(ctx: StepContext): AdafactorHyper {
    const t = ctx.step + 1;
    return {
      stepSize: ctx.learningRate,
      scaleParameter: this.scaleParameter,
      epsilon1: this.epsilon1,
      epsilon2: this.epsilon2,
      clipThreshold: this.clipThreshold,
      beta2t: 1 - Math.pow(t, this.decayRate),
      hasFirstMoment: this.beta1 !== null,
      beta1: this.beta1 ?? 0,
      weightDecay: ctx.decayed ? this.weightDecay : 0,
    };
  }

  /**
   * `learningRate` is null with the relative step; a schedule is recorded as its value at the
   * current step (functions do not serialise).
   */
  override getConfig(): tf.serialization.ConfigDict {
    return {
      learningRate: this.relativeStep ? null : this.configLearningRate(),
      epsilon1: this.epsilon1,
      epsilon2: this.epsilon2,
      clipThreshold: this.clipThreshold,
      decayRate: this.decayRate,
      beta1: this.beta1,
      weightDecay: this.weightDecay,
      scaleParameter: this.scaleParameter,
      relativeStep: this.relativeStep,
      warmupInit: this.warmupInit,
      ...this.commonConfig(),
    };
  }
}
tf.serialization.registerClass(Adafactor);
