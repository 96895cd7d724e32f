import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasStackTrace, runCli, tempDir } from '../helpers/cli.js';
import { writeRunDir } from '../helpers/runs.js';
import { findAll, parseXml } from '../helpers/xml.js';

const dir = tempDir('lion-train-regress-');
afterAll(() => dir.cleanup());

const BASELINE = `recorded:
  backend: cpu
  configHash: c0ffee
metrics:
  final.test.accuracy: { value: 0.92, better: higher, absolute: 0.02 }
  best.validation.loss: { value: 0.36, better: lower, relative: 0.05 }
  stepsTo(validation.accuracy>=0.9): { value: 40, better: lower, absolute: 20 }
  examplesPerSecond: { value: 7000, better: higher, relative: 0.5 }
`;

function baselineFile(name: string, text = BASELINE): string {
  const file = join(dir.path, name);
  writeFileSync(file, text);
  return file;
}

describe('lion-train regress', () => {
  const good = writeRunDir(join(dir.path, 'good'));
  const worse = writeRunDir(join(dir.path, 'worse'), { final: { test: { loss: 1.2, accuracy: 0.6 } } }, [
    { step: 20, split: 'validation', loss: 0.9, accuracy: 0.5 },
    { step: 40, split: 'validation', loss: 0.8, accuracy: 0.6 },
  ]);

  it('exits 0 and prints the table when every metric holds', () => {
    const result = runCli(['regress', good, '--baseline', baselineFile('pass.yaml')]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^metric\s+baseline\s+now\s+delta\s+tolerance\s+verdict$/);
    expect(lines.slice(2, 6).map((l) => l.split(/\s+/)[0])).toEqual(['final.test.accuracy', 'best.validation.loss', 'stepsTo(validation.accuracy>=0.9)', 'examplesPerSecond']);
    expect(lines.slice(2, 6).every((l) => l.endsWith(' ok'))).toBe(true);
    expect(lines.at(-1)).toMatch(/^4 of 4 metrics hold/);
  });

  it('exits 3 on a regression, naming each regressed metric', () => {
    const result = runCli(['regress', worse, '--baseline', baselineFile('fail.yaml')]);
    expect(result.code).toBe(3);
    expect(result.stdout).toMatch(/^final\.test\.accuracy\s+0\.92\s+0\.6\s+-0\.32\s+±0\.02\s+REGRESSED$/m);
    expect(result.stderr).toContain('regressed: stepsTo(validation.accuracy>=0.9) never vs baseline 40 (lower is better, tolerance ±20): worse by never reaching it');
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(/^lion-train: regression: 3 of 4 metrics regressed: final\.test\.accuracy, best\.validation\.loss, stepsTo\(validation\.accuracy>=0\.9\)/);
  });

  it('writes JUnit XML with one testcase per metric and the failures', () => {
    const junit = join(dir.path, 'regress.xml');
    expect(runCli(['regress', worse, '--baseline', baselineFile('junit.yaml'), '--junit', junit]).code).toBe(3);
    const root = parseXml(readFileSync(junit, 'utf8'));
    expect(root.attributes).toMatchObject({ tests: '4', failures: '3' });
    expect(findAll(root, 'testcase')).toHaveLength(4);
    expect(findAll(root, 'failure').map((f) => f.attributes.message.split(' ')[0])).toEqual(['final.test.accuracy', 'best.validation.loss', 'stepsTo(validation.accuracy>=0.9)']);
  });

  it('across backends skips speed metrics with a note and still compares quality', () => {
    const wasm = writeRunDir(join(dir.path, 'wasm'), { backend: 'wasm', totals: { examplesPerSecond: 10 } });
    const result = runCli(['regress', wasm, '--baseline', baselineFile('backend.yaml')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('note: the baseline was recorded on the cpu backend and the run used wasm: quality metrics compared, speed metrics skipped');
    expect(result.stdout).toMatch(/^examplesPerSecond\s+7000\s+10\s+-\s+±50%\s+skipped$/m);
    expect(result.stdout).toMatch(/^3 of 3 metrics hold, 1 skipped/m);
  });

  it('exits 2 with one line for a mismatched or bad baseline, or an unfinished run', () => {
    const cases: [string[], RegExp][] = [
      [[good, '--baseline', baselineFile('missing-metric.yaml', BASELINE.replace('final.test.accuracy', 'final.test.bitsPerChar'))], /^lion-train: mismatched baseline .*missing-metric\.yaml: the run has no final\.test\.bitsPerChar$/],
      [[good, '--baseline', baselineFile('unknown.yaml', BASELINE.replace('examplesPerSecond', 'examplesPerSec'))], /unknown\.yaml:8:3 metrics\.examplesPerSec: unknown metric \(did you mean examplesPerSecond\?\)/],
      [[good, '--baseline', baselineFile('malformed.yaml', 'metrics: [1, 2\n')], /malformed\.yaml:\d+:\d+ YAML syntax error/],
      [[good, '--baseline', join(dir.path, 'absent.yaml')], /absent\.yaml: baseline file not found/],
      [[writeRunDir(join(dir.path, 'other-config'), { configHash: 'decaf' }), '--baseline', baselineFile('hash.yaml')], /mismatched baseline .*: the run's configHash decaf differs from the baseline's c0ffee/],
      [[writeRunDir(join(dir.path, 'running'), { status: 'running', finishedAt: null }), '--baseline', baselineFile('running.yaml')], /running is not finished \(status running/],
      [[dir.path, '--baseline', baselineFile('not-a-run.yaml')], /is not a run directory \(no summary\.json\)/],
    ];
    for (const [args, message] of cases) {
      const result = runCli(['regress', ...args]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr.trim()).toMatch(message);
      expect(hasStackTrace(result.stderr)).toBe(false);
    }
  });

  it('--allow-config-change compares a run of another config, saying so', () => {
    const other = writeRunDir(join(dir.path, 'allowed'), { configHash: 'decaf' });
    const result = runCli(['regress', other, '--baseline', baselineFile('allow.yaml'), '--allow-config-change']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^note: the run's configHash decaf differs from the baseline's c0ffee.*compared anyway/m);
  });

  it('--update re-records the values from the run, after which the run passes', () => {
    const file = baselineFile('update.yaml', `# why these tolerances\n${BASELINE}`);
    expect(runCli(['regress', worse, '--baseline', file]).code).toBe(3);
    const update = runCli(['regress', worse, '--baseline', file, '--update']);
    expect(update.code).toBe(0);
    expect(update.stdout).toMatch(/^updated .*update\.yaml: 4 metrics recorded from .*worse \(cpu backend\)$/m);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('# why these tolerances');
    expect(text).toContain('final.test.accuracy: { value: 0.6, better: higher, absolute: 0.02 }');
    expect(text).toContain('stepsTo(validation.accuracy>=0.9): { value: never, better: lower, absolute: 20 }');
    expect(runCli(['regress', worse, '--baseline', file]).code).toBe(0);
  });

  it('--update creates a default baseline (YAML or JSON) when the file does not exist', () => {
    for (const name of ['new.yaml', 'new.json']) {
      const file = join(dir.path, name);
      expect(existsSync(file)).toBe(false);
      const result = runCli(['regress', good, '--baseline', file, '--update']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^created .*: 4 metrics recorded/m);
      const metrics = name.endsWith('.json') ? Object.keys(JSON.parse(readFileSync(file, 'utf8')).metrics) : [...readFileSync(file, 'utf8').matchAll(/^  (\S+): \{ value:/gm)].map((m) => m[1]);
      expect(metrics).toEqual(['final.test.accuracy', 'final.test.loss', 'best.validation.loss', 'optimizerStateBytes']);
      const check = runCli(['regress', good, '--baseline', file]);
      expect(check.code).toBe(0);
      expect(check.stdout).toMatch(/^4 of 4 metrics hold/m);
    }
  });

  it('train --check refuses a bad baseline before training', () => {
    const out = join(dir.path, 'never-trained');
    const result = runCli(['train', 'configs/tiny.yaml', '--set', `output.dir=${out}`, '--check', baselineFile('bad-check.yaml', 'metrics: {}\n')]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/bad-check\.yaml:1:10 metrics: a baseline needs a metrics mapping/);
    expect(existsSync(out)).toBe(false);
  });
});
