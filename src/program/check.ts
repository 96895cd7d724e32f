/**
 * Static checking of a parsed program, by abstract execution over types (the paper's first use of
 * abstract execution): each value is a scalar or a tensor of the parameter's shape, and every
 * statement is run on those types instead of arrays. Problems found, all reported together:
 * unknown functions (with a did-you-mean), wrong arity, a tensor where a scalar is required (or the
 * reverse), a name read before any assignment, more than two state variables, an assignment to a
 * constant, no `update` assigned.
 */
import { didYouMean } from '../config/suggest.js';
import { INPUTS, SCALAR_INPUTS, STATE, type Expression, type Program } from './ast.js';
import { CALLABLE_NAMES, CONSTANTS, functionSpec, type ValueType } from './functions.js';
import { parseProgram, ProgramError, type ProgramProblem } from './parse.js';

const ORDINALS = ['first', 'second', 'third', 'fourth'];

/** The type of every statement's target after it runs, and any problems. */
export interface CheckResult {
  problems: ProgramProblem[];
  /** types[i]: the type statement i assigns. */
  types: ValueType[];
}

/** Checks `program`; never throws. */
export function checkProgram(program: Program): CheckResult {
  const problems: ProgramProblem[] = [];
  const env = new Map<string, ValueType>();
  for (const input of INPUTS) env.set(input, SCALAR_INPUTS.has(input) ? 'scalar' : 'tensor');
  const assignedLater = new Set(program.statements.map((s) => s.target));
  const strayState: Array<{ name: string; line: number; column: number }> = [];
  const reported = new Set<string>();

  const typeOf = (e: Expression): ValueType | undefined => {
    if (e.kind === 'number') return 'scalar';
    if (e.kind === 'name') {
      if (e.name in CONSTANTS) return 'scalar';
      const t = env.get(e.name);
      if (t === undefined && !reported.has(e.name)) {
        reported.add(e.name);
        if (assignedLater.has(e.name)) strayState.push({ name: e.name, ...e.pos });
        else problems.push({ ...e.pos, message: `'${e.name}' is read before it is assigned${didYouMean(e.name, [...env.keys(), ...Object.keys(CONSTANTS)])}` });
      }
      return t;
    }
    const argTypes = e.args.map(typeOf);
    const spec = functionSpec(e.fn);
    if (spec === undefined) {
      problems.push({ ...e.pos, message: `unknown function '${e.fn}'${didYouMean(e.fn, CALLABLE_NAMES)}` });
      return undefined;
    }
    const signature = spec.infix ? `'${spec.infix}'` : `${spec.name}(${spec.params.join(', ')})`;
    if (e.args.length !== spec.args.length) {
      problems.push({ ...e.pos, message: `${signature} takes ${spec.args.length} argument${spec.args.length === 1 ? '' : 's'}, got ${e.args.length}` });
      return undefined;
    }
    let ok = true;
    spec.args.forEach((rule, i) => {
      const t = argTypes[i];
      if (rule === 'any' || t === undefined || t === rule) return;
      ok = false;
      problems.push({
        ...e.args[i].pos,
        message: `${signature}: the ${ORDINALS[i]} argument ${spec.params[i]} must be a ${rule}, got a ${t}`,
      });
    });
    if (!ok || argTypes.some((t) => t === undefined)) return undefined;
    if (spec.name === 'clip') return 'tensor';
    if (spec.kind !== 'elementwise') return 'scalar';
    return argTypes.includes('tensor') ? 'tensor' : 'scalar';
  };

  const types: ValueType[] = [];
  for (const s of program.statements) {
    const t = typeOf(s.value);
    if (s.target in CONSTANTS) {
      problems.push({ ...s.pos, message: `cannot assign to '${s.target}', a constant (${CONSTANTS[s.target]})` });
    }
    types.push(t ?? 'tensor');
    env.set(s.target, t ?? 'tensor');
  }

  if (strayState.length > 0) {
    const names = strayState.map((s) => s.name);
    const first = strayState[0];
    problems.push({
      line: first.line,
      column: first.column,
      message:
        `${names.map((n) => `'${n}'`).join(', ')} ${names.length === 1 ? 'is' : 'are'} read before ${names.length === 1 ? 'it is' : 'they are'} assigned: ` +
        `more than two state variables (only ${STATE.join(' and ')} carry values from one step to the next)`,
    });
  }
  if (!program.statements.some((s) => s.target === 'update')) {
    const last = program.statements[program.statements.length - 1];
    problems.push({ line: last?.pos.line ?? 1, column: 1, message: "no 'update' is assigned (the runner applies w ← w − update)" });
  }
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return { problems, types };
}

/** Parses and checks `text`: the program, or a `ProgramError` with every problem. */
export function checkedProgram(text: string): Program {
  const program = parseProgram(text);
  const { problems } = checkProgram(program);
  if (problems.length > 0) throw new ProgramError(problems);
  return program;
}
