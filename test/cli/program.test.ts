// Optimizer programs through the real CLI: every checker error located in the YAML file (block
// scalar, one-line value, --set) or the program file, exit 2; `lion-train program check|simplify|hash`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, ROOT, runCli, tempDir } from '../helpers/cli.js';

const dir = tempDir('lion-train-program-');
afterAll(() => dir.cleanup());
const TINY = join(ROOT, 'configs/tiny.yaml');

/** A config whose program is `lines`, as a block scalar starting on line 5 (program line k is file line 4 + k, column + 4). */
function blockConfig(name: string, lines: string[]): string {
  const file = join(dir.path, `${name}.yaml`);
  writeFileSync(file, [`extends: ${TINY}`, 'optimizer:', '  name: program', '  program: |', ...lines.map((l) => `    ${l}`), ''].join('\n'));
  return file;
}

function refused(args: string[], cwd = dir.path): string[] {
  const result = runCli(args, { cwd });
  expect(result.code).toBe(2);
  expect(result.stdout).toBe('');
  expect(hasStackTrace(result.stderr)).toBe(false);
  return result.stderr.trim().split('\n');
}

const BLOCK_CASES: [string, string[], string, string?][] = [
  ['parse', ['update = g +'], "6:17 optimizer.program line 2: expected a number, a name or '(', got the end of the line", 'm = interp(g, m, 0.9)'],
  ['unknown', ['update = sgn(g) * lr'], "5:14 optimizer.program line 1: unknown function 'sgn' (did you mean sign?)"],
  ['arity', ['m = interp(g, m)', 'update = sign(m) * lr'], '5:9 optimizer.program line 1: interp(x, y, a) takes 3 arguments, got 2'],
  ['scalar', ['update = interp(g, m, g)'], '5:27 optimizer.program line 1: interp(x, y, a): the third argument a must be a scalar, got a tensor'],
  ['tensor', ['update = g * norm(lr)'], '5:23 optimizer.program line 1: norm(x): the first argument x must be a tensor, got a scalar'],
  ['before', ['update = sign(c) * lr'], "5:19 optimizer.program line 1: 'c' is read before it is assigned"],
  ['state', ['update = sign(m + k) * lr', 'k = g', 'm = g', 'v = g + v'], "5:23 optimizer.program line 1: 'k' is read before it is assigned: more than two state variables (only m and v carry values from one step to the next)"],
  ['noupdate', ['m = interp(g, m, 0.9)'], "5:5 optimizer.program line 1: no 'update' is assigned (the runner applies w ← w − update)"],
  ['constant', ['pi = 3', 'update = g * pi'], "5:5 optimizer.program line 1: cannot assign to 'pi', a constant (3.141592653589793)"],
];
const SOURCE_CASES: [string, string, string][] = [
  ['missing', '{ name: program, programFile: none.opt }', `2:42 optimizer.programFile: no such file: none.opt`],
  ['both', '{ name: program, program: "update = g", programFile: x.opt }', '2:65 optimizer.programFile: give optimizer.program or optimizer.programFile, not both'],
  ['neither', '{ name: program }', '2:20 optimizer.name: program needs optimizer.program (the program text) or optimizer.programFile (a file holding it)'],
];

describe('lion-train validate refuses a bad program with located errors', () => {
  // Every config below is validated in one run (validate reports each file in turn, each line naming its
  // file): each case checks that its own file got exactly its one located line.
  let lines: string[];
  beforeAll(() => {
    const files = BLOCK_CASES.map(([name, body, , first]) => blockConfig(name, first ? [first, ...body] : body));
    writeFileSync(join(dir.path, 'inline.yaml'), `extends: ${TINY}\noptimizer: { name: program, program: "update = sgn(g) * lr" }\n`);
    files.push(join(dir.path, 'inline.yaml'));
    for (const [name, section] of SOURCE_CASES) {
      writeFileSync(join(dir.path, `${name}.yaml`), `extends: ${TINY}\noptimizer: ${section}\n`);
      files.push(join(dir.path, `${name}.yaml`));
    }
    lines = refused(['validate', ...files]);
  });
  const linesOf = (name: string) => lines.filter((line) => line.startsWith(`${name}.yaml:`));

  it.each(BLOCK_CASES)('%s', (name, _lines, expected) => {
    expect(linesOf(name)).toEqual([`${name}.yaml:${expected}`]);
  });

  it('locates an error in a one-line program value', () => {
    expect(linesOf('inline')).toEqual([`inline.yaml:2:48 optimizer.program line 1: unknown function 'sgn' (did you mean sign?)`]);
  });

  it('locates an error in a program given with --set', () => {
    const file = join(dir.path, 'set.yaml');
    writeFileSync(file, `extends: ${TINY}\noptimizer: { name: program }\n`);
    expect(refused(['validate', file, '--set', 'optimizer.program=update = sgn(g)'])).toEqual([
      "--set optimizer.program=update = sgn(g): optimizer.program line 1: column 10: unknown function 'sgn' (did you mean sign?)",
    ]);
  });

  it('locates an error of a program file in that file, relative to the config', () => {
    writeFileSync(join(dir.path, 'bad.opt'), '# a comment\nm = interp(g, m, 0.9)\nupdate = sign(m) * lr + dot(g)\n');
    const file = join(dir.path, 'file.yaml');
    writeFileSync(file, `extends: ${TINY}\noptimizer: { name: program, programFile: bad.opt }\n`);
    expect(refused(['validate', file])).toEqual([`bad.opt:3:25 optimizer.programFile: dot(x, y) takes 2 arguments, got 1`]);
  });

  it.each(SOURCE_CASES)('refuses a config with %s program source', (name, _section, expected) => {
    expect(linesOf(name)).toEqual([`${name}.yaml:${expected}`]);
  });

  it('reports nothing beyond those files, one line each', () => {
    expect(lines).toHaveLength(BLOCK_CASES.length + 1 + SOURCE_CASES.length);
  });
});

describe('lion-train program', () => {
  it('check reports statements, dead ones, state and the type of update', () => {
    const result = runCli(['program', 'check', 'programs/paper-raw.opt']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('programs/paper-raw.opt: ok (12 statements, 1 dead; state: v; update is a tensor)\n');
  });

  it('check reads the program of a config (programFile, extends)', () => {
    const result = runCli(['program', 'check', 'configs/vit-program.yaml']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('configs/vit-program.yaml: ok (5 statements, 0 dead; state: m; update is a tensor)\n');
  });

  it('check refuses a bad program file with every problem located, exit 2', () => {
    const file = join(dir.path, 'two.opt');
    writeFileSync(file, 'a = sgn(g)\nupdate = interp(g, m)\n');
    expect(refused(['program', 'check', file])).toEqual([
      'two.opt:1:5 unknown function \'sgn\' (did you mean sign?)',
      `two.opt:2:10 interp(x, y, a) takes 3 arguments, got 2`,
    ]);
  });

  it('check refuses a config whose optimizer is not a program', () => {
    const result = runCli(['program', 'check', 'configs/tiny.yaml']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('lion-train: configs/tiny.yaml: optimizer.name is lion; lion-train program needs name: program (or a program file)\n');
  });

  it('simplify prints the program without dead statements, constants folded', () => {
    const file = join(dir.path, 'fold.opt');
    writeFileSync(file, 'b = 1 - 0.1\nx = cosh(g)\nupdate = sign(interp(g, m, b)) * lr\nm = interp(g, m, 0.99)\n');
    const result = runCli(['program', 'simplify', file]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('update = sign(interp(g, m, 0.9)) * lr\nm = interp(g, m, 0.99)\n');
  });

  it('hash is equal for a renamed, padded variant and differs for a changed constant', () => {
    const lion = readFileSync(join(ROOT, 'programs/lion.opt'), 'utf8');
    const renamed = join(dir.path, 'renamed.opt');
    writeFileSync(renamed, `dead = exp(g)\n${lion.replaceAll('update = interp', 'c = interp').replace('sign(update)', 'sign(c)')}`);
    const changed = join(dir.path, 'changed.opt');
    writeFileSync(changed, lion.replace('0.99)', '0.98)'));
    const hash = (f: string) => {
      const r = runCli(['program', 'hash', f]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^[0-9a-f]{16}\n$/);
      return r.stdout;
    };
    const base = hash(join(ROOT, 'programs/lion.opt'));
    expect(hash(renamed)).toBe(base);
    expect(hash(changed)).not.toBe(base);
  });
});
