/** Prints a program back as text that parses to the same AST. */
import { INPUTS, type Expression, type Program } from './ast.js';
import { functionSpec } from './functions.js';

const LEVEL: Record<string, number> = { '+': 1, '-': 1, '*': 2, '/': 2 };

/** Shortest decimal text that reads back as the same float64. */
export function formatNumber(value: number): string {
  return Object.is(value, -0) ? '-0' : String(value);
}

/** An expression as source text, with the fewest parentheses that keep its meaning. */
export function printExpression(e: Expression, rename: (n: string) => string = (n) => n): string {
  const go = (x: Expression, parentLevel: number, rightOfSame: boolean): string => {
    if (x.kind === 'number') return formatNumber(x.value);
    if (x.kind === 'name') return rename(x.name);
    const spec = functionSpec(x.fn);
    if (spec?.infix && x.args.length === 2) {
      const level = LEVEL[spec.infix];
      const text = `${go(x.args[0], level, false)} ${spec.infix} ${go(x.args[1], level, true)}`;
      return level < parentLevel || (level === parentLevel && rightOfSame) ? `(${text})` : text;
    }
    return `${x.fn}(${x.args.map((a) => go(a, 0, false)).join(', ')})`;
  };
  return go(e, 0, false);
}

export interface PrintOptions {
  /** Rename locals to t1, t2, … in order of first assignment (inputs and outputs keep their names). */
  canonicalNames?: boolean;
}

/** The program as text, one statement per line, ending with a newline. */
export function printProgram(program: Program, options: PrintOptions = {}): string {
  const fixed = new Set<string>([...INPUTS, 'update', 'pi', 'e', 'eps']);
  const names = new Map<string, string>();
  const rename = (n: string): string => {
    if (!options.canonicalNames || fixed.has(n)) return n;
    let r = names.get(n);
    if (r === undefined) {
      r = `t${names.size + 1}`;
      names.set(n, r);
    }
    return r;
  };
  return program.statements.map((s) => `${rename(s.target)} = ${printExpression(s.value, rename)}\n`).join('');
}
