// Every elementwise function of the language against its formula (written out here, independently
// of functions.ts) at edge values, through the tfjs ops on cpu and wasm and through the fused loop;
// the whole-model reductions against sums computed by hand over two parameters.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileFused, fillReductions } from '../../src/program/compile/fused.js';
import { runOps, TENSOR_FUNCTIONS } from '../../src/program/compile/ops.js';
import { buildIr, FUNCTIONS, parseProgram } from '../../src/program/index.js';
import { BACKENDS, useBackend } from '../optim/helpers.js';

const abs = Math.abs;
/** The documented formula of each elementwise function (README: Optimizer programs). */
const FORMULAS: Record<string, (x: number, y: number, a: number) => number> = {
  '+': (x, y) => x + y,
  '-': (x, y) => x - y,
  '*': (x, y) => x * y,
  '/': (x, y) => x / (y + 1e-8),
  power: (x, y) => (x === 1 || (x === -1 && abs(y) === Infinity) ? 1 : x ** y),
  maximum: (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : x > y ? x : y),
  minimum: (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : x < y ? x : y),
  abs: (x) => abs(x),
  negative: (x) => -x,
  sign: (x) => (Number.isNaN(x) ? NaN : x > 0 ? 1 : x < 0 ? -1 : 0),
  square: (x) => x * x,
  cube: (x) => x * x * x,
  sqrt: (x) => Math.sqrt(abs(x)),
  cbrt: (x) => Math.cbrt(x),
  reciprocal: (x) => 1 / x,
  exp: (x) => Math.exp(x),
  exp2: (x) => 2 ** x,
  exp10: (x) => 10 ** x,
  expm1: (x) => Math.expm1(x),
  log: (x) => Math.log(abs(x)),
  log2: (x) => Math.log2(abs(x)),
  log10: (x) => Math.log10(abs(x)),
  log1p: (x) => Math.log(abs(1 + x)),
  sin: (x) => Math.sin(x),
  cos: (x) => Math.cos(x),
  tan: (x) => Math.tan(x),
  arcsin: (x) => Math.asin(x),
  arccos: (x) => Math.acos(x),
  arctan: (x) => Math.atan(x),
  sinh: (x) => Math.sinh(x),
  cosh: (x) => Math.cosh(x),
  tanh: (x) => Math.tanh(x),
  arcsinh: (x) => Math.asinh(x),
  arccosh: (x) => Math.acosh(x),
  arctanh: (x) => Math.atanh(x),
  interp: (x, y, a) => (1 - a) * x + a * y,
};

// 0, negatives, ±1 (the edges of arcsin, arccosh, arctanh, log1p), small, huge, NaN.
const EDGES = [0, 1, -1, 0.5, -0.5, 2, -2.5, 3, 1e-20, 1e30, -1e30, NaN];
// Periodic functions lose all precision at 1e30 in float32 argument reduction: "huge" is 1000 there.
const PERIODIC = new Set(['sin', 'cos', 'tan']);
const edgesFor = (fn: string) => (PERIODIC.has(fn) ? EDGES.map((x) => (abs(x) === 1e30 ? Math.sign(x) * 1000 : x)) : EDGES);

const elementwise = FUNCTIONS.filter((f) => f.kind === 'elementwise');

function agrees(got: number, want: number): boolean {
  const w = Math.fround(want);
  if (Number.isNaN(w) || !Number.isFinite(w)) return Object.is(got, w) || (got === w);
  return abs(got - w) <= 1e-6 + 2e-5 * abs(w) || (abs(w) > 3e38 && !Number.isFinite(got));
}

/** Inputs x (as g), y (as w) and the weight a of every pair of edge values. */
function grid(fn: string): { xs: number[]; ys: number[] } {
  const values = edgesFor(fn).map(Math.fround);
  const arity = FUNCTIONS.find((f) => f.name === fn)!.params.length;
  const xs: number[] = [];
  const ys: number[] = [];
  for (const x of values) for (const y of arity === 1 ? [0] : values) {
    xs.push(x);
    ys.push(y);
  }
  return { xs, ys };
}

// `m = f(g, w)` after `update = m * 0`: m is state, so its new value is an output of both paths.
function programOf(fn: string): string {
  const spec = FUNCTIONS.find((f) => f.name === fn)!;
  const args = ['g', 'w', '0.25'].slice(0, spec.params.length);
  const call = spec.infix ? `g ${spec.infix} w` : `${fn}(${args.join(', ')})`;
  return `update = m * 0\nm = ${call}`;
}

it('has a tfjs form for every elementwise function and a formula for each in this test', () => {
  expect(Object.keys(TENSOR_FUNCTIONS).sort()).toEqual(elementwise.map((f) => f.name).sort());
  expect(Object.keys(FORMULAS).sort()).toEqual(elementwise.map((f) => f.name).sort());
});

describe.each(BACKENDS)('on the %s backend', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it.each(elementwise.map((f) => f.name))('%s follows its formula at edge values through tfjs ops', (fn) => {
    const { xs, ys } = grid(fn);
    const ir = buildIr(parseProgram(programOf(fn)));
    const got = tf.tidy(() => {
      const [out] = runOps(ir, [{ w: tf.tensor1d(ys), g: tf.tensor1d(xs), state: [tf.zeros([xs.length])], decay: 1 }], 1, 0);
      return out.state[0].dataSync();
    });
    const bad = xs.map((x, i) => ({ x, y: ys[i], got: got[i], want: FORMULAS[fn](x, ys[i], 0.25) })).filter((c) => !agrees(c.got, c.want));
    expect(bad).toEqual([]);
  });
});

it.each(elementwise.map((f) => f.name))('%s follows its formula at edge values through the fused loop', (fn) => {
  const { xs, ys } = grid(fn);
  const fused = compileFused(buildIr(parseProgram(programOf(fn))))!;
  const n = xs.length;
  const [mOut, wOut] = [new Float32Array(n), new Float32Array(n)];
  fused.main(Float32Array.from(ys), Float32Array.from(xs), new Float32Array(n), null, wOut, mOut, null, n, new Float64Array(fused.scalarCount));
  const bad = xs.map((x, i) => ({ x, y: ys[i], got: mOut[i], want: FORMULAS[fn](x, ys[i], 0.25) })).filter((c) => !agrees(c.got, c.want));
  expect(bad).toEqual([]);
});

describe('whole-model reductions over two parameters', () => {
  const g1 = [3, -4];
  const g2 = [[0, 12]];
  const w1 = [1, 2];
  const w2 = [[-2, 0.5]];
  const gg = 9 + 16 + 144; // Σg²
  const ww = 1 + 4 + 4 + 0.25;
  const gw = 3 - 8 + 0 + 6;
  const cases: Array<[string, string, (g: number, w: number) => number]> = [
    ['global_norm', 'm = g * 0 + global_norm(g)', () => Math.sqrt(gg)],
    ['dot', 'm = g * 0 + dot(g, w)', () => gw],
    ['cosine_sim', 'm = g * 0 + cosine_sim(g, w)', () => gw / (Math.sqrt(gg) * Math.sqrt(ww))],
    ['clip below the norm', 'm = clip(g, 6.5)', (g) => g * (6.5 / Math.sqrt(gg))],
    ['clip above the norm', 'm = clip(g, 100)', (g) => g],
  ];
  const flat = (a: number[] | number[][]) => a.flat();

  it.each(BACKENDS.flatMap((b) => cases.map((c) => [b, ...c] as const)))('%s: %s', async (backend, _label, body, want) => {
    await useBackend(backend);
    const ir = buildIr(parseProgram(`update = m * 0\n${body}`));
    const outs = tf.tidy(() =>
      runOps(ir, [
        { w: tf.tensor1d(w1), g: tf.tensor1d(g1), state: [tf.zeros([2])], decay: 1 },
        { w: tf.tensor2d(w2), g: tf.tensor2d(g2), state: [tf.zeros([1, 2])], decay: 1 },
      ], 1, 0).map((o) => Array.from(o.state[0].dataSync())),
    );
    const expected = [g1.map((g, i) => want(g, w1[i])), flat(g2).map((g, i) => want(g, flat(w2)[i]))];
    outs.forEach((o, p) => o.forEach((x, i) => expect(x).toBeCloseTo(expected[p][i], 5)));
  });

  it.each(cases)('%s through the fused loop (prelude sums, then main)', (_label, body, want) => {
    const fused = compileFused(buildIr(parseProgram(`update = m * 0\n${body}`)))!;
    const params = [
      { w: Float32Array.from(w1), g: Float32Array.from(g1) },
      { w: Float32Array.from(flat(w2)), g: Float32Array.from(flat(g2)) },
    ];
    const base = Float64Array.of(1, 0, 1);
    const sums = params.map((p) => fused.prelude(p.w, p.g, new Float32Array(2), null, 2, base));
    const global = sums.reduce((a, s) => a.map((x, k) => x + s[k]));
    params.forEach((p, k) => {
      const scalars = new Float64Array(fused.scalarCount);
      scalars.set(base);
      fillReductions(fused, sums[k], global, scalars);
      const mOut = new Float32Array(2);
      fused.main(p.w, p.g, new Float32Array(2), null, new Float32Array(2), mOut, null, 2, scalars);
      mOut.forEach((x, i) => expect(x).toBeCloseTo(want(p.g[i], p.w[i]), 5));
    });
  });

  it('norm reduces each parameter on its own', () => {
    const ir = buildIr(parseProgram('update = m * 0\nm = g * 0 + norm(g)'));
    const outs = tf.tidy(() =>
      runOps(ir, [
        { w: tf.tensor1d(w1), g: tf.tensor1d(g1), state: [tf.zeros([2])], decay: 1 },
        { w: tf.tensor2d(w2), g: tf.tensor2d(g2), state: [tf.zeros([1, 2])], decay: 1 },
      ], 1, 0).map((o) => Array.from(o.state[0].dataSync())),
    );
    expect(outs).toEqual([[5, 5], [12, 12]]);
  });
});
