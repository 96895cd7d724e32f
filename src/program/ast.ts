/**
 * The optimizer-program AST: a program is a list of assignments `target = expression`, and an
 * expression is one of three node kinds (as in google/automl hero/core.py: Atom, Symbol, FunCall):
 * a number, a name, or a call (the infix operators + - * / are calls too). Every node keeps its
 * position in the program text (1-based line and column) for located errors.
 */

export interface Position {
  /** 1-based line in the program text. */
  line: number;
  /** 1-based column in that line. */
  column: number;
}

/** A numeric constant. */
export interface NumberNode {
  kind: 'number';
  value: number;
  pos: Position;
}

/** A variable or a named constant (`pi`, `e`, `eps`). */
export interface NameNode {
  kind: 'name';
  name: string;
  pos: Position;
}

/** A function call; `x + y` is `{ fn: '+', args: [x, y] }`. */
export interface CallNode {
  kind: 'call';
  fn: string;
  args: Expression[];
  pos: Position;
}

export type Expression = NumberNode | NameNode | CallNode;

export interface Statement {
  target: string;
  /** Position of the target name. */
  pos: Position;
  value: Expression;
}

export interface Program {
  statements: Statement[];
}

/** Inputs every program may read; `m` and `v` are state (zeros at first). */
export const INPUTS = ['w', 'g', 'lr', 'm', 'v', 'step', 'decay'] as const;
export type InputName = (typeof INPUTS)[number];

/** The state variables, carried from one step to the next (at most these two, as in the paper). */
export const STATE = ['m', 'v'] as const;
export type StateName = (typeof STATE)[number];

/** Inputs that are scalars; the rest are tensors of the parameter's shape. */
export const SCALAR_INPUTS: ReadonlySet<string> = new Set(['lr', 'step', 'decay']);

export const num = (value: number, pos: Position = { line: 0, column: 0 }): NumberNode => ({ kind: 'number', value, pos });
export const name = (n: string, pos: Position = { line: 0, column: 0 }): NameNode => ({ kind: 'name', name: n, pos });
export const call = (fn: string, args: Expression[], pos: Position = { line: 0, column: 0 }): CallNode => ({
  kind: 'call',
  fn,
  args,
  pos,
});

/** Names an expression reads, in order of appearance (duplicates kept). */
export function namesRead(e: Expression, out: string[] = []): string[] {
  if (e.kind === 'name') out.push(e.name);
  else if (e.kind === 'call') for (const a of e.args) namesRead(a, out);
  return out;
}
