// Parsing, printing, checking, dead statements, constant folding and the structural hash.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkProgram,
  liveness,
  parseProgram,
  printProgram,
  ProgramError,
  programHash,
  simplifyProgram,
} from '../../src/program/index.js';
import { ROOT } from '../helpers/cli.js';

const LION = `update = interp(g, m, 0.9)
update = sign(update)
m = interp(g, m, 0.99)
update = update + w * 0.01
update = update * lr * 0.0003
`;

const problemsOf = (text: string) => checkProgram(parseProgram(text)).problems;
const hashOf = (text: string) => programHash(parseProgram(text));

describe('parse and print', () => {
  it('prints a program back as text that parses to the same program', () => {
    const text = 'a = (g - m) / (1 - power(0.9, step + 1))\nb = -a * -2.5e-3\nc = a - (b - g)\nd = a / (b * w)\nupdate = negative(c + d) * lr\n';
    const once = printProgram(parseProgram(text));
    expect(printProgram(parseProgram(once))).toBe(once);
    expect(once).toBe('a = (g - m) / (1 - power(0.9, step + 1))\nb = negative(a) * -0.0025\nc = a - (b - g)\nd = a / (b * w)\nupdate = negative(c + d) * lr\n');
  });

  it('keeps positions: line and column of every node', () => {
    const p = parseProgram('# comment\n\n  update = sign(g) * lr\n');
    const s = p.statements[0];
    expect(s.pos).toEqual({ line: 3, column: 3 });
    expect(s.value.pos).toEqual({ line: 3, column: 20 });
  });

  it.each([
    ['update = g +', 1, 13, "expected a number, a name or '(', got the end of the line"],
    ['update = sign(g', 1, 16, "expected ',' or ')' to close sign(, got the end of the line"],
    ['update g', 1, 8, "expected '=', got 'g'"],
    ['update = g ** 2', 1, 13, "expected a number, a name or '(', got '*'"],
    ['update = g ^ 2', 1, 12, "unexpected character '^' (use power(x, y))"],
    ['3 = g', 1, 1, "expected an assignment 'name = expression', got '3'"],
  ])('refuses %j at %i:%i', (text, line, column, message) => {
    try {
      parseProgram(text);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ProgramError);
      expect((error as ProgramError).problems).toEqual([{ line, column, message }]);
    }
  });
});

describe('check', () => {
  it('accepts every shipped program', () => {
    for (const name of ['lion', 'adamw', 'adamw-seed', 'paper-raw', 'powersign', 'addsign', 'signum']) {
      expect(problemsOf(readFileSync(join(ROOT, 'programs', `${name}.opt`), 'utf8'))).toEqual([]);
    }
  });

  it('infers scalar and tensor types', () => {
    expect(checkProgram(parseProgram('a = lr * 2\nb = global_norm(g)\nc = clip(g, a)\nupdate = c * b')).types).toEqual(['scalar', 'scalar', 'tensor', 'tensor']);
  });

  it.each([
    ['update = sgn(g)', "1:10 unknown function 'sgn' (did you mean sign?)"],
    ['update = interpolate(g, m, 0.9)', "1:10 unknown function 'interpolate' (did you mean interp?)"],
    ['update = interp(g, m)', '1:10 interp(x, y, a) takes 3 arguments, got 2'],
    ['update = sign(g, m)', '1:10 sign(x) takes 1 argument, got 2'],
    ['update = interp(g, m, g)', '1:23 interp(x, y, a): the third argument a must be a scalar, got a tensor'],
    ['update = clip(g, g)', '1:18 clip(x, c): the second argument c must be a scalar, got a tensor'],
    ['update = g * global_norm(lr)', '1:26 global_norm(x): the first argument x must be a tensor, got a scalar'],
    ['update = g * mm', "1:14 'mm' is read before it is assigned (did you mean m?)"],
    ['update = g * k\nk = 2', "1:14 'k' is read before it is assigned: more than two state variables (only m and v carry values from one step to the next)"],
    ['m = g', "1:1 no 'update' is assigned (the runner applies w ← w − update)"],
    ['e = 2\nupdate = g', "1:1 cannot assign to 'e', a constant (2.718281828459045)"],
  ])('reports %j', (text, expected) => {
    const problems = problemsOf(text).map((p) => `${p.line}:${p.column} ${p.message}`);
    expect(problems).toEqual([expected]);
  });

  it('reports every problem of a program together, in line order', () => {
    expect(problemsOf('a = sgn(g)\nupdate = interp(g, m)').map((p) => p.line)).toEqual([1, 2]);
  });
});

describe('abstract execution: dead statements, folding, state', () => {
  it('carries only state the program reads', () => {
    expect(liveness(parseProgram(LION)).state).toEqual(['m']);
    expect(liveness(parseProgram('m = g\nupdate = m * lr')).state).toEqual([]);
    expect(liveness(parseProgram(readFileSync(join(ROOT, 'programs/adamw.opt'), 'utf8'))).state).toEqual(['m', 'v']);
  });

  it('removes statements whose result reaches no output, and state written but never read', () => {
    const text = 'x = g * 2\nupdate = sign(g) * lr\nm = cosh(update)\ny = x + 1';
    expect(printProgram(simplifyProgram(parseProgram(text)))).toBe('update = sign(g) * lr\n');
  });

  it('folds constants, named ones included, and propagates constant names', () => {
    const text = 'b = 1 - 0.1\nc = b * 2\nupdate = interp(g, m, b) * c * pi\nm = interp(g, m, 0.5 * 2 - 0.01)';
    expect(printProgram(simplifyProgram(parseProgram(text)))).toBe(
      `update = interp(g, m, 0.9) * 1.8 * ${Math.PI}\nm = interp(g, m, 0.99)\n`,
    );
  });

  it('simplifies the paper\'s raw program to its Lion form (programs/paper-raw.opt)', () => {
    const raw = readFileSync(join(ROOT, 'programs/paper-raw.opt'), 'utf8');
    expect(printProgram(simplifyProgram(parseProgram(raw)))).toBe(
      [
        'g = clip(g, lr)',
        'g = arcsin(g)',
        'm = interp(g, v, 0.899)',
        'm2 = m * m',
        'v = interp(g, m, 1.109)',
        'abs_m = sqrt(m2)',
        'update = m / abs_m',
        'wd = w * 0.4602',
        'update = update + wd',
        'lr = lr * 0.0002',
        'update = update * lr',
        '',
      ].join('\n'),
    );
    expect(liveness(parseProgram(raw)).state).toEqual(['v']);
  });

  it('prints canonical names for locals on request', () => {
    const text = 'v845 = interp(g, m, 0.9)\nupdate = sign(v845) * lr\nm = interp(g, m, 0.99)';
    expect(printProgram(parseProgram(text), { canonicalNames: true })).toBe('t1 = interp(g, m, 0.9)\nupdate = sign(t1) * lr\nm = interp(g, m, 0.99)\n');
  });
});

describe('structural hash', () => {
  it('is the same for renamed locals, dead statements, folded constants and commuted arguments', () => {
    const base = hashOf(LION);
    expect(hashOf(LION.replace(/update = interp/, 'c = interp').replace('sign(update)', 'sign(c)'))).toBe(base);
    expect(hashOf(`junk = g * 3\n${LION}m2 = cosh(m)\n`)).toBe(base);
    expect(hashOf(LION.replace('w * 0.01', '0.01 * w'))).toBe(base);
    expect(hashOf(LION.replace('0.99', '0.5 + 0.49'))).toBe(base);
  });

  it('is the same when the state variables m and v swap roles', () => {
    expect(hashOf(LION.replaceAll('m', 'v'))).toBe(hashOf(LION));
  });

  it('differs for a changed constant, a changed function or a changed order of operands', () => {
    const base = hashOf(LION);
    expect(hashOf(LION.replace('0.99', '0.98'))).not.toBe(base);
    expect(hashOf(LION.replace('0.0003', '0.0001'))).not.toBe(base);
    expect(hashOf(LION.replace('sign(update)', 'tanh(update)'))).not.toBe(base);
    expect(hashOf(LION.replace('interp(g, m, 0.9)', 'interp(m, g, 0.9)'))).not.toBe(base);
  });
});

describe('the function table', () => {
  it('is in the README as generated from the code (one table, two places)', async () => {
    const { functionTableRows } = await import('../../src/program/table.js');
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const row of functionTableRows()) expect(readme).toContain(row);
  });
});
