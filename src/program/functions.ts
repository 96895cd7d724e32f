/**
 * The function set of the optimizer-program language: ONE table with each function's arity,
 * argument rules, result, formula and numeric guard, and the JS source template that both the
 * scalar evaluator (constant folding, scalar statements) and the fused loop (compile/fused.ts)
 * use, so the two can never disagree. The tfjs implementation of each entry is in
 * compile/ops.ts (a test checks that both cover the same names).
 *
 * Sources: Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", arXiv:2302.06675,
 * appendix "Available Functions"; google/automl `hero/fn_lib.py` (the functions) and `hero/core.py`
 * (`+ - * /`, `max`, `min`). Guards follow the reference:
 * - `log`, `log2`, `log10` and `sqrt` take |x| (fn_lib's `nonneg`), `log1p(x)` is log|1 + x|;
 * - `x / y` is x / (y + 1e-8) (core.py's `tree_div`), so y = 0 gives x·1e8, not ±inf;
 * - everything else is the plain IEEE function: `reciprocal(0)` is inf, `arcsin(2)` is NaN, NaN in
 *   gives NaN out (`sign(NaN)` too).
 * Where the reference code disagrees with the paper, the paper is followed: fn_lib's `cbrt` returns
 * the function `jnp.cbrt` rather than a value (a bug); here it is the real cube root. fn_lib's
 * `interpolate` checks its FIRST argument for a scalar, the paper's `interp(x, y, a)` needs the
 * weight `a` (the third) to be one; here the third must be a scalar.
 */

/** Static type of a value: one number, or a tensor of the parameter's shape. */
export type ValueType = 'scalar' | 'tensor';

/** What an argument must be: anything, a scalar, or a tensor. */
export type ArgRule = 'any' | 'scalar' | 'tensor';

/**
 * - `elementwise`: applied element by element, scalars broadcast; result is a tensor if any
 *   argument is one.
 * - `global`: reduces over ALL parameters of the model at once (as the reference's pytree
 *   functions do); result a scalar, except `clip`, which returns its first argument scaled.
 * - `tensor`: reduces one parameter tensor (`norm`).
 */
export type FunctionKind = 'elementwise' | 'global' | 'tensor';

export interface FunctionSpec {
  name: string;
  /** Argument names, for messages (`interp(x, y, a)`). */
  params: readonly string[];
  args: readonly ArgRule[];
  kind: FunctionKind;
  /** The maths, as the README prints it. */
  formula: string;
  /** Behaviour at 0, negatives, overflow (empty: none beyond IEEE). */
  guard: string;
  /** Infix symbol for + - * / (printed between its two arguments). */
  infix?: string;
  /** Whether f(a, b) = f(b, a) exactly (used by the structural hash). */
  commutative?: boolean;
  /** JS expression source, from the sources of its arguments (elementwise functions only). */
  js?: (...a: string[]) => string;
}

/** The `/` guard of core.py's tree_div. */
export const DIVISION_EPSILON = 1e-8;

const unary = (name: string, formula: string, js: (x: string) => string, guard = ''): FunctionSpec => ({
  name,
  params: ['x'],
  args: ['any'],
  kind: 'elementwise',
  formula,
  guard,
  js,
});

const binary = (
  name: string,
  formula: string,
  js: (x: string, y: string) => string,
  extra: Partial<FunctionSpec> = {},
): FunctionSpec => ({ name, params: ['x', 'y'], args: ['any', 'any'], kind: 'elementwise', formula, guard: '', js, ...extra });

/** Every function of the language, in the order the README lists them. */
export const FUNCTIONS: readonly FunctionSpec[] = [
  binary('+', 'x + y', (x, y) => `(${x} + ${y})`, { infix: '+', commutative: true }),
  binary('-', 'x − y', (x, y) => `(${x} - ${y})`, { infix: '-' }),
  binary('*', 'x · y', (x, y) => `(${x} * ${y})`, { infix: '*', commutative: true }),
  binary('/', 'x / (y + 1e-8)', (x, y) => `(${x} / (${y} + ${DIVISION_EPSILON}))`, {
    infix: '/',
    guard: 'y = 0 gives x·1e8; y = −1e-8 gives ±inf',
  }),
  binary('power', 'x^y', (x, y) => `Math.pow(${x}, ${y})`, { guard: 'negative x with non-integer y: NaN; 0^negative: inf' }),
  binary('maximum', 'max(x, y)', (x, y) => `Math.max(${x}, ${y})`, { commutative: true, guard: 'NaN if either is NaN' }),
  binary('minimum', 'min(x, y)', (x, y) => `Math.min(${x}, ${y})`, { commutative: true, guard: 'NaN if either is NaN' }),
  unary('abs', '|x|', (x) => `Math.abs(${x})`),
  unary('negative', '−x', (x) => `(-${x})`),
  unary('sign', 'sign(x) ∈ {−1, 0, 1}', (x) => `signOf(${x})`, 'sign(0) = 0, sign(NaN) = NaN'),
  unary('square', 'x²', (x) => `(${x} * ${x})`),
  unary('cube', 'x³', (x) => `(${x} * ${x} * ${x})`),
  unary('sqrt', '√|x|', (x) => `Math.sqrt(Math.abs(${x}))`, 'takes |x|: sqrt(−4) = 2'),
  unary('cbrt', '∛x', (x) => `Math.cbrt(${x})`, 'real cube root: cbrt(−8) = −2 (fn_lib returns the function: a bug)'),
  unary('reciprocal', '1 / x', (x) => `(1 / ${x})`, 'reciprocal(0) = inf (no guard)'),
  unary('exp', 'eˣ', (x) => `Math.exp(${x})`, 'overflows to inf above ~88.7 in float32'),
  unary('exp2', '2ˣ', (x) => `Math.pow(2, ${x})`),
  unary('exp10', '10ˣ', (x) => `Math.pow(10, ${x})`),
  unary('expm1', 'eˣ − 1', (x) => `Math.expm1(${x})`),
  unary('log', 'ln|x|', (x) => `Math.log(Math.abs(${x}))`, 'takes |x|; log(0) = −inf'),
  unary('log2', 'log₂|x|', (x) => `Math.log2(Math.abs(${x}))`, 'takes |x|; log2(0) = −inf'),
  unary('log10', 'log₁₀|x|', (x) => `Math.log10(Math.abs(${x}))`, 'takes |x|; log10(0) = −inf'),
  unary('log1p', 'ln|1 + x|', (x) => `Math.log(Math.abs(1 + ${x}))`, 'takes |1 + x|; log1p(−1) = −inf'),
  unary('sin', 'sin x', (x) => `Math.sin(${x})`),
  unary('cos', 'cos x', (x) => `Math.cos(${x})`),
  unary('tan', 'tan x', (x) => `Math.tan(${x})`),
  unary('arcsin', 'asin x', (x) => `Math.asin(${x})`, 'NaN outside [−1, 1]'),
  unary('arccos', 'acos x', (x) => `Math.acos(${x})`, 'NaN outside [−1, 1]'),
  unary('arctan', 'atan x', (x) => `Math.atan(${x})`),
  unary('sinh', 'sinh x', (x) => `Math.sinh(${x})`),
  unary('cosh', 'cosh x', (x) => `Math.cosh(${x})`),
  unary('tanh', 'tanh x', (x) => `Math.tanh(${x})`),
  unary('arcsinh', 'asinh x', (x) => `Math.asinh(${x})`),
  unary('arccosh', 'acosh x', (x) => `Math.acosh(${x})`, 'NaN below 1'),
  unary('arctanh', 'atanh x', (x) => `Math.atanh(${x})`, '±inf at ±1, NaN outside [−1, 1]'),
  {
    name: 'interp',
    params: ['x', 'y', 'a'],
    args: ['any', 'any', 'scalar'],
    kind: 'elementwise',
    formula: '(1 − a)·x + a·y',
    guard: 'a must be a scalar (the paper; fn_lib checks x instead)',
    js: (x, y, a) => `((1 - ${a}) * ${x} + ${a} * ${y})`,
  },
  {
    name: 'norm',
    params: ['x'],
    args: ['tensor'],
    kind: 'tensor',
    formula: '√(Σ x²) over this parameter tensor',
    guard: '',
  },
  {
    name: 'global_norm',
    params: ['x'],
    args: ['tensor'],
    kind: 'global',
    formula: '√(Σ x²) over all parameters',
    guard: '',
  },
  {
    name: 'dot',
    params: ['x', 'y'],
    args: ['tensor', 'tensor'],
    kind: 'global',
    formula: 'Σ x·y over all parameters',
    guard: '',
    commutative: true,
  },
  {
    name: 'cosine_sim',
    params: ['x', 'y'],
    args: ['tensor', 'tensor'],
    kind: 'global',
    formula: 'dot(x, y) / (global_norm(x) · global_norm(y))',
    guard: 'a zero norm gives NaN (no guard)',
    commutative: true,
  },
  {
    name: 'clip',
    params: ['x', 'c'],
    args: ['tensor', 'scalar'],
    kind: 'global',
    formula: 'x · min(1, c / global_norm(x))',
    guard: 'global_norm(x) = 0 leaves x as is',
  },
];

/** Named constants (the reference's zero-argument functions get_pi, get_e, get_eps). */
export const CONSTANTS: Readonly<Record<string, number>> = { pi: Math.PI, e: Math.E, eps: 1e-8 };

const byName = new Map(FUNCTIONS.map((f) => [f.name, f]));

/** The function called `name`, or undefined. */
export function functionSpec(name: string): FunctionSpec | undefined {
  return byName.get(name);
}

/** Names a program may call (not the infix operators). */
export const CALLABLE_NAMES: readonly string[] = FUNCTIONS.filter((f) => f.infix === undefined).map((f) => f.name);

/** sign with sign(0) = 0 and sign(NaN) = NaN; the fused loop and the scalar evaluator use it. */
export function signOf(x: number): number {
  return x !== x ? x : Number(x > 0) - Number(x < 0);
}

type ScalarFn = (...args: number[]) => number;

const scalarFns = new Map<string, ScalarFn>();
for (const f of FUNCTIONS) {
  if (f.js === undefined) continue;
  const params = f.params.map((_, i) => `a${i}`);
  // Built from the same template as the fused loop, so folding and the loop agree bit for bit.
  scalarFns.set(f.name, new Function('signOf', `return (${params.join(', ')}) => ${f.js(...params)};`)(signOf) as ScalarFn);
}

/**
 * Evaluates an elementwise function on numbers, in float64, exactly as the fused loop does.
 * Throws for a reduction or an unknown name (the checker rules both out first).
 */
export function evaluateScalar(name: string, args: readonly number[]): number {
  const fn = scalarFns.get(name);
  if (fn === undefined) throw new Error(`program: ${name} is not an elementwise function`);
  return fn(...args);
}
