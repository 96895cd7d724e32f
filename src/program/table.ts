/** The function table of the README, generated from functions.ts (a test checks the README holds it). */
import { FUNCTIONS } from './functions.js';

const KIND: Record<string, string> = { elementwise: 'elementwise', global: 'whole model', tensor: 'per tensor' };

/** One Markdown row per function: call, arguments, reach, formula, guard. */
export function functionTableRows(): string[] {
  return FUNCTIONS.map((f) => {
    const call = f.infix ? `x ${f.infix} y` : `${f.name}(${f.params.join(', ')})`;
    const args = f.args.map((a, i) => (a === 'any' ? null : `${f.params[i]}: ${a}`)).filter(Boolean).join(', ');
    const cell = (text: string) => text.replace(/\|/g, '\\|');
    return `| \`${call}\` | ${args || '—'} | ${KIND[f.kind]} | ${cell(f.formula)} | ${cell(f.guard) || '—'} |`;
  });
}
