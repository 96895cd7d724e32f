import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasStackTrace, ROOT, runCli, runCliAsync, tempDir } from '../helpers/cli.js';

const dir = tempDir('lion-train-sweep-checks-');
afterAll(() => dir.cleanup());

/** A dry run of a sweep of configs/tiny.yaml: every check runs, nothing trains. */
function dryRun(...args: string[]) {
  const result = runCli(['sweep', 'configs/tiny.yaml', '--dir', join(dir.path, 'dry'), '--dry-run', ...args]);
  expect(hasStackTrace(result.stderr)).toBe(false);
  return result;
}

describe('a sweep refuses trials that would be the same run, before anything runs', () => {
  it.each([
    [['--grid', 'train.seed=0,0'], 'trials #0 train.seed=0 and #1 train.seed=0 are the same run: a value listed twice'],
    [['--grid', 'optimizer.lion.learningRate=1e-4,0.0001'], 'trials #0 optimizer.lion.learningRate=1e-4 and #1 optimizer.lion.learningRate=1e-4 are the same run'],
    [['--grid', 'model.hidden=[32],[32],[64]'], 'trials #0 model.hidden=_32_ and #1 model.hidden=_32_ are the same run'],
    // output.* only moves the run: both trials train the same model the same way.
    [['--grid', 'output.root=a,b'], 'trials #0 output.root=a and #1 output.root=b are the same run: output.root changes nothing between them'],
  ])('%j', (grid, message) => {
    const result = dryRun(...grid);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`configs/tiny.yaml: sweep: ${message}`);
  });

  it('refuses trials whose directories would collide though their configs differ', () => {
    for (const name of ['r b.csv', 'r_b.csv']) copyFileSync(join(ROOT, 'configs/data/rings.csv'), join(dir.path, name));
    const result = runCli(['sweep', 'configs/csv-example.yaml', '--grid', `data.path=${join(dir.path, 'r b.csv')},${join(dir.path, 'r_b.csv')}`, '--dir', join(dir.path, 'csv'), '--dry-run']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/sweep: trials #0 and #1 would share the run directory and log data\.path=\S*r_b\.csv/);
  });

  it('refuses a swept value that has no effect on its trial', () => {
    // A block of an optimizer the trial does not train with (grid and paired alike).
    const paired = dryRun('--paired', 'optimizer.name=lion,adamw;optimizer.lion.learningRate=1e-4,3e-4');
    expect(paired.code).toBe(2);
    expect(paired.stderr).toContain(
      "trial optimizer.name=adamw,optimizer.lion.learningRate=3e-4: --set optimizer.lion.learningRate=0.0003: has no effect on this trial: it sets lion's options and the trial trains with adamw",
    );
    expect(paired.stderr).not.toContain('trial optimizer.name=lion,');
    const grid = dryRun('--grid', 'optimizer.adamw.learningRate=1e-3,1e-2');
    expect(grid.code).toBe(2);
    expect(grid.stderr.trim().split('\n')).toHaveLength(2);
    // A schedule under Adafactor's relative step: the three identical trials.
    const schedules = dryRun('--set', 'optimizer.name=adafactor', '--set', 'optimizer.adafactor={}', '--grid', 'schedule.name=constant,cosine,linear');
    expect(schedules.code).toBe(2);
    expect(schedules.stderr).toContain("trial schedule.name=cosine: --set schedule.name=\"cosine\": has no effect: Adafactor's relative step");
    // A schedule key the trial's schedule does not use.
    const timescale = dryRun('--grid', 'schedule.timescale=10,100');
    expect(timescale.code).toBe(2);
    expect(timescale.stderr).toContain('trial schedule.timescale=10: --set schedule.timescale=10: has no effect: only the rsqrt schedule uses it (schedule.name is cosine)');
  });

  it('ranks by a metric every trial measures, with a did-you-mean', () => {
    const typo = dryRun('--grid', 'train.seed=0,1', '--metric', 'validation.acuracy');
    expect(typo.code).toBe(2);
    expect(typo.stderr.trim()).toMatch(/^--metric validation\.acuracy: cannot rank the trials: validation\.acuracy is not a metric this run measures \(did you mean validation\.accuracy\?\)/);
    const base = 'test/fixtures/bad-configs/valid-base.yaml';
    const noValidation = runCli(['sweep', base, '--grid', 'data.validationFraction=0,0.1', '--metric', 'validation.loss', '--dir', join(dir.path, 'base'), '--dry-run']);
    expect(noValidation.code).toBe(2);
    expect(noValidation.stderr).toContain('--metric validation.loss: cannot rank the trials (trial data.validationFraction=0): validation.loss is never measured');
    const text = runCli(['sweep', 'configs/char-gpt.yaml', '--grid', 'train.seed=0,1', '--dir', join(dir.path, 'gpt'), '--dry-run']);
    expect(text.code).toBe(2);
    expect(text.stderr).toContain('configs/char-gpt.yaml: sweep.metric (default): cannot rank the trials: test.accuracy is never measured: text data has no test split');
    const bitsPerChar = runCli(['sweep', 'configs/char-gpt.yaml', '--grid', 'train.seed=0,1', '--metric', 'validation.bitsPerChar', '--dir', join(dir.path, 'gpt'), '--dry-run']);
    expect(bitsPerChar.code, bitsPerChar.stderr).toBe(0);
  });

  it('notes when --jobs × train.workers is more threads than the machine has cores', () => {
    const result = dryRun('--grid', 'train.seed=0,1,2', '--jobs', '3', '--set', 'train.batchSize=64', '--set', 'train.accumulationSteps=64', '--set', 'train.workers=64');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^note: --jobs 3 × train\.workers 64 = 192 threads on \d+ cores/m);
    expect(dryRun('--grid', 'train.seed=0,1,2', '--jobs', '3').stderr).not.toContain('note:');
  });
});

describe('a sweep run', () => {
  const sweepDir = join(dir.path, 'seeds');
  const short = ['--set', 'train.steps=30', '--set', 'log.everySteps=2', '--set', 'train.evalEvery=10', '--set', 'checkpoint.everySteps=10'];

  it('prints progress between start and end, aggregates seeds and does not repeat the ranking column', async () => {
    const result = await runCliAsync(['sweep', 'configs/tiny.yaml', '--grid', 'optimizer.name=lion,adamw', '--grid', 'train.seed=0,1', '--dir', sweepDir, '--jobs', '2', '--progress-every', '0.2', ...short]);
    expect(result.code, result.stderr).toBe(0);
    // A progress line comes between a trial's start and its end.
    const lines = result.stderr.split('\n');
    const progress = lines.findIndex((l) => /^ {2}… optimizer\.name=\w+,train\.seed=\d: step \d+\/30 \(\d+%\) loss \d/.test(l));
    expect(progress, result.stderr).toBeGreaterThan(0);
    const trial = /… (\S+):/.exec(lines[progress])![1];
    expect(lines.findIndex((l) => l === `  start ${trial}`)).toBeLessThan(progress);
    expect(lines.findIndex((l) => l.includes(`] ${trial} completed`))).toBeGreaterThan(progress);

    const results = JSON.parse(readFileSync(join(sweepDir, 'results.json'), 'utf8'));
    expect(results.bySetting.map((s: { setting: string }) => s.setting).sort()).toEqual(['optimizer.name=adamw', 'optimizer.name=lion']);
    for (const setting of results.bySetting) {
      const values = results.trials.filter((t: { overrides: Record<string, unknown> }) => t.overrides['optimizer.name'] === setting.overrides['optimizer.name']).map((t: { value: number }) => t.value);
      const mean = (values[0] + values[1]) / 2;
      expect(setting.n).toBe(2);
      expect(setting.mean).toBeCloseTo(mean, 12);
      expect(setting.std).toBeCloseTo(Math.abs(values[0] - values[1]) / Math.SQRT2, 12);
    }
    const markdown = readFileSync(join(sweepDir, 'results.md'), 'utf8');
    const header = markdown.split('\n').find((l) => l.startsWith('| # | trial |'))!;
    expect(header).toContain('test.accuracy (higher is better)');
    expect(header).not.toContain('test accuracy');
    expect(header).toContain('test loss');
    expect(markdown).toContain('| # | setting | seeds | test.accuracy mean ± std |');
    expect(result.stdout).toMatch(/Over seeds \(mean ± sample std\):\n.*\n.*\n\s*1\s+optimizer\.name=\w+\s+2\s+\d+\.\d\d% ± \d+\.\d\d%/);
  });

  it('refuses a second sweep of other trials into the same directory, and leaves the first untouched', () => {
    const before = readFileSync(join(sweepDir, 'results.json'), 'utf8');
    const result = runCli(['sweep', 'configs/tiny.yaml', '--grid', 'optimizer.name=lion,adafactor', '--dir', sweepDir, ...short]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/seeds: already holds another sweep \(4 trials of configs\/tiny\.yaml: optimizer\.name=lion,train\.seed=0, .*\); sweep into another --dir/);
    expect(readFileSync(join(sweepDir, 'results.json'), 'utf8')).toBe(before);
    expect(existsSync(join(sweepDir, 'optimizer.name=adafactor'))).toBe(false);
  });
});
