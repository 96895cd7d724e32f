// npm run bench's options: a bad value or an unknown option is one line and exit 2, before any section runs.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasStackTrace, ROOT } from '../helpers/cli.js';

const bench = (args: string[], timeout = 60_000) => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/index.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout });

describe('bench --accuracy-seeds', () => {
  it.each(['--accuracy-seeds=3-1', '--accuracy-seeds=1,1', '--accuracy-seeds=0,x', '--accuracy-seeds='])('%s: one line naming the option, exit 2, nothing run', (arg) => {
    const run = bench([arg, '--no-torch']);
    expect(run.status).toBe(2);
    expect(run.stderr.trim()).toBe(`bench: --accuracy-seeds: expected a range such as 0-11 or a list such as 0,3,7 of different non-negative integers, got '${arg.split('=')[1]}'`);
    expect(hasStackTrace(run.stderr)).toBe(false);
    expect(run.stdout).not.toContain('## '); // no section started
  });
});

describe('bench options', () => {
  it.each([
    [['--acuracy-seeds=0-3'], "bench: unknown option '--acuracy-seeds=0-3' (options: "],
    [['stray'], "bench: unknown option 'stray' (options: "],
    [['--time-to-accuracy', '--train-steps=abc'], "bench: --train-steps: expected a positive integer, got 'abc'"],
    [['--time-to-accuracy', '--train-steps=0'], "bench: --train-steps: expected a positive integer, got '0'"],
    [['--accuracy-seeds=0', '--ops-column=yes'], "bench: --ops-column takes no value, got '--ops-column=yes'"],
    [['--time-to-accuracy', '--rounds', '3'], 'bench: --rounds expects a value: --rounds=VALUE'],
  ])('%s: one line, exit 2, nothing run', (args, start) => {
    const run = bench([...args, '--no-torch']);
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr.trim().startsWith(start), run.stderr).toBe(true);
    expect(hasStackTrace(run.stderr)).toBe(false);
    expect(run.stdout).not.toContain('## ');
  });
});

describe('bench --accuracy-seeds --ops-column', () => {
  it('adds lion-train on tfjs ops alone as a column and its paired difference', () => {
    const run = bench(['--accuracy-seeds=0', '--train-steps=2', '--no-torch', '--ops-column'], 170_000);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('; lion-train on tfjs ops alone');
    const header = run.stdout.split('\n').find((line) => line.startsWith('| seed'))!;
    expect(header.split('|').map((cell) => cell.trim()).filter(Boolean)).toEqual(['seed', 'lion-train %', 'lion-train on tfjs ops %']);
    const row = run.stdout.split('\n').find((line) => line.startsWith('| 0 '))!;
    const [ours, ops] = row.split('|').map((cell) => cell.trim()).filter(Boolean).slice(1).map(Number);
    expect(ours).toBeGreaterThan(0);
    expect(ops).toBeGreaterThan(0);
    expect(run.stdout).toMatch(new RegExp(`lion-train − lion-train on tfjs ops, paired: [+-]${Math.abs(ours - ops).toFixed(3)} % mean`));
  }, 180_000);
});
