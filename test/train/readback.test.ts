// The training loop's read-back rule (src/train/loop.ts, readPending), through the real CLI: a step's results stay
// on the device until a log step, an evaluation, a checkpoint or the end of the loop. What is logged is what reading
// every step gives, and a diverged run names the step whose loss first stopped being finite, however late it is read.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCliAsync, tempDir } from '../helpers/cli.js';
import { readRun } from '../helpers/runs.js';

const work = tempDir('lion-train-readback-');
afterAll(() => work.cleanup());

const tiny = (out: string, ...set: string[]) => ['configs/tiny.yaml', '--set', `output.dir=${join(work.path, out)}`, ...set.flatMap((s) => ['--set', s])];
const withoutElapsed = (records: Record<string, unknown>[]) => records.map(({ elapsed: _e, ...rest }) => rest);

describe('reading step results once per log interval', () => {
  it('logs the same train metrics and totals as reading every step', async () => {
    // An evaluation reads what is pending first: train.evalEvery 1 reads every step; 0 reads at log steps only.
    const [everyStep, perInterval] = await Promise.all([
      runCliAsync(tiny('every', 'train.steps=30', 'train.evalEvery=1')),
      runCliAsync(tiny('interval', 'train.steps=30', 'train.evalEvery=0', 'checkpoint.everySteps=null')),
    ]);
    for (const r of [everyStep, perInterval]) expect(r.code, r.stderr).toBe(0);
    const a = readRun(join(work.path, 'every'));
    const b = readRun(join(work.path, 'interval'));
    expect(b.train.map((r) => r.step)).toEqual([10, 20, 30]);
    expect(withoutElapsed(b.train)).toEqual(withoutElapsed(a.train));
    expect(b.compute.map((r) => [r.step, r.flopsTotal])).toEqual(a.compute.map((r) => [r.step, r.flopsTotal]));
    expect([b.summary.steps, b.summary.totals.examples, b.summary.final.train]).toEqual([a.summary.steps, a.summary.totals.examples, a.summary.final.train]);
  });

  // Each learning rate diverges at a different step (2, 7, 10, 20 here); read every step it is named at once, read
  // every 7 steps the loop has run past it (except at 7, a log step) and must go back to it.
  it.each(['1.0e30', '1.0e4', '1.0e3', '100'])('a run diverging with lion lr %s names the same step, records and totals', async (lr) => {
    const set = [`optimizer.lion.learningRate=${lr}`, 'train.evalEvery=0', 'checkpoint.everySteps=null', 'schedule.name=constant'];
    const [everyStep, perInterval] = await Promise.all([
      runCliAsync(tiny(`nan-1-${lr}`, ...set, 'log.everySteps=1')),
      runCliAsync(tiny(`nan-7-${lr}`, ...set, 'log.everySteps=7')),
    ]);
    for (const r of [everyStep, perInterval]) expect(r.code, r.stderr).toBe(1);
    const line = (stderr: string) => stderr.split('\n').find((l) => l.startsWith('lion-train:'))?.replace(/ \(run directory .*\)$/, '');
    expect(line(perInterval.stderr)).toMatch(/^lion-train: training diverged: loss is (NaN|Infinity) at step \d+/);
    expect(line(perInterval.stderr)).toBe(line(everyStep.stderr));
    const a = readRun(join(work.path, `nan-1-${lr}`));
    const b = readRun(join(work.path, `nan-7-${lr}`));
    const last = (r: typeof a) => withoutElapsed([r.metrics[r.metrics.length - 1]])[0];
    expect(last(b)).toEqual(last(a));
    const summary = (r: typeof a) => [r.summary.status, r.summary.reason, r.summary.steps, r.summary.epochs, r.summary.totals.examples, r.summary.totals.flops];
    expect(summary(b)).toEqual(summary(a));
    expect(b.metrics.every((m) => (m.step as number) <= b.summary.steps)).toBe(true);
  });
});
