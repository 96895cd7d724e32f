import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { ProxyTrainer } from '../../src/evaluate/proxy.js';
import { ROOT, runCli, tempDir } from '../helpers/cli.js';

const tiny = join(ROOT, 'configs/tiny.yaml');
const dirs: Array<{ cleanup: () => void }> = [];
afterAll(() => dirs.forEach((d) => d.cleanup()));

describe('proxy evaluation', () => {
  it('reaches the validation metrics that `lion-train train` reaches with the same config', async () => {
    const out = tempDir();
    dirs.push(out);
    const set = ['train.evalEvery=0', 'log.progress=none', `output.dir=${out.path}/run`];
    const cli = runCli(['train', tiny, ...set.flatMap((s) => ['--set', s])]);
    expect(cli.code, cli.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(out.path, 'run/summary.json'), 'utf8'));

    const trainer = new ProxyTrainer();
    const outcome = await trainer.evaluate(loadConfig(tiny, { set }).config);
    expect(outcome.status).toBe('completed');
    expect(outcome.steps).toBe(60);
    expect(outcome.metrics['validation.loss']).toBeCloseTo(summary.final.validation.loss, 6);
    expect(outcome.metrics['validation.accuracy']).toBeCloseTo(summary.final.validation.accuracy, 6);
  });

  it('keeps the dataset loaded between candidates and gives the same result twice', async () => {
    const trainer = new ProxyTrainer();
    const config = loadConfig(tiny, { set: ['optimizer.name=adamw'] }).config;
    const a = await trainer.evaluate(config);
    const b = await trainer.evaluate(config);
    expect(trainer.loadedDatasets).toBe(1);
    expect(b.metrics).toEqual(a.metrics);
    await trainer.evaluate(loadConfig(tiny, { set: ['train.seed=3'] }).config);
    expect(trainer.loadedDatasets).toBe(2);
  });

  it('reports a diverging candidate as diverged with the step, not as an error', async () => {
    const config = loadConfig(tiny, { set: ['optimizer.name=adamw', 'optimizer.adamw.learningRate=1e30', 'schedule.name=constant'] }).config;
    const outcome = await new ProxyTrainer().evaluate(config);
    expect(outcome.status).toBe('diverged');
    expect(outcome.reason).toMatch(/^(loss is NaN at step \d+|validation loss is NaN)/);
    expect(outcome.metrics).toEqual({});
  });

  it('stops a candidate at its time limit', async () => {
    const config = loadConfig(tiny, { set: ['train.steps=5000'] }).config;
    const outcome = await new ProxyTrainer().evaluate(config, { timeLimitMs: 200 });
    expect(outcome.status).toBe('timed-out');
    expect(outcome.steps).toBeLessThan(5000);
    expect(outcome.reason).toMatch(/time limit of 0\.2 s/);
  });
});
