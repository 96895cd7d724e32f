/**
 * Mutation of optimizer programs, as in the search that found Lion (Chen et al. 2023, section 2;
 * google/automl `hero/core.py`: `random_insert`, `random_delete`, `random_modify`, `Atom.mutate`):
 *
 * - insert: a new statement `target = f(args…)` at a random place; `f` from the whole function table,
 *   each argument a name readable there with the type the function needs, or a new constant ~ N(0, 1);
 *   the target an output (`update`, `m`, `v`), a local already assigned, or a fresh local;
 * - delete: one statement removed;
 * - modify: one argument changed: a name to another readable name of the same type, a constant c to
 *   c · 2^(s·N(0, 1)) (s = `constantScale`, the paper's s = 1), bounded to ±1e10 as the reference does.
 *
 * The kind is drawn by its weight and the whole mutation retried until the child passes static checking
 * and computes something else than its parent (a different structural hash): every child is a program
 * the runner can train, and none is a disguised copy.
 */
import { call, type Expression, INPUTS, name, num, type Program, SCALAR_INPUTS, type Statement } from '../program/ast.js';
import { checkProgram } from '../program/check.js';
import { FUNCTIONS, type ValueType } from '../program/functions.js';
import { programHash } from '../program/hash.js';
import { printExpression } from '../program/print.js';
import type { Rng } from '../random.js';

export type MutationKind = 'insert' | 'delete' | 'modify';

export interface MutationSettings {
  /** Relative weights of the three kinds (the paper: equal). */
  weights: Record<MutationKind, number>;
  /** s in c · 2^(s·N(0,1)) for a constant's change. */
  constantScale: number;
  /** No insertion makes a program longer than this (deletions and modifications still apply). */
  maxStatements: number;
  /** Mutations tried before giving up on a parent (each is checked statically, in microseconds). */
  maxAttempts: number;
}

export const DEFAULT_MUTATION: MutationSettings = {
  weights: { insert: 1, delete: 1, modify: 1 },
  constantScale: 1,
  maxStatements: 20,
  maxAttempts: 200,
};

/** The reference bounds mutated constants to ±MAX_FLOAT (hero/core.py). */
const MAX_CONSTANT = 1e10;
/** Chance that an argument of an inserted call is a new constant rather than a name. */
const NEW_CONSTANT_CHANCE = 0.2;
const OUTPUTS = ['update', 'm', 'v'];

/**
 * A mutated copy of `parent` that passes static checking and hashes differently.
 * @returns the child and a one-line description (`insert line 3: t1 = sqrt(v)`).
 * @throws Error when no valid mutation was found in `maxAttempts` tries (a degenerate parent).
 */
export function mutateProgram(parent: Program, rng: Rng, settings: MutationSettings = DEFAULT_MUTATION): { child: Program; mutation: string } {
  const parentHash = programHash(parent);
  const types = checkProgram(parent).types;
  for (let attempt = 0; attempt < settings.maxAttempts; attempt++) {
    const kind = drawKind(rng, settings, parent.statements.length);
    const tried = kind === 'insert' ? insert(parent, types, rng) : kind === 'delete' ? remove(parent, rng) : modify(parent, types, rng, settings.constantScale);
    if (!tried) continue;
    if (checkProgram(tried.child).problems.length > 0) continue;
    if (programHash(tried.child) === parentHash) continue;
    return tried;
  }
  throw new Error(`no valid mutation found in ${settings.maxAttempts} attempts`);
}

function drawKind(rng: Rng, settings: MutationSettings, length: number): MutationKind {
  const weights = { ...settings.weights };
  if (length >= settings.maxStatements) weights.insert = 0;
  if (length <= 1) weights.delete = 0;
  const total = weights.insert + weights.delete + weights.modify;
  if (total <= 0) throw new Error('every mutation kind has weight 0 for this program');
  let draw = rng.next() * total;
  for (const kind of ['insert', 'delete', 'modify'] as const) {
    draw -= weights[kind];
    if (draw < 0) return kind;
  }
  return 'modify';
}

/** Names readable before statement `index`, with their types. */
function visibleAt(program: Program, types: ValueType[], index: number): Map<string, ValueType> {
  const visible = new Map<string, ValueType>();
  for (const input of INPUTS) visible.set(input, SCALAR_INPUTS.has(input) ? 'scalar' : 'tensor');
  program.statements.slice(0, index).forEach((s, i) => visible.set(s.target, types[i] ?? 'tensor'));
  return visible;
}

function insert(parent: Program, types: ValueType[], rng: Rng): { child: Program; mutation: string } | null {
  const index = rng.int(parent.statements.length + 1);
  const visible = visibleAt(parent, types, index);
  const spec = FUNCTIONS[rng.int(FUNCTIONS.length)];
  const args: Expression[] = [];
  for (const rule of spec.args) {
    const names = [...visible].filter(([, t]) => rule === 'any' || t === rule).map(([n]) => n);
    const constantAllowed = rule !== 'tensor';
    if (names.length === 0 && !constantAllowed) return null;
    if (constantAllowed && (names.length === 0 || rng.next() < NEW_CONSTANT_CHANCE)) args.push(num(roundConstant(rng.normal())));
    else args.push(name(names[rng.int(names.length)]));
  }
  const targets = [...new Set([...OUTPUTS, ...parent.statements.map((s) => s.target).filter((t) => !OUTPUTS.includes(t))]), freshLocal(parent)];
  const target = targets[rng.int(targets.length)];
  const statement: Statement = { target, pos: { line: 0, column: 0 }, value: call(spec.name, args) };
  const statements = [...parent.statements.slice(0, index), statement, ...parent.statements.slice(index)];
  return { child: { statements }, mutation: `insert line ${index + 1}: ${target} = ${printExpression(statement.value)}` };
}

function remove(parent: Program, rng: Rng): { child: Program; mutation: string } | null {
  if (parent.statements.length <= 1) return null;
  const index = rng.int(parent.statements.length);
  const removed = parent.statements[index];
  const statements = parent.statements.filter((_, i) => i !== index);
  return { child: { statements }, mutation: `delete line ${index + 1}: ${removed.target} = ${printExpression(removed.value)}` };
}

/** A leaf of a statement's expression: where it is, so it can be replaced. */
interface Leaf {
  statement: number;
  node: Expression;
  replace: (statement: Statement, next: Expression) => Statement;
}

function leavesOf(program: Program): Leaf[] {
  const leaves: Leaf[] = [];
  program.statements.forEach((s, statement) => {
    const walk = (e: Expression, rebuild: (next: Expression) => Expression) => {
      if (e.kind !== 'call') {
        leaves.push({ statement, node: e, replace: (st, next) => ({ ...st, value: rebuild(next) }) });
        return;
      }
      e.args.forEach((arg, i) => walk(arg, (next) => rebuild({ ...e, args: e.args.map((a, j) => (j === i ? next : a)) })));
    };
    walk(s.value, (next) => next);
  });
  return leaves;
}

function modify(parent: Program, types: ValueType[], rng: Rng, constantScale: number): { child: Program; mutation: string } | null {
  const leaves = leavesOf(parent);
  if (leaves.length === 0) return null;
  const leaf = leaves[rng.int(leaves.length)];
  let next: Expression;
  if (leaf.node.kind === 'number') {
    const value = leaf.node.value * 2 ** (constantScale * rng.normal());
    next = num(roundConstant(Math.max(-MAX_CONSTANT, Math.min(MAX_CONSTANT, value))));
  } else if (leaf.node.kind === 'name') {
    const current = leaf.node.name;
    const visible = visibleAt(parent, types, leaf.statement);
    const type = visible.get(current);
    const others = [...visible].filter(([n, t]) => n !== current && t === type).map(([n]) => n);
    if (others.length === 0) return null;
    next = name(others[rng.int(others.length)]);
  } else {
    return null;
  }
  const statements = parent.statements.map((s, i) => (i === leaf.statement ? leaf.replace(s, next) : s));
  const before = printExpression(leaf.node);
  return { child: { statements }, mutation: `modify line ${leaf.statement + 1}: ${before} → ${printExpression(next)}` };
}

/** The first `t1`, `t2`, … not used in the program. */
function freshLocal(program: Program): string {
  const used = new Set(program.statements.map((s) => s.target));
  for (let k = 1; ; k++) if (!used.has(`t${k}`)) return `t${k}`;
}

/** Constants keep 4 significant digits, so a program's text (what history.jsonl stores) is its value. */
function roundConstant(value: number): number {
  return Number(value.toPrecision(4));
}

