/**
 * The program as a data-flow graph for the compilers: live statements only, constants folded,
 * each distinct computation once (value numbering), nodes in an order where arguments come first.
 */
import { SCALAR_INPUTS, type Expression, type InputName, type Program, type StateName } from './ast.js';
import { checkProgram } from './check.js';
import { functionSpec, type ValueType } from './functions.js';
import { ProgramError } from './parse.js';
import { liveness, simplifyProgram } from './simplify.js';

export type IrNode =
  | { op: 'input'; name: InputName; type: ValueType }
  | { op: 'const'; value: number; type: 'scalar' }
  | { op: 'call'; fn: string; args: number[]; type: ValueType };

export interface Ir {
  nodes: IrNode[];
  /** Node of the final `update`. */
  update: number;
  /** State carried between steps (read by the program), with the node of its new value. */
  state: Array<{ name: StateName; out: number }>;
}

/** Builds the graph of a checked program (throws a `ProgramError` if it does not check). */
export function buildIr(program: Program): Ir {
  const { problems } = checkProgram(program);
  if (problems.length > 0) throw new ProgramError(problems);
  const simplified = simplifyProgram(program);
  const nodes: IrNode[] = [];
  const memo = new Map<string, number>();
  const add = (key: string, node: IrNode): number => {
    let id = memo.get(key);
    if (id === undefined) {
      id = nodes.push(node) - 1;
      memo.set(key, id);
    }
    return id;
  };
  const env = new Map<string, number>();
  const input = (name: InputName): number =>
    add(`in:${name}`, { op: 'input', name, type: SCALAR_INPUTS.has(name) ? 'scalar' : 'tensor' });
  const lower = (e: Expression): number => {
    if (e.kind === 'number') return add(`n:${e.value}`, { op: 'const', value: e.value, type: 'scalar' });
    if (e.kind === 'name') return env.get(e.name) ?? input(e.name as InputName);
    const args = e.args.map(lower);
    const spec = functionSpec(e.fn)!;
    const type: ValueType =
      spec.name === 'clip' ? 'tensor' : spec.kind !== 'elementwise' ? 'scalar' : args.some((a) => nodes[a].type === 'tensor') ? 'tensor' : 'scalar';
    return add(`${e.fn}(${args.join(',')})`, { op: 'call', fn: e.fn, args, type });
  };
  for (const s of simplified.statements) env.set(s.target, lower(s.value));
  const value = (n: string): number => env.get(n) ?? input(n as InputName);
  return {
    nodes,
    update: value('update'),
    state: liveness(simplified).state.map((name) => ({ name, out: value(name) })),
  };
}
