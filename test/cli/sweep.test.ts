import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, runCliAsync, tempDir } from '../helpers/cli.js';

const dir = tempDir('lion-train-sweep-');
afterAll(() => dir.cleanup());

// Short trials: 20 steps of the tiny config.
const SHORT = ['--set', 'train.steps=20', '--set', 'train.evalEvery=10', '--set', 'checkpoint.everySteps=10'];
const OPTIMIZERS = ['optimizer.name=lion', 'optimizer.name=adamw', 'optimizer.name=adafactor'];

describe('lion-train sweep', () => {
  const sweepDir = join(dir.path, 'optimizers');
  const args = ['sweep', 'configs/tiny.yaml', '--grid', 'optimizer.name=lion,adamw,adafactor', '--dir', sweepDir, '--jobs', '2', ...SHORT];

  it('runs every trial with --jobs 2, each in its own run directory, and ranks them', async () => {
    const result = await runCliAsync(args);
    expect(result.code, result.stderr).toBe(0);
    // Two trials start before the first one finishes.
    const events = result.stderr.split('\n').filter((l) => /^\s+(start|\[\d)/.test(l));
    expect(events.slice(0, 2).every((l) => l.trim().startsWith('start'))).toBe(true);
    expect(events.filter((l) => /\[\d\/3\] .* completed in/.test(l))).toHaveLength(3);

    for (const name of OPTIMIZERS) {
      const config = parse(readFileSync(join(sweepDir, name, 'config.yaml'), 'utf8'));
      expect(config.optimizer.name).toBe(name.split('=')[1]);
      expect(config.train.steps).toBe(20);
      expect(config.output.dir).toBe(join(sweepDir, name));
      expect(JSON.parse(readFileSync(join(sweepDir, name, 'summary.json'), 'utf8')).status).toBe('completed');
    }
    const manifest = JSON.parse(readFileSync(join(sweepDir, 'trials.json'), 'utf8'));
    expect(manifest.trials.map((t: { name: string }) => t.name)).toEqual(OPTIMIZERS);
    expect(manifest.trials[1].overrides).toEqual({ 'optimizer.name': 'adamw' });

    const results = JSON.parse(readFileSync(join(sweepDir, 'results.json'), 'utf8'));
    expect(results.metric).toBe('test.accuracy');
    const values: number[] = results.trials.map((t: { value: number }) => t.value);
    expect(values).toEqual([...values].sort((a, b) => b - a));
    expect(results.trials.map((t: { name: string }) => t.name).sort()).toEqual([...OPTIMIZERS].sort());
    const markdown = readFileSync(join(sweepDir, 'results.md'), 'utf8');
    expect(markdown).toContain('| # | trial | status | test.accuracy (higher is better) |');
    expect(markdown.split('\n').filter((l) => /^\| \d \| optimizer\.name=/.test(l))).toHaveLength(3);
    expect(result.stdout).toMatch(/^1\s+optimizer\.name=\w+\s+completed\s+\d+\.\d\d%/m);
  });

  it('skips completed trials when run again and resumes an interrupted one from its checkpoint', () => {
    const lion = join(sweepDir, 'optimizer.name=lion', 'summary.json');
    const summary = JSON.parse(readFileSync(lion, 'utf8'));
    writeFileSync(lion, JSON.stringify({ ...summary, status: 'interrupted', reason: 'SIGINT' }));
    const result = runCli(args);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('3 trials into');
    expect(result.stderr).toContain('(2 already completed, 1 to run, 2 at a time)');
    for (const name of OPTIMIZERS.slice(1)) expect(result.stderr).toContain(`  skip ${name}: completed`);
    expect(result.stderr).toContain('  start optimizer.name=lion (resuming)');
    expect(result.stderr).toMatch(/\[1\/1\] optimizer\.name=lion completed/);
    expect(JSON.parse(readFileSync(lion, 'utf8')).status).toBe('completed');
    expect(readFileSync(join(sweepDir, 'logs', 'optimizer.name=lion.log'), 'utf8')).toMatch(/^tiny: completed 20 steps/m);
  });

  it('reports a failed trial, finishes the others and exits 1', async () => {
    const failing = join(dir.path, 'failing');
    const result = await runCliAsync(['sweep', 'configs/tiny.yaml', '--grid', 'optimizer.lion.learningRate=3e-3,1e10', '--dir', failing, '--jobs', '2', ...SHORT]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/\[\d\/2\] optimizer\.lion\.learningRate=1e10 diverged: training diverged: loss is \w+ at step \d+ .*\(log: .*logs\/optimizer\.lion\.learningRate=1e10\.log\)/);
    expect(result.stderr).toMatch(/\[\d\/2\] optimizer\.lion\.learningRate=3e-3 completed/);
    expect(result.stderr.trim().split('\n').at(-1)).toBe('lion-train: 1 of 2 trials failed: optimizer.lion.learningRate=1e10');
    const results = JSON.parse(readFileSync(join(failing, 'results.json'), 'utf8'));
    expect(results.trials.map((t: { name: string; status: string }) => `${t.name} ${t.status}`)).toEqual(['optimizer.lion.learningRate=3e-3 completed', 'optimizer.lion.learningRate=1e10 diverged']);
  });

  it('--shard i/n slices partition the trials exactly', () => {
    const grid = ['--grid', 'optimizer.name=lion,adamw,adafactor', '--grid', 'train.seed=0,1', '--grid', 'train.batchSize=32,64'];
    const listed = (shard?: string) => {
      const result = runCli(['sweep', 'configs/tiny.yaml', ...grid, '--dir', join(dir.path, 'sharded'), '--dry-run', ...(shard ? ['--shard', shard] : [])]);
      expect(result.code, result.stderr).toBe(0);
      return result.stdout.split('\n').slice(1).filter(Boolean).map((l) => l.trim().split(/\s+/).slice(0, 2).join(' '));
    };
    const all = listed();
    expect(all).toHaveLength(12);
    const shards = ['0/3', '1/3', '2/3'].map(listed);
    expect(shards.map((s) => s.length)).toEqual([4, 4, 4]);
    expect(shards.flat().sort()).toEqual([...all].sort());
    expect(shards[1][0]).toBe('1 optimizer.name=lion,train.seed=0,train.batchSize=64');
  });

  it("expands the config's sweep: section with paired lists", () => {
    const config = join(dir.path, 'paired.yaml');
    writeFileSync(
      config,
      `model: { name: mlp, hidden: [32] }
data: { name: synthetic, inputShape: [16], classes: 4, trainExamples: 1024, testExamples: 256 }
optimizer: { name: lion, learningRate: 3.0e-3, weightDecay: 0.1 }
train: { steps: 20, batchSize: 64, backend: cpu }
sweep:
  metric: validation.loss
  grid:
    train.seed: [0, 1]
  paired:
    - optimizer.name: [lion, adamw]
      optimizer.learningRate: [1.0e-3, 1.0e-2]
      optimizer.weightDecay: [0.3, 0.03]
`,
    );
    const result = runCli(['sweep', config, '--dry-run', '--dir', join(dir.path, 'paired')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.split('\n').slice(1, 5).map((l) => l.trim().split(/\s+/)[1])).toEqual([
      'train.seed=0,optimizer.name=lion,optimizer.learningRate=1e-3,optimizer.weightDecay=0.3',
      'train.seed=0,optimizer.name=adamw,optimizer.learningRate=1e-2,optimizer.weightDecay=0.03',
      'train.seed=1,optimizer.name=lion,optimizer.learningRate=1e-3,optimizer.weightDecay=0.3',
      'train.seed=1,optimizer.name=adamw,optimizer.learningRate=1e-2,optimizer.weightDecay=0.03',
    ]);
  });

  it('refuses, before running anything, trials with config problems or settings that would have no effect', () => {
    const target = join(dir.path, 'refused');
    const result = runCli(['sweep', 'configs/tiny.yaml', '--grid', 'optimizer.learningRate=1e-3,1e-2', '--grid', 'train.batchSize=64,0', '--dir', target]);
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toContain('trial optimizer.learningRate=1e-3,train.batchSize=0: --set train.batchSize=0: must be >= 1');
    expect(lines).toContain(
      'trial optimizer.learningRate=1e-3,train.batchSize=64: --set optimizer.learningRate=0.001: has no effect with lion: optimizer.lion.learningRate (configs/tiny.yaml:15:25) overrides it; sweep optimizer.lion.learningRate, or move the value out of the lion block',
    );
    expect(existsSync(target)).toBe(false);
    const nothing = runCli(['sweep', 'configs/tiny.yaml', '--dir', target]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/sweep: nothing to sweep/);
  });
});
