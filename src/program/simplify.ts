/**
 * Dead-statement removal and constant folding (the paper's second use of abstract execution).
 *
 * A statement is live when its result reaches an output: `update`, or the final `m` / `v` when
 * the program reads that state (state that is written but never read is not carried, so a
 * statement that only feeds it is dead too, as in the paper's Program 8 → Lion).
 */
import { namesRead, num, STATE, type Expression, type Program, type StateName } from './ast.js';
import { CONSTANTS, evaluateScalar, functionSpec } from './functions.js';

export interface Liveness {
  /** live[i]: whether statement i reaches an output. */
  live: boolean[];
  /** State inputs the live program reads: these are kept between steps, in m, v order. */
  state: StateName[];
}

/** Which statements reach an output, and which state the program carries. */
export function liveness(program: Program): Liveness {
  let roots = new Set<string>(['update']);
  for (;;) {
    const needed = new Set(roots);
    const live = new Array<boolean>(program.statements.length).fill(false);
    for (let i = program.statements.length - 1; i >= 0; i--) {
      const s = program.statements[i];
      if (!needed.has(s.target)) continue;
      live[i] = true;
      needed.delete(s.target);
      for (const n of namesRead(s.value)) needed.add(n);
    }
    const state = STATE.filter((x) => needed.has(x));
    const next = new Set<string>(['update', ...state]);
    if (next.size === roots.size) return { live, state };
    roots = next;
  }
}

/** The program without its dead statements. */
export function removeDead(program: Program): Program {
  const { live } = liveness(program);
  return { statements: program.statements.filter((_, i) => live[i]) };
}

/**
 * Folds every elementwise call whose arguments are all constants (named constants included) into
 * a number, and propagates names assigned a constant into later reads. Results that are not
 * finite are left unfolded (they could not be printed back as a literal).
 */
export function foldConstants(program: Program): Program {
  const known = new Map<string, number>();
  const fold = (e: Expression): Expression => {
    if (e.kind === 'number') return e;
    if (e.kind === 'name') {
      const value = known.get(e.name) ?? CONSTANTS[e.name];
      return value === undefined ? e : num(value, e.pos);
    }
    const args = e.args.map(fold);
    const spec = functionSpec(e.fn);
    if (spec?.js && args.every((a) => a.kind === 'number')) {
      const value = evaluateScalar(e.fn, args.map((a) => (a as { value: number }).value));
      if (Number.isFinite(value)) return num(value, e.pos);
    }
    return { ...e, args };
  };
  const statements = program.statements.map((s) => {
    const value = fold(s.value);
    if (value.kind === 'number') known.set(s.target, value.value);
    else known.delete(s.target);
    return { ...s, value };
  });
  return { statements };
}

/** Constants folded, then dead statements removed: what `lion-train program simplify` prints. */
export function simplifyProgram(program: Program): Program {
  return removeDead(foldConstants(program));
}
