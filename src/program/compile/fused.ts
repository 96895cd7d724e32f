/**
 * Compiles a program graph (ir.ts) into JS functions that run the whole update as loops over
 * Float32Arrays (the cpu and wasm backends hold tensors as such arrays), generated as source and
 * built with `new Function`, so V8 compiles each program's loop like hand-written code.
 *
 * Whole-model reductions are computed first: `prelude` makes one pass over a parameter's arrays
 * and returns the sums the reductions need (Σx², Σxy), the caller adds them over all parameters
 * (or keeps them per tensor for `norm`) and turns them into the reduction values, which `main`
 * then reads as scalars while it computes the elementwise statements and writes the new
 * parameter and state in one pass. A program whose reduction reads another reduction's result
 * cannot be split this way: `compileFused` returns null and the caller takes the tfjs-op path.
 *
 * Arithmetic is float64 on float32 inputs, rounded to float32 when stored.
 */
import { CONSTANTS, functionSpec, signOf } from '../functions.js';
import type { Ir, IrNode } from '../ir.js';

/** Index of the base scalars in the `scalars` array that `main` and `prelude` take. */
export const SCALAR_SLOTS = { lr: 0, step: 1, decay: 2 } as const;
const FIRST_REDUCTION_SLOT = 3;

/** One reduction of the program: how its value comes from the prelude's sums. */
export interface FusedReduction {
  fn: 'global_norm' | 'norm' | 'dot' | 'cosine_sim' | 'clip';
  /** Indices into the sums array: [Σx²] ; dot: [Σxy] ; cosine_sim: [Σxy, Σx², Σy²]. */
  sums: number[];
  /** Slot of its value in `scalars` (clip: the global norm of its first argument). */
  slot: number;
}

type Arrays = Float32Array | null;

export interface FusedProgram {
  /** Number of sums `prelude` returns (0: no reductions, no prelude pass). */
  sumCount: number;
  reductions: FusedReduction[];
  /** Size of the `scalars` array `main` takes: lr, step, decay, then one slot per reduction. */
  scalarCount: number;
  prelude(w: Float32Array, g: Float32Array, m: Arrays, v: Arrays, n: number, scalars: Float64Array): Float64Array;
  /** Writes w − update into wOut and the new state into mOut / vOut (those the program carries). */
  main(
    w: Float32Array, g: Float32Array, m: Arrays, v: Arrays,
    wOut: Float32Array, mOut: Arrays, vOut: Arrays, n: number, scalars: Float64Array,
  ): void;
  /** The generated source of both functions (for tests and curiosity). */
  source: string;
}

/**
 * The value of each reduction from the sums: `perTensor` the sums of this parameter, `global`
 * the sums over all parameters. Writes into `scalars` at each reduction's slot.
 */
export function fillReductions(p: FusedProgram, perTensor: Float64Array, global: Float64Array, scalars: Float64Array): void {
  for (const r of p.reductions) {
    const s = r.fn === 'norm' ? perTensor : global;
    scalars[r.slot] =
      r.fn === 'dot' ? s[r.sums[0]] : r.fn === 'cosine_sim' ? s[r.sums[0]] / (Math.sqrt(s[r.sums[1]]) * Math.sqrt(s[r.sums[2]])) : Math.sqrt(s[r.sums[0]]);
  }
}

const ARRAY_OF: Record<string, string> = { w: 'W', g: 'G', m: 'M', v: 'V' };

const literal = (v: number): string => (Number.isFinite(v) ? `(${String(v)})` : String(v));

/** The fused form of `ir`, or null when a reduction depends on another reduction. */
export function compileFused(ir: Ir): FusedProgram | null {
  const { nodes } = ir;
  const isReduction = (n: IrNode): boolean => n.op === 'call' && functionSpec(n.fn)!.kind !== 'elementwise';
  // Whether a node's value depends on a reduction.
  const afterReduction = nodes.map(() => false);
  nodes.forEach((n, i) => {
    afterReduction[i] = isReduction(n) || (n.op === 'call' && n.args.some((a) => afterReduction[a]));
  });

  const reductions: FusedReduction[] = [];
  const slotOf = new Map<number, number>();
  const sumPairs: Array<[number, number]> = [];
  const sumIndex = (a: number, b: number): number => {
    const found = sumPairs.findIndex(([x, y]) => (x === a && y === b) || (x === b && y === a));
    return found >= 0 ? found : sumPairs.push([a, b]) - 1;
  };
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i];
    if (n.op !== 'call' || !isReduction(n)) continue;
    const tensorArgs = n.fn === 'clip' ? [n.args[0]] : n.args;
    if (tensorArgs.some((a) => afterReduction[a])) return null;
    const fn = n.fn as FusedReduction['fn'];
    const [x, y] = n.args;
    const sums = fn === 'dot' ? [sumIndex(x, y)] : fn === 'cosine_sim' ? [sumIndex(x, y), sumIndex(x, x), sumIndex(y, y)] : [sumIndex(x, x)];
    const slot = FIRST_REDUCTION_SLOT + reductions.length;
    reductions.push({ fn, sums, slot });
    slotOf.set(i, slot);
  }

  // Expression text of node i (scalars and tensors alike are named constants in the code).
  const ref = (i: number): string => `n${i}`;
  const define = (i: number): string => {
    const n = nodes[i];
    if (n.op === 'const') return literal(n.value);
    if (n.op === 'input') return n.type === 'scalar' ? `S[${SCALAR_SLOTS[n.name as keyof typeof SCALAR_SLOTS]}]` : `${ARRAY_OF[n.name]}[i]`;
    if (n.fn === 'clip') return `(${ref(n.args[0])} * c${i})`;
    if (isReduction(n)) return `S[${slotOf.get(i)}]`;
    return functionSpec(n.fn)!.js!(...n.args.map(ref));
  };
  // Nodes needed to compute `roots`, not descending into reductions' arguments (except clip's
  // scaled tensor and threshold, which `main` uses elementwise).
  const cone = (roots: number[]): boolean[] => {
    const need = nodes.map(() => false);
    const visit = (i: number): void => {
      if (need[i]) return;
      need[i] = true;
      const n = nodes[i];
      if (n.op !== 'call') return;
      if (isReduction(n) && n.fn !== 'clip') return;
      n.args.forEach(visit);
    };
    roots.forEach(visit);
    return need;
  };
  const emit = (need: boolean[]): { hoisted: string[]; loop: string[] } => {
    const hoisted: string[] = [];
    const loop: string[] = [];
    nodes.forEach((n, i) => {
      if (!need[i]) return;
      if (n.op === 'call' && n.fn === 'clip') hoisted.push(`const c${i} = Math.min(1, ${ref(n.args[1])} / S[${slotOf.get(i)}]);`);
      (n.type === 'scalar' ? hoisted : loop).push(`const ${ref(i)} = ${define(i)};`);
    });
    return { hoisted, loop };
  };

  const outputs = [ir.update, ...ir.state.map((s) => s.out)];
  const main = emit(cone(outputs));
  const writes = [`Wo[i] = W[i] - ${ref(ir.update)};`, ...ir.state.map((s) => `${s.name === 'm' ? 'Mo' : 'Vo'}[i] = ${ref(s.out)};`)];
  const mainSource = [
    '(W, G, M, V, Wo, Mo, Vo, n, S) => {',
    ...main.hoisted,
    'for (let i = 0; i < n; i++) {',
    ...main.loop,
    ...writes,
    '}',
    '}',
  ].join('\n');

  // The prelude computes the reductions' tensor arguments (none depends on a reduction).
  const preludeNeed = cone(sumPairs.flat());
  const pre = emit(preludeNeed);
  const preludeSource = [
    '(W, G, M, V, n, S) => {',
    ...pre.hoisted,
    ...sumPairs.map((_, k) => `let s${k} = 0;`),
    'for (let i = 0; i < n; i++) {',
    ...pre.loop,
    ...sumPairs.map(([a, b], k) => `s${k} += ${ref(a)} * ${ref(b)};`),
    '}',
    `return Float64Array.of(${sumPairs.map((_, k) => `s${k}`).join(', ')});`,
    '}',
  ].join('\n');
  const source = `const prelude = ${preludeSource};\nconst main = ${mainSource};`;
  const build = new Function('signOf', 'CONSTANTS', `'use strict';\n${source}\nreturn { prelude, main };`);
  const built = build(signOf, CONSTANTS) as Pick<FusedProgram, 'prelude' | 'main'>;
  return {
    sumCount: sumPairs.length,
    reductions,
    scalarCount: FIRST_REDUCTION_SLOT + reductions.length,
    prelude: built.prelude,
    main: built.main,
    source,
  };
}
