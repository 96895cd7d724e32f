/**
 * AdamW: Adam with decoupled weight decay.
 *
 * Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization", arXiv:1711.05101 (Adam:
 * Kingma & Ba 2015, arXiv:1412.6980); update as in PyTorch's `torch.optim.AdamW` (1.13). For a
 * parameter p with gradient g, moments m, v (zeros at first), at step t = 1, 2, …:
 *
 *     p ← p·(1 − lr·wd)
 *     m ← β1·m + (1 − β1)·g
 *     v ← β2·v + (1 − β2)·g²
 *     p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
 *
 * ε is added to the bias-corrected √v, as PyTorch does (not to √v̂ of the Adam paper's form).
 * Defaults: lr 1e-3, β1 0.9, β2 0.999, ε 1e-8, wd 1e-2. State: m and v, two tensors per variable.
 */
import * as tf from '../tf.js';
import { OptimizerAdapter, type CommonOptions, type StepContext } from './base.js';
import { registerRule, type UpdateRule } from './kernel.js';
import { f32, u32 } from './wgsl.js';
import { checkLearningRate, checkNumber, NON_NEGATIVE, POSITIVE, UNIT, type LearningRate } from './options.js';

export interface AdamWOptions extends CommonOptions {
  /** Default 1e-3; a number or `(step) => number` (step: 0-based index of the update). */
  learningRate?: LearningRate | null;
  /** First-moment decay, in [0, 1). Default 0.9. */
  beta1?: number;
  /** Second-moment decay, in [0, 1). Default 0.999. */
  beta2?: number;
  /** Added to the bias-corrected √v, > 0. Default 1e-8. */
  epsilon?: number;
  /** Decoupled weight decay, >= 0. Default 1e-2. */
  weightDecay?: number;
}

export type AdamWHyper = {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  /** 1-based step t (bias correction). */
  t: number;
};

const f = Math.fround;

/** AdamW's update rule: the maths in the module comment, as tfjs ops and as one fused loop. */
export const adamwRule: UpdateRule<AdamWHyper> = {
  name: 'AdamW',
  state: (shape) => [
    { key: 'm', shape: shape.slice() },
    { key: 'v', shape: shape.slice() },
  ],

  ops(p, g, [m, v], h) {
    const decayed = h.weightDecay === 0 ? p : tf.mul(p, 1 - h.lr * h.weightDecay);
    const mNext = tf.add(tf.mul(m, h.beta1), tf.mul(g, 1 - h.beta1));
    const vNext = tf.add(tf.mul(v, h.beta2), tf.mul(tf.square(g), 1 - h.beta2));
    const stepSize = h.lr / (1 - Math.pow(h.beta1, h.t));
    const denom = tf.add(tf.div(tf.sqrt(vNext), Math.sqrt(1 - Math.pow(h.beta2, h.t))), h.epsilon);
    const param = tf.sub(decayed, tf.mul(tf.div(mNext, denom), stepSize));
    return [param, mNext, vNext];
  },

  // m, v and p·(1 − lr·wd), which PyTorch stores in float32 tensors, are rounded to float32 before
  // use; the rest is float64 (rounding every temporary as well costs ~2x in speed for ~1 ulp).
  arrays(_shape, p, g, [m, v], [pOut, mOut, vOut], h) {
    const decay = f(1 - h.lr * h.weightDecay);
    const b1 = f(h.beta1);
    const c1 = f(1 - h.beta1);
    const b2 = f(h.beta2);
    const c2 = f(1 - h.beta2);
    const stepSize = f(h.lr / (1 - Math.pow(h.beta1, h.t)));
    const invBc2Sqrt = 1 / f(Math.sqrt(1 - Math.pow(h.beta2, h.t)));
    const eps = f(h.epsilon);
    const n = p.length;
    for (let i = 0; i < n; i++) {
      const gi = g[i];
      const mi = f(m[i] * b1 + gi * c1);
      const vi = f(v[i] * b2 + gi * gi * c2);
      mOut[i] = mi;
      vOut[i] = vi;
      pOut[i] = f(p[i] * decay) - (stepSize * mi) / (Math.sqrt(vi) * invBc2Sqrt + eps);
    }
  },

  // The same maths in float32 SIMD (assembly/optim.ts: adamw), one pass, rounded op by op as
  // PyTorch does: denom = √v / √(1 − β2^t) + ε, p ← p·decay − stepSize·(m / denom).
  simd(io, shape, h) {
    const n = shape.reduce((a, b) => a * b, 1);
    const [p, g, m, v, pOut, mOut, vOut] = [io.param, io.grad, io.state[0], io.state[1], io.out[0], io.out[1], io.out[2]];
    const decay = f(1 - h.lr * h.weightDecay);
    const stepSize = f(h.lr / (1 - Math.pow(h.beta1, h.t)));
    const bc2 = f(Math.sqrt(1 - Math.pow(h.beta2, h.t)));
    const [b1, c1, b2, c2, eps] = [f(h.beta1), f(1 - h.beta1), f(h.beta2), f(1 - h.beta2), f(h.epsilon)];
    io.stream([p, g, m, v], [pOut, mOut, vOut], 0, n, 1, (at, count) =>
      io.kernels.adamw(at(p), at(g), at(m), at(v), at(pOut), at(mOut), at(vOut), count,
        decay, stepSize, b1, c1, b2, c2, bc2, eps),
    );
  },

  // The same maths in WGSL, one pass, rounded op by op as the SIMD kernels are.
  webgpu(run, p, g, [m, v], h) {
    const n = tf.util.sizeFromShape(p.shape);
    return run.run({
      name: 'adamw',
      inputs: { p, g, m, v },
      outputs: { pOut: p.shape, mOut: p.shape, vOut: p.shape },
      uniforms: {
        n: u32(n),
        decay: f32(1 - h.lr * h.weightDecay),
        stepSize: f32(h.lr / (1 - Math.pow(h.beta1, h.t))),
        b1: f32(h.beta1),
        c1: f32(1 - h.beta1),
        b2: f32(h.beta2),
        c2: f32(1 - h.beta2),
        bc2: f32(Math.sqrt(1 - Math.pow(h.beta2, h.t))),
        eps: f32(h.epsilon),
      },
      threads: n,
      body: `
  if (i >= u.n) { return; }
  let gi = g[i];
  let mi = m[i] * u.b1 + gi * u.c1;
  let vi = v[i] * u.b2 + gi * gi * u.c2;
  mOut[i] = mi;
  vOut[i] = vi;
  let denom = sqrt(vi) / u.bc2 + u.eps;
  pOut[i] = p[i] * u.decay - u.stepSize * (mi / denom);`,
    });
  },
};
registerRule(adamwRule);

/** AdamW as a `tf.Optimizer`: `new AdamW({ learningRate: 1e-3, weightDecay: 0.05 })`. */
export class AdamW extends OptimizerAdapter<AdamWHyper> {
  static readonly className = 'AdamW';
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;

  constructor(options: AdamWOptions = {}) {
    const owner = 'AdamW';
    super(
      owner,
      options,
      ['learningRate', 'beta1', 'beta2', 'epsilon', 'weightDecay'],
      checkLearningRate(owner, options?.learningRate, 1e-3),
    );
    this.beta1 = checkNumber(owner, 'beta1', options.beta1, UNIT, 0.9);
    this.beta2 = checkNumber(owner, 'beta2', options.beta2, UNIT, 0.999);
    this.epsilon = checkNumber(owner, 'epsilon', options.epsilon, POSITIVE, 1e-8);
    this.weightDecay = checkNumber(owner, 'weightDecay', options.weightDecay, NON_NEGATIVE, 1e-2);
  }

  protected get rule(): UpdateRule<AdamWHyper> {
    return adamwRule;
  }

  protected hyper(ctx: StepContext): AdamWHyper {
    return {
      lr: ctx.learningRate,
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      weightDecay: ctx.decayed ? this.weightDecay : 0,
      t: ctx.step + 1,
    };
  }

  /** A schedule is recorded as its value at the current step (functions do not serialise). */
  override getConfig(): tf.serialization.ConfigDict {
    return {
      learningRate: this.configLearningRate(),
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      weightDecay: this.weightDecay,
      ...this.commonConfig(),
    };
  }
}
tf.serialization.registerClass(AdamW);
