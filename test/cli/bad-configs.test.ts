import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, ROOT, runCli, tempDir, type CliResult } from '../helpers/cli.js';

const FIXTURES = join(ROOT, 'test/fixtures/bad-configs');

interface Case {
  file: string;
  set?: string[];
  expect: string[];
}

const cases = JSON.parse(readFileSync(join(FIXTURES, 'cases.json'), 'utf8')) as Case[];

/** A case whose every expected line is about its own file: many of them can be validated in one run. */
const ownLinesOnly = (c: Case) => !c.set && c.expect.every((line) => line.startsWith(`${c.file}:`));

describe('a bad config is refused with exit 2 and located messages', () => {
  // One `validate` of every such file at once (validate reports each file in turn): one process start
  // instead of fifty. A file that validated would print ok; one that crashed would end the run and take
  // the later files' lines with it; each case below checks its own lines.
  let together: CliResult;
  beforeAll(() => {
    together = runCli(['validate', ...cases.filter(ownLinesOnly).map((c) => c.file)], { cwd: FIXTURES });
  });

  it('covers at least 30 bad configs', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    expect(cases.filter(ownLinesOnly).length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases.map((c) => [[c.file, ...(c.set ?? []).map((s) => `--set ${s}`)].join(' '), c] as const))('%s', (_, c) => {
    const result = ownLinesOnly(c) ? together : runCli(['validate', c.file, ...(c.set ?? []).flatMap((s) => ['--set', s])], { cwd: FIXTURES });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(hasStackTrace(result.stderr)).toBe(false);
    const lines = result.stderr.trim().split('\n');
    for (const expected of c.expect) expect(lines.some((line) => line.startsWith(expected)), `missing: ${expected}\ngot:\n${result.stderr}`).toBe(true);
  });

  it('refuses a file over 1 MiB without reading it as YAML', () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, 'huge.yaml');
      writeFileSync(file, `model:\n  name: mlp\n#${'x'.repeat(1024 * 1024)}\n`);
      const result = runCli(['validate', file]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/huge\.yaml: file is \d+ bytes; config files are limited to 1 MiB/);
    } finally {
      dir.cleanup();
    }
  });

  it('names a directory given as a config', () => {
    const result = runCli(['validate', 'test'], { cwd: ROOT });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('test: is a directory, not a config file');
  });

  it('reports problems for each file and ok for the valid ones in one run', () => {
    const result = runCli(['validate', 'valid-base.yaml', 'beta1-out-of-range.yaml'], { cwd: FIXTURES });
    expect(result.code).toBe(2);
    expect(result.stdout.trim()).toBe('valid-base.yaml: ok');
    expect(result.stderr).toContain('beta1-out-of-range.yaml:9:10 optimizer.beta1: must be < 1');
  });

  it('shows a stack trace only with --debug', () => {
    const plain = runCli(['validate', 'binary.yaml'], { cwd: FIXTURES });
    expect(hasStackTrace(plain.stderr)).toBe(false);
  });
});
