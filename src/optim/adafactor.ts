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
import * as tf from '@tensorflow/tfjs';
import { OptimizerAdapter, type CommonOptions, type StepContext } from './base.js';
import { registerRule, type StateSpec, type UpdateRule } from './kernel.js';
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

const rms = (x: tf.Tensor): tf.Tensor => tf.div(tf.norm(x), Math.sqrt(x.size));

// Column sums, then column factors, of one [R, C] slice; reused between calls (grown as needed).
let colScratch = new Float64Array(0);
function scratch(size: number): Float64Array {
  if (colScratch.length < size) colScratch = new Float64Array(size);
  return colScratch;
}

function meanOf(a: Float32Array, start: number, count: number): number {
  let s = 0;
  for (let i = start; i < start + count; i++) s += a[i];
  return s / count;
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

  // Three passes: (A) Σp², the second moments (rank < 2: also the raw update, kept in out[0]);
  // (B, rank >= 2) Σu² of the raw update; (C) clip, scale, first moment, decay, write p'. Every
  // value PyTorch stores in a float32 tensor is rounded to float32 here too.
  arrays(shape, p, g, state, out, h) {
    const n = p.length;
    const pOut = out[0];
    const vAt = h.hasFirstMoment ? 1 : 0;
    const b2 = f(h.beta2t);
    const c2 = f(1 - h.beta2t);
    const eps1 = f(h.epsilon1);
    const factored = shape.length >= 2;
    const C = factored ? shape[shape.length - 1] : 0;
    const R = factored ? shape[shape.length - 2] : 0;
    const L = R * C === 0 ? 0 : n / (R * C);
    let ssP = 0; // Σ p²
    let ssU = 0; // Σ u² of the raw update
    if (factored) {
      const rowIn = state[vAt];
      const colIn = state[vAt + 1];
      const rowOut = out[vAt + 1];
      const colOut = out[vAt + 2];
      // buf[0, C): column sums, then column factors rsqrt(col).
      const buf = scratch(C);
      for (let l = 0; l < L; l++) {
        const base = l * R * C;
        // (A) row and column means of q = g² + ε1 into the decayed factors.
        buf.fill(0, 0, C);
        for (let r = 0; r < R; r++) {
          const at = base + r * C;
          let rowSum = 0;
          for (let c = 0; c < C; c++) {
            const gi = g[at + c];
            const pi = p[at + c];
            ssP += pi * pi;
            const q = f(f(gi * gi) + eps1);
            rowSum += q;
            buf[c] += q;
          }
          const k = l * R + r;
          rowOut[k] = f(rowIn[k] * b2) + f(f(rowSum / C) * c2);
        }
        for (let c = 0; c < C; c++) {
          const k = l * C + c;
          const col = f(f(colIn[k] * b2) + f(f(buf[c] / R) * c2));
          colOut[k] = col;
          buf[c] = f(1 / Math.sqrt(col));
        }
        // (B) Σu² with u = g · rsqrt(row / mean(row)) · rsqrt(col).
        const rowMean = f(meanOf(rowOut, l * R, R));
        for (let r = 0; r < R; r++) {
          const rFactor = f(1 / Math.sqrt(f(rowOut[l * R + r] / rowMean)));
          const at = base + r * C;
          let s = 0;
          for (let c = 0; c < C; c++) {
            const u = f(f(rFactor * buf[c]) * g[at + c]);
            s += u * u;
          }
          ssU += s;
        }
      }
    } else {
      const vIn = state[vAt];
      const vOut = out[vAt + 1];
      for (let i = 0; i < n; i++) {
        const gi = g[i];
        const pi = p[i];
        ssP += pi * pi;
        const vi = f(f(vIn[i] * b2) + f(f(f(gi * gi) + eps1) * c2));
        vOut[i] = vi;
        const u = f(f(1 / Math.sqrt(vi)) * gi);
        pOut[i] = u;
        ssU += u * u;
      }
    }
    let alpha = h.stepSize;
    if (h.scaleParameter) alpha *= Math.max(h.epsilon2, f(f(Math.sqrt(ssP)) / Math.sqrt(n)));
    alpha = f(alpha);
    const rmsU = f(f(Math.sqrt(ssU)) / Math.sqrt(n));
    const clip = Math.max(f(rmsU / h.clipThreshold), 1);
    // (C) u ← u · α / clip; m ← β1·m + (1 − β1)·u; p ← p − p·wd·α − u.
    const decay = f(-h.weightDecay * alpha);
    const hasM = h.hasFirstMoment;
    const b1 = f(h.beta1);
    const c1 = f(1 - h.beta1);
    const mIn = state[0];
    const mOut = out[1];
    const finish = (i: number, raw: number): void => {
      let u = f(f(raw / clip) * alpha);
      if (hasM) {
        u = f(f(mIn[i] * b1) + f(u * c1));
        mOut[i] = u;
      }
      const pi = p[i];
      pOut[i] = (decay === 0 ? pi : f(pi + f(pi * decay))) - u;
    };
    if (factored) {
      const rowOut = out[vAt + 1];
      const colOut = out[vAt + 2];
      const buf = colScratch;
      for (let l = 0; l < L; l++) {
        const base = l * R * C;
        for (let c = 0; c < C; c++) buf[c] = f(1 / Math.sqrt(colOut[l * C + c]));
        const rowMean = f(meanOf(rowOut, l * R, R));
        for (let r = 0; r < R; r++) {
          const rFactor = f(1 / Math.sqrt(f(rowOut[l * R + r] / rowMean)));
          const at = base + r * C;
          for (let c = 0; c < C; c++) finish(at + c, f(f(rFactor * buf[c]) * g[at + c]));
        }
      }
    } else {
      for (let i = 0; i < n; i++) finish(i, pOut[i]);
    }
  },
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
