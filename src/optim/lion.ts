/**
 * Lion: EvoLved Sign Momentum.
 *
 * Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", arXiv:2302.06675; update as
 * in the paper's official implementation (google/automl, lion/lion_pytorch.py). For a parameter p
 * with gradient g and momentum m (zeros at first), each step:
 *
 *     c  = β1·m + (1 − β1)·g
 *     p ← p·(1 − lr·wd) − lr·sign(c)          sign(0) = 0
 *     m ← β2·m + (1 − β2)·g
 *
 * Defaults: lr 1e-4, β1 0.9, β2 0.99, wd 0. State: m, one tensor per variable. The paper advises
 * a learning rate 3-10x smaller and a weight decay 3-10x larger than AdamW's.
 */
import * as tf from '../tf.js';
import { OptimizerAdapter, type CommonOptions, type StepContext } from './base.js';
import { registerRule, type UpdateRule } from './kernel.js';
import { f32, u32 } from './wgsl.js';
import { checkLearningRate, checkNumber, NON_NEGATIVE, UNIT, type LearningRate } from './options.js';

export interface LionOptions extends CommonOptions {
  /** Default 1e-4; a number or `(step) => number` (step: 0-based index of the update). */
  learningRate?: LearningRate | null;
  /** Interpolation between momentum and gradient for the sign, in [0, 1). Default 0.9. */
  beta1?: number;
  /** Momentum decay, in [0, 1). Default 0.99. */
  beta2?: number;
  /** Decoupled weight decay, >= 0. Default 0. */
  weightDecay?: number;
}

export type LionHyper = {
  lr: number;
  beta1: number;
  beta2: number;
  /** Weight decay for this variable (0 when masked out). */
  weightDecay: number;
};

const f = Math.fround;

/**
 * sign(x) with sign(0) = 0. tfjs-backend-wasm 4.22's `Sign` returns 0 for 0 < |x| < 1.2e-7
 * (float32 ε), which would freeze Lion's small updates, so on wasm it is built from comparisons.
 */
function sign(x: tf.Tensor): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return tf.sign(x);
  return tf.sub(tf.cast(tf.greater(x, 0), 'float32'), tf.cast(tf.less(x, 0), 'float32'));
}

/** Lion's update rule: the maths in the module comment, as tfjs ops and as one fused loop. */
export const lionRule: UpdateRule<LionHyper> = {
  name: 'Lion',
  state: (shape) => [{ key: 'm', shape: shape.slice() }],

  ops(p, g, [m], h) {
    const c = tf.add(tf.mul(m, h.beta1), tf.mul(g, 1 - h.beta1));
    const decayed = h.weightDecay === 0 ? p : tf.mul(p, 1 - h.lr * h.weightDecay);
    const param = tf.sub(decayed, tf.mul(sign(c), h.lr));
    const mNext = tf.add(tf.mul(m, h.beta2), tf.mul(g, 1 - h.beta2));
    return [param, mNext];
  },

  // c is rounded to float32 as PyTorch's float32 tensors round it, so that sign(c) agrees exactly;
  // p·(1 − lr·wd) is rounded as PyTorch stores it.
  // The sign is branchless (a mispredicted branch per element costs more than the maths).
  arrays(_shape, p, g, [m], [pOut, mOut], h) {
    const decay = f(1 - h.lr * h.weightDecay);
    const lr = f(h.lr);
    const b1 = f(h.beta1);
    const c1 = f(1 - h.beta1);
    const b2 = f(h.beta2);
    const c2 = f(1 - h.beta2);
    const n = p.length;
    for (let i = 0; i < n; i++) {
      const gi = g[i];
      const mi = m[i];
      const c = f(f(mi * b1) + f(gi * c1));
      pOut[i] = f(p[i] * decay) - lr * (Number(c > 0) - Number(c < 0));
      mOut[i] = mi * b2 + gi * c2;
    }
  },

  // The same maths in float32 SIMD (assembly/optim.ts: lion), one pass.
  simd(io, shape, h) {
    const n = shape.reduce((a, b) => a * b, 1);
    const [p, g, m, pOut, mOut] = [io.param, io.grad, io.state[0], io.out[0], io.out[1]];
    const decay = f(1 - h.lr * h.weightDecay);
    const [lr, b1, c1, b2, c2] = [f(h.lr), f(h.beta1), f(1 - h.beta1), f(h.beta2), f(1 - h.beta2)];
    io.stream([p, g, m], [pOut, mOut], 0, n, 1, (at, count) =>
      io.kernels.lion(at(p), at(g), at(m), at(pOut), at(mOut), count, decay, lr, b1, c1, b2, c2),
    );
  },

  // The same maths in WGSL, one pass (WGSL's sign(0) is 0).
  webgpu(run, p, g, [m], h) {
    return run.run({
      name: 'lion',
      inputs: { p, g, m },
      outputs: { pOut: p.shape, mOut: p.shape },
      uniforms: {
        n: u32(tf.util.sizeFromShape(p.shape)),
        decay: f32(1 - h.lr * h.weightDecay),
        lr: f32(h.lr),
        b1: f32(h.beta1),
        c1: f32(1 - h.beta1),
        b2: f32(h.beta2),
        c2: f32(1 - h.beta2),
      },
      threads: tf.util.sizeFromShape(p.shape),
      body: `
  if (i >= u.n) { return; }
  let gi = g[i];
  let mi = m[i];
  let c = mi * u.b1 + gi * u.c1;
  pOut[i] = p[i] * u.decay - u.lr * sign(c);
  mOut[i] = mi * u.b2 + gi * u.c2;`,
    });
  },
};
registerRule(lionRule);

/** Lion as a `tf.Optimizer`: `new Lion({ learningRate: 3e-4, weightDecay: 0.1 })`. */
export class Lion extends OptimizerAdapter<LionHyper> {
  static readonly className = 'Lion';
  readonly beta1: number;
  readonly beta2: number;
  readonly weightDecay: number;

  constructor(options: LionOptions = {}) {
    const owner = 'Lion';
    super(
      owner,
      options,
      ['learningRate', 'beta1', 'beta2', 'weightDecay'],
      checkLearningRate(owner, options?.learningRate, 1e-4),
    );
    this.beta1 = checkNumber(owner, 'beta1', options.beta1, UNIT, 0.9);
    this.beta2 = checkNumber(owner, 'beta2', options.beta2, UNIT, 0.99);
    this.weightDecay = checkNumber(owner, 'weightDecay', options.weightDecay, NON_NEGATIVE, 0);
  }

  protected get rule(): UpdateRule<LionHyper> {
    return lionRule;
  }

  protected hyper(ctx: StepContext): LionHyper {
    return {
      lr: ctx.learningRate,
      beta1: this.beta1,
      beta2: this.beta2,
      weightDecay: ctx.decayed ? this.weightDecay : 0,
    };
  }

  /** A schedule is recorded as its value at the current step (functions do not serialise). */
  override getConfig(): tf.serialization.ConfigDict {
    return {
      learningRate: this.configLearningRate(),
      beta1: this.beta1,
      beta2: this.beta2,
      weightDecay: this.weightDecay,
      ...this.commonConfig(),
    };
  }
}
tf.serialization.registerClass(Lion);
