/**
 * Runs a program graph (ir.ts) with tfjs ops, on any backend: one call computes the update of
 * every parameter of the model for one step (whole-model reductions need them all). Scalars that
 * depend only on lr, step, decay and constants stay JS numbers (float64, the formulas of
 * functions.ts); reductions are 0-d tensors, so nothing waits on the device.
 * The caller runs it inside one `tf.tidy`.
 */
import * as tf from '../../tf.js';
import { evaluateScalar, functionSpec } from '../functions.js';
import type { Ir } from '../ir.js';

type Value = tf.Tensor | number;
type TensorFn = (...args: tf.Tensor[]) => tf.Tensor;

/**
 * sign(x) with sign(0) = 0 and sign(NaN) = NaN. tfjs-backend-wasm 4.22's `Sign` returns 0 for
 * 0 < |x| < 1.2e-7, so it is built from comparisons on every backend.
 */
function sign(x: tf.Tensor): tf.Tensor {
  const s = tf.sub(tf.cast(tf.greater(x, 0), 'float32'), tf.cast(tf.less(x, 0), 'float32'));
  return tf.where(tf.isNaN(x), x, s);
}

const abs = (x: tf.Tensor) => tf.abs(x);

/** The tfjs form of every elementwise function of functions.ts (same names, same guards). */
export const TENSOR_FUNCTIONS: Readonly<Record<string, TensorFn>> = {
  '+': (x, y) => tf.add(x, y),
  '-': (x, y) => tf.sub(x, y),
  '*': (x, y) => tf.mul(x, y),
  '/': (x, y) => tf.div(x, tf.add(y, 1e-8)),
  // As C's pow: 1^y = 1 for any y, (−1)^±inf = 1 (tf.pow differs between backends there).
  power: (x, y) => {
    const one = tf.logicalOr(tf.equal(x, 1), tf.logicalAnd(tf.equal(x, -1), tf.isInf(y)));
    const p = tf.pow(x, y);
    return tf.where(one, tf.onesLike(p), p);
  },
  maximum: (x, y) => tf.where(tf.logicalOr(tf.isNaN(x), tf.isNaN(y)), tf.add(x, y), tf.maximum(x, y)),
  minimum: (x, y) => tf.where(tf.logicalOr(tf.isNaN(x), tf.isNaN(y)), tf.add(x, y), tf.minimum(x, y)),
  abs,
  negative: (x) => tf.neg(x),
  sign,
  square: (x) => tf.mul(x, x),
  cube: (x) => tf.mul(tf.mul(x, x), x),
  sqrt: (x) => tf.sqrt(abs(x)),
  cbrt: (x) => tf.mul(sign(x), tf.pow(abs(x), 1 / 3)),
  reciprocal: (x) => tf.div(1, x),
  exp: (x) => tf.exp(x),
  exp2: (x) => tf.pow(2, x),
  exp10: (x) => tf.pow(10, x),
  expm1: (x) => tf.expm1(x),
  log: (x) => tf.log(abs(x)),
  log2: (x) => tf.div(tf.log(abs(x)), Math.LN2),
  log10: (x) => tf.div(tf.log(abs(x)), Math.LN10),
  log1p: (x) => tf.log(abs(tf.add(1, x))),
  sin: (x) => tf.sin(x),
  cos: (x) => tf.cos(x),
  tan: (x) => tf.tan(x),
  arcsin: (x) => tf.asin(x),
  arccos: (x) => tf.acos(x),
  arctan: (x) => tf.atan(x),
  sinh: (x) => tf.sinh(x),
  cosh: (x) => tf.cosh(x),
  tanh: (x) => tf.tanh(x),
  arcsinh: (x) => tf.asinh(x),
  arccosh: (x) => tf.acosh(x),
  arctanh: (x) => tf.atanh(x),
  interp: (x, y, a) => tf.add(tf.mul(tf.sub(1, a), x), tf.mul(a, y)),
};

/** Inputs of one parameter for one step. */
export interface OpsInput {
  w: tf.Tensor;
  g: tf.Tensor;
  /** State in `ir.state` order. */
  state: tf.Tensor[];
  /** 1 if weight decay applies to this parameter, else 0. */
  decay: number;
}

export interface OpsOutput {
  /** w − update. */
  w: tf.Tensor;
  /** New state in `ir.state` order. */
  state: tf.Tensor[];
}

const asTensor = (v: Value): tf.Tensor => (typeof v === 'number' ? tf.scalar(v) : v);

function sumOfProducts(xs: Value[], ys: Value[]): tf.Tensor {
  return tf.addN(xs.map((x, i) => tf.sum(tf.mul(asTensor(x), asTensor(ys[i])))));
}

/**
 * One step of the program for every parameter: `lr` and `step` are this step's, shared by all.
 * Call inside `tf.tidy`; the results are new tensors shaped like each `w`.
 */
export function runOps(ir: Ir, params: OpsInput[], lr: number, step: number): OpsOutput[] {
  const values: Value[][] = [];
  for (const node of ir.nodes) {
    let v: Value[];
    if (node.op === 'const') v = params.map(() => node.value);
    else if (node.op === 'input') {
      const stateAt = ir.state.findIndex((s) => s.name === node.name);
      v = params.map((p) => {
        switch (node.name) {
          case 'w': return p.w;
          case 'g': return p.g;
          case 'lr': return lr;
          case 'step': return step;
          case 'decay': return p.decay;
          // State the program reads is in ir.state; read-but-never-kept state cannot occur.
          default: return stateAt >= 0 ? p.state[stateAt] : tf.zerosLike(p.w);
        }
      });
    } else {
      const args = node.args.map((a) => values[a]);
      v = callOps(node.fn, args, params.length);
    }
    values.push(v);
  }
  return params.map((p, i) => {
    const broadcast = (x: Value): tf.Tensor => (typeof x === 'number' ? tf.fill(p.w.shape, x) : x.rank === 0 ? tf.broadcastTo(x, p.w.shape) : x);
    const update = values[ir.update][i];
    return { w: tf.sub(p.w, update), state: ir.state.map((s) => broadcast(values[s.out][i])) };
  });
}

function callOps(fn: string, args: Value[][], count: number): Value[] {
  const spec = functionSpec(fn)!;
  switch (spec.name) {
    case 'global_norm': {
      const n = tf.sqrt(sumOfProducts(args[0], args[0]));
      return args[0].map(() => n);
    }
    case 'dot': {
      const d = sumOfProducts(args[0], args[1]);
      return args[0].map(() => d);
    }
    case 'cosine_sim': {
      const d = sumOfProducts(args[0], args[1]);
      const c = tf.div(d, tf.mul(tf.sqrt(sumOfProducts(args[0], args[0])), tf.sqrt(sumOfProducts(args[1], args[1]))));
      return args[0].map(() => c);
    }
    case 'clip': {
      const n = tf.sqrt(sumOfProducts(args[0], args[0]));
      return args[0].map((x, i) => tf.mul(asTensor(x), tf.minimum(1, tf.div(args[1][i], n))));
    }
    case 'norm':
      return args[0].map((x) => tf.sqrt(tf.sum(tf.mul(asTensor(x), asTensor(x)))));
  }
  const f = TENSOR_FUNCTIONS[fn];
  const out: Value[] = [];
  for (let i = 0; i < count; i++) {
    const a = args.map((arg) => arg[i]);
    out.push(a.every((x) => typeof x === 'number') ? evaluateScalar(fn, a as number[]) : f(...a.map(asTensor)));
  }
  return out;
}
