import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, runCliAsync, tempDir, type CliResult } from '../helpers/cli.js';
import { readRun } from '../helpers/runs.js';

const work = tempDir('lion-train-e2e-');
afterAll(() => work.cleanup());

const tiny = (out: string, ...set: string[]) => ['configs/tiny.yaml', '--set', `output.dir=${join(work.path, out)}`, ...set.flatMap((s) => ['--set', s])];

describe('lion-train configs/tiny.yaml', () => {
  // Three runs shared by the tests below: configs/tiny.yaml as it is (lion) twice, and with another seed.
  let full: CliResult;
  beforeAll(async () => {
    const results = await Promise.all([runCliAsync(tiny('full')), runCliAsync(tiny('same-seed')), runCliAsync(tiny('other-seed', 'train.seed=1'))]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    full = results[0];
  });

  it('writes every file of the run directory, well formed, and the loss falls', () => {
    const result = full;
    const dir = join(work.path, 'full');
    expect(result.stdout).toContain(`run directory: ${dir}`);
    expect(result.stdout).toMatch(/tiny: completed 60 steps in [\d.]+ s \(steps\); test accuracy \d+\.\d+%/);

    const config = parse(readFileSync(join(dir, 'config.yaml'), 'utf8'));
    expect(config.train).toMatchObject({ steps: 60, batchSize: 64, backend: 'cpu' });
    expect(config.optimizer.lion).toEqual({ learningRate: 0.003, beta1: 0.9, beta2: 0.99, weightDecay: 0.1 });

    const run = readRun(dir);
    for (const record of [...run.metrics, ...run.compute]) expect(Object.keys(record)[0]).toBe('step');
    expect(run.train.map((r) => r.step)).toEqual([10, 20, 30, 40, 50, 60]);
    for (const row of run.train) {
      expect(Object.keys(row)).toEqual(['step', 'epoch', 'split', 'loss', 'accuracy', 'lr', 'gradNorm', 'updateNorm', 'elapsed']);
      expect(row.gradNorm).toBeGreaterThan(0);
      expect(row.updateNorm).toBeGreaterThan(0);
    }
    expect(run.validation.map((r) => r.step)).toEqual([20, 40, 60]);
    expect(run.test).toHaveLength(1);
    expect(run.train[run.train.length - 1].loss).toBeLessThan((run.train[0].loss as number) / 2);
    // cosine after 5 warmup steps over 55 steps: step 10 is the 10th update, index 9
    expect(run.train[0].lr).toBeCloseTo(0.003 * (0.5 * (1 + Math.cos((Math.PI * (9 - 5)) / 55))), 9);

    for (const row of run.compute) {
      expect(row).toMatchObject({ backend: 'cpu', optimizerStateBytes: expect.any(Number), flopsPerStep: expect.any(Number) });
      for (const key of ['stepTimeMs', 'examplesPerSecond', 'gflopsPerSecond', 'rssBytes', 'tfBytes', 'flopsTotal']) expect(row[key]).toBeGreaterThan(0);
    }
    expect(run.compute.map((r) => r.tfTensors)).toEqual(run.compute.map(() => run.compute[0].tfTensors));

    expect(run.summary).toMatchObject({ status: 'completed', reason: 'steps', steps: 60, totalSteps: 60, optimizer: 'lion', backend: 'cpu', model: 'mlp' });
    expect(run.summary.final.test!.accuracy).toBeGreaterThan(0.8);
    expect(run.summary.totals.examples).toBe(60 * 64);
    expect(run.summary.optimizerStateBytes).toBe(run.summary.parameterCount * 4);
    expect(run.summary.best).toMatchObject({ metric: 'validation.loss' });

    const checkpoints = join(dir, 'checkpoints');
    expect(readFileSync(join(checkpoints, 'latest'), 'utf8').trim()).toBe('step-000060');
    expect(readdirSync(checkpoints).filter((n) => n.startsWith('step-')).sort()).toEqual(['step-000020', 'step-000040', 'step-000060']);
    expect(readdirSync(join(checkpoints, 'step-000060')).sort()).toEqual(['model.safetensors', 'optimizer.safetensors', 'state.json']);
  });

  it('gives identical losses for the same config and seed, and different ones for another seed', () => {
    const losses = (name: string) => readRun(join(work.path, name)).metrics.map((r) => [r.step, r.split, r.loss, r.accuracy]);
    expect(losses('same-seed')).toEqual(losses('full'));
    expect(losses('other-seed')).not.toEqual(losses('full'));
  });

  it.each(['lion', 'adamw', 'adafactor'])('trains with %s', async (name) => {
    // configs/tiny.yaml trains with lion: its run is the one above.
    const dir = name === 'lion' ? 'full' : `opt-${name}`;
    if (name !== 'lion') {
      const result = await runCliAsync(tiny(dir, `optimizer.name=${name}`));
      expect(result.code, result.stderr).toBe(0);
    }
    const run = readRun(join(work.path, dir));
    expect(run.summary.optimizer).toBe(name);
    expect(run.summary.final.test!.accuracy).toBeGreaterThan(0.8);
    expect(run.train[run.train.length - 1].loss).toBeLessThan(run.train[0].loss as number);
  });

  it('trains with Adafactor\'s relative step when no learning rate is given', async () => {
    const result = await runCliAsync(tiny('relative', 'optimizer.name=adafactor', 'optimizer.adafactor={}', 'schedule.name=constant', 'schedule.warmupSteps=0'));
    expect(result.code, result.stderr).toBe(0);
    const run = readRun(join(work.path, 'relative'));
    expect(run.train[0].lr).toBeCloseTo(Math.min(1e-2, 1 / Math.sqrt(10)), 9);
    expect(run.summary.final.test!.accuracy).toBeGreaterThan(0.7);
  });

  it('stops a diverging run with status diverged, exit 1 and the step named', async () => {
    const result = await runCliAsync(tiny('nan', 'optimizer.lion.learningRate=1e30'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/lion-train: training diverged: loss is (NaN|Infinity) at step \d+/);
    expect(hasStackTrace(result.stderr)).toBe(false);
    const summary = readRun(join(work.path, 'nan')).summary;
    expect(summary.status).toBe('diverged');
    expect(summary.reason).toMatch(/^loss is (NaN|Infinity) at step \d+$/);
  });

  it('refuses to overwrite an existing run directory unless told to', async () => {
    const first = await runCliAsync(tiny('exists', 'train.steps=5'));
    expect(first.code).toBe(0);
    const again = await runCliAsync(tiny('exists', 'train.steps=5'));
    expect(again.code).toBe(2);
    expect(again.stderr.trim().split('\n').pop()).toBe(`lion-train: run directory ${join(work.path, 'exists')} already exists; use --resume to continue it or --overwrite to replace it`);
    const forced = await runCliAsync([...tiny('exists', 'train.steps=7'), '--overwrite']);
    expect(forced.code).toBe(0);
    expect(readRun(join(work.path, 'exists')).summary.steps).toBe(7);
  });

  it('honours train.epochs, whichever of steps and epochs ends first', async () => {
    // 896 training examples / 64 = 14 steps per epoch
    const result = await runCliAsync(tiny('epochs', 'train.steps=null', 'train.epochs=2'));
    expect(result.code, result.stderr).toBe(0);
    expect(readRun(join(work.path, 'epochs')).summary).toMatchObject({ steps: 28, reason: 'epochs', epochs: 2 });
    const both = await runCliAsync(tiny('both', 'train.steps=20', 'train.epochs=2'));
    expect(both.code).toBe(0);
    expect(readRun(join(work.path, 'both')).summary).toMatchObject({ steps: 20, reason: 'steps' });
  });

  it('stops early when the validation metric stops improving', async () => {
    const result = await runCliAsync(tiny('early', 'train.steps=400', 'train.evalEvery=5', 'train.earlyStopping={metric: validation.accuracy, patience: 2, minDelta: 0.5}'));
    expect(result.code, result.stderr).toBe(0);
    const summary = readRun(join(work.path, 'early')).summary;
    expect(summary.reason).toMatch(/^early-stopping: validation\.accuracy did not improve for 2 evaluations$/);
    expect(summary.steps).toBe(15);
  });

  it('has no stray files or directories when it fails on a bad --set', async () => {
    const result = await runCliAsync(tiny('never', 'train.batchSize=0'));
    expect(result.code).toBe(2);
    expect(existsSync(join(work.path, 'never'))).toBe(false);
  });
});

describe('a data error', () => {
  it('exits 1 with the file and line, and leaves no run directory behind', async () => {
    const dir = tempDir('lion-train-bad-data-');
    try {
      writeFileSync(join(dir.path, 'rows.csv'), 'x,y,label\n1,2,a\n3,four,b\n5,6,a\n');
      writeFileSync(
        join(dir.path, 'run.yaml'),
        'model:\n  name: mlp\ndata:\n  name: csv\n  path: rows.csv\n  labelColumn: label\ntrain:\n  steps: 5\n  batchSize: 1\noutput:\n  dir: out\n',
      );
      const result = await runCliAsync(['train', 'run.yaml'], { cwd: dir.path });
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n').pop()).toMatch(/^lion-train: .*rows\.csv:3: column "y": "four" is not a number/);
      expect(hasStackTrace(result.stderr)).toBe(false);
      expect(existsSync(join(dir.path, 'out'))).toBe(false);
    } finally {
      dir.cleanup();
    }
  });
});
