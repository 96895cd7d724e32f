import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState, snapshot } from '../helpers/checkpoints.js';
import { BIN, hasStackTrace, runCli, runCliAsync, tempDir } from '../helpers/cli.js';
import { readRun } from '../helpers/runs.js';

const work = tempDir('lion-train-resume-run-');
afterAll(() => work.cleanup());

const train = (out: string, ...set: string[]) => ['train', 'configs/tiny.yaml', '--set', `output.dir=${join(work.path, out)}`, '--set', 'log.progress=none', ...set.flatMap((s) => ['--set', s])];

/** Runs a command line the tool printed, as a user would paste it (`lion-train` is the bin). */
function runPrinted(command: string) {
  const words = command.trim().split(/\s+/);
  expect(words[0]).toBe('lion-train');
  return runCliAsync(words.slice(1));
}

/** A finished 60-step run, copied per test. */
const finished = join(work.path, 'finished');
beforeAll(async () => {
  const result = await runCliAsync(train('finished'));
  expect(result.code, result.stderr).toBe(0);
}, 120_000);

function copyOfFinished(name: string): string {
  const dir = join(work.path, name);
  rmSync(dir, { recursive: true, force: true });
  cpSync(finished, dir, { recursive: true });
  return dir;
}

describe('resuming a finished run', () => {
  it.each([
    ['--resume <run-dir>', (dir: string) => ['train', '--resume', dir]],
    ['the config file with --resume', (dir: string) => ['train', 'configs/tiny.yaml', '--set', `output.dir=${dir}`, '--resume']],
    ['checkpoint.autoResume', (dir: string) => ['train', 'configs/tiny.yaml', '--set', `output.dir=${dir}`, '--set', 'checkpoint.autoResume=true']],
  ])('with the same limits (%s) says it is complete and touches no file', async (_how, command) => {
    const dir = copyOfFinished(`complete-${_how.replace(/\W+/g, '-')}`);
    const before = snapshot(dir);
    const result = await runCliAsync(command(dir));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('tiny: completed 60 steps earlier (steps); already complete, nothing to do');
    expect(result.stderr).toContain(`${dir} is already complete at step 60 (steps); nothing to do (raise train.steps or train.epochs to continue it)`);
    expect(snapshot(dir)).toEqual(before);
  });

  it('whose summary was never finished (ended after its last checkpoint) completes the summary from the records, running nothing', async () => {
    const dir = copyOfFinished('unfinished-summary');
    const original = readRun(dir).summary;
    writeFileSync(join(dir, 'summary.json'), JSON.stringify({ ...original, status: 'running', final: {}, finishedAt: null }));
    const metrics = readFileSync(join(dir, 'metrics.jsonl'));
    const result = await runCliAsync(['train', '--resume', dir]);
    expect(result.code, result.stderr).toBe(0);
    const summary = readRun(dir).summary;
    expect(summary).toMatchObject({ status: 'completed', reason: 'steps', steps: 60 });
    expect(summary.final).toEqual(original.final);
    expect(readFileSync(join(dir, 'metrics.jsonl')).equals(metrics)).toBe(true);
  });

  it('with raised steps continues: every record once, a summary with every split, the schedule change named', async () => {
    const dir = copyOfFinished('raised');
    const lrBefore = readState(join(dir, 'checkpoints/step-000060')).schedule as { learningRate: number };
    const result = await runCliAsync(['train', '--resume', dir, '--set', 'train.steps=80', '--set', 'log.everySteps=1']);
    expect(result.code, result.stderr).toBe(0);
    const run = readRun(dir);
    const keys = run.metrics.map((r) => `${r.step}/${r.split}`);
    expect(new Set(keys).size).toBe(keys.length);
    // Train records: every 10 steps up to 60, then every step (the new log interval) to 80, no gap.
    const trainSteps = run.train.map((r) => r.step);
    expect(trainSteps).toEqual([10, 20, 30, 40, 50, 60, ...Array.from({ length: 20 }, (_, i) => 61 + i)]);
    expect(run.validation.map((r) => r.step)).toEqual([20, 40, 60, 80]);
    expect(run.test.map((r) => r.step)).toEqual([60, 80]);
    expect(run.summary).toMatchObject({ status: 'completed', steps: 80 });
    expect(Object.keys(run.summary.final).sort()).toEqual(['test', 'train', 'validation']);
    // One line names the new layout with the learning rate at step 60 before (as checkpointed) and after (as logged for update 61).
    const lrAfter = run.train.find((r) => r.step === 61)!.lr as number;
    expect(lrAfter).toBeGreaterThan(lrBefore.learningRate);
    const line = /resume: the run's length changed from 60 to 80 steps, so the cosine schedule is laid out anew over 80 steps; learning rate at step 60: (\S+) before, (\S+) after \(for a run meant to be extended, use schedule\.name: wsd\)/.exec(result.stderr);
    expect(line, result.stderr).not.toBeNull();
    expect(Number(line![1])).toBeCloseTo(lrBefore.learningRate, 7);
    expect(Number(line![2]) / lrAfter).toBeCloseTo(1, 3);
    expect(result.stderr).toContain('resume: train.steps changed from 60 to 80');
    expect(readFileSync(join(dir, 'config.yaml'), 'utf8')).toMatch(/^ {2}steps: 80$/m);
  });
});

describe('--resume <run-dir> continues the run that was started', () => {
  it('the printed hint after --pause-at resumes exactly that run from its own config.yaml', async () => {
    const dir = join(work.path, 'paused');
    // Started with overrides that configs/tiny.yaml does not hold: the hint must keep them.
    const paused = await runCliAsync([...train('paused', 'train.steps=30', 'log.everySteps=5'), '--pause-at', '12']);
    expect(paused.code, paused.stderr).toBe(0);
    const hint = /continue with: (.+)$/m.exec(paused.stdout)![1];
    expect(hint).toBe(`lion-train train --resume ${dir}`);
    const config = readFileSync(join(dir, 'config.yaml'));
    const resumed = await runPrinted(hint);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('resumed from step-000012 (step 12)');
    expect(resumed.stderr).not.toContain('resume:');
    expect(readRun(dir).summary).toMatchObject({ status: 'completed', steps: 30, totalSteps: 30 });
    expect(readRun(dir).train.map((r) => r.step)).toEqual([5, 10, 15, 20, 25, 30]);
    expect(readFileSync(join(dir, 'config.yaml')).equals(config)).toBe(true);
  });

  it('a path with spaces is quoted in the hint so that the hint still works', async () => {
    const paused = await runCliAsync([...train('with space', 'train.steps=20'), '--pause-at', '5']);
    expect(paused.code, paused.stderr).toBe(0);
    const hint = /continue with: (.+)$/m.exec(paused.stdout)![1];
    expect(hint).toBe(`lion-train train --resume '${join(work.path, 'with space')}'`);
    const { spawnSync } = await import('node:child_process');
    const shell = spawnSync('bash', ['-c', hint.replace(/^lion-train/, `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)}`)], { encoding: 'utf8' });
    expect(shell.status, shell.stderr).toBe(0);
    expect(readRun(join(work.path, 'with space')).summary).toMatchObject({ status: 'completed', steps: 20 });
  });

  it.each([
    ['model.hidden=[64]', 'model.hidden changed from [32] to [64]'],
    ['optimizer.lion.beta1=0.5', 'optimizer.lion.beta1 changed from 0.9 to 0.5'],
    ['schedule.name=linear', 'schedule.name changed from "cosine" to "linear"'],
    ['train.seed=1', 'train.seed changed from 0 to 1'],
    ['checkpoint.bestMetric=validation.accuracy', 'checkpoint.bestMetric changed from "validation.loss" to "validation.accuracy"'],
    ['train.gradClipNorm=1', 'train.gradClipNorm changed from null to 1'],
  ])('refuses --set %s with exit 2 naming the key, changing nothing', (set, message) => {
    const dir = copyOfFinished(`refused-${set.replace(/\W+/g, '-')}`);
    const before = snapshot(dir);
    const result = runCli(['train', '--resume', dir, '--set', 'train.steps=80', '--set', set]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`lion-train: cannot resume ${dir}: ${message}; a resume may change only train.steps`);
    expect(hasStackTrace(result.stderr)).toBe(false);
    expect(snapshot(dir)).toEqual(before);
  });

  it('refuses a different config file given with --resume <run-dir>, naming the key', () => {
    const dir = copyOfFinished('other-config');
    const result = runCli(['train', 'configs/mlp-mnist.yaml', '--resume', dir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/cannot resume .*: data\.\w+ changed from/);
  });

  it('without a config file and without a run directory: exit 2 saying what is needed', () => {
    const none = runCli(['train']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('train needs a config file, or --resume <run-dir> to continue a run');
    const notRun = runCli(['train', '--resume', work.path]);
    expect(notRun.code).toBe(2);
    expect(notRun.stderr).toContain(`is not a run directory (it has no config.yaml)`);
  });
});
