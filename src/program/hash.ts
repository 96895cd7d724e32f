/**
 * The structural hash of a program (the paper's third use of abstract execution): the program is
 * executed on hashes instead of arrays, after constant folding and dead-statement removal, so
 * two programs that compute the same values the same way hash alike whatever their local names
 * and dead statements; constants are part of the hash. Arguments of commutative functions are
 * sorted, and the two state variables are interchangeable (the smaller of both assignments).
 */
import { createHash } from 'node:crypto';
import type { Expression, Program } from './ast.js';
import { functionSpec } from './functions.js';
import { formatNumber } from './print.js';
import { liveness, simplifyProgram } from './simplify.js';

const digest = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

function hashWith(program: Program, stateLabels: Record<'m' | 'v', string>): string {
  const env = new Map<string, string>();
  for (const input of ['w', 'g', 'lr', 'step', 'decay']) env.set(input, `in:${input}`);
  env.set('m', `state:${stateLabels.m}`);
  env.set('v', `state:${stateLabels.v}`);
  const hashOf = (e: Expression): string => {
    if (e.kind === 'number') return `n:${formatNumber(e.value)}`;
    if (e.kind === 'name') return env.get(e.name) ?? `free:${e.name}`;
    const args = e.args.map(hashOf);
    if (functionSpec(e.fn)?.commutative) args.sort();
    return digest(`${e.fn}(${args.join(',')})`);
  };
  for (const s of program.statements) env.set(s.target, hashOf(s.value));
  const outputs = [`update=${env.get('update')}`];
  for (const s of liveness(program).state) outputs.push(`${stateLabels[s]}=${env.get(s)}`);
  return outputs.sort().join(';');
}

/** A 16-hex-digit hash of what the program computes (see the module comment). */
export function programHash(program: Program): string {
  const simplified = simplifyProgram(program);
  const a = hashWith(simplified, { m: 'A', v: 'B' });
  const b = hashWith(simplified, { m: 'B', v: 'A' });
  return digest(a < b ? a : b);
}
