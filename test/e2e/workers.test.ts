import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasStackTrace, runCli, startCli, tempDir, type CliResult } from '../helpers/cli.js';
import { readRun } from '../helpers/runs.js';

const work = tempDir('lion-train-workers-');
afterAll(() => work.cleanup());

const args = (out: string, ...set: string[]) => ['train', 'configs/tiny.yaml', '--set', `output.dir=${join(work.path, out)}`, ...set.flatMap((s) => ['--set', s])];
const twoThreads = ['train.workers=2', 'train.accumulationSteps=2'];

/** Runs the CLI and fails (killing it) if it has not exited within `limitMs`: a live worker thread would keep it up. */
async function exits(argv: string[], limitMs = 60_000, signalAfter?: { file: string; signal: NodeJS.Signals }): Promise<CliResult> {
  const run = startCli(argv);
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    run.child.kill('SIGKILL');
  }, limitMs);
  if (signalAfter) {
    const started = Date.now();
    while (!existsSync(signalAfter.file) && Date.now() - started < 30_000 && run.child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    run.child.kill(signalAfter.signal);
  }
  const result = await run.done;
  clearTimeout(timer);
  expect(hung, `still running after ${limitMs} ms\n${result.stderr}`).toBe(false);
  return result;
}

const trajectory = (dir: string) => readRun(join(work.path, dir)).metrics.map(({ elapsed: _e, ...rest }) => rest);
const finalParameters = (dir: string) => {
  const checkpoints = join(work.path, dir, 'checkpoints');
  return readFileSync(join(checkpoints, readFileSync(join(checkpoints, 'latest'), 'utf8').trim(), 'model.safetensors'));
};

describe('train.workers 2', () => {
  it('trains exactly as one thread with the same micro-batches, and repeats exactly run to run', async () => {
    const [one, two, again] = await Promise.all([
      exits(args('one', 'train.accumulationSteps=2', 'train.steps=30')),
      exits(args('two', ...twoThreads, 'train.steps=30')),
      exits(args('again', ...twoThreads, 'train.steps=30')),
    ]);
    for (const r of [one, two, again]) expect(r.code, r.stderr).toBe(0);
    expect(two.stderr).toContain('workers: 2 threads (this one + 1), 1 micro-batch of 32 each per step');
    expect(one.stderr).not.toContain('workers:');
    // The sums run in micro-batch order on the main thread, so the arithmetic is the same op for op.
    expect(trajectory('two')).toEqual(trajectory('one'));
    expect(finalParameters('two').equals(finalParameters('one'))).toBe(true);
    expect(trajectory('again')).toEqual(trajectory('two'));
    expect(finalParameters('again').equals(finalParameters('two'))).toBe(true);
    expect(readRun(join(work.path, 'two')).summary.final.test!.accuracy).toBeGreaterThan(0.7);
  });

  it('pauses and resumes to exactly the uninterrupted run', async () => {
    const common = [...twoThreads, 'train.steps=40', 'train.evalEvery=10', 'log.everySteps=5', 'checkpoint.everySteps=15'];
    const [straight, paused] = await Promise.all([exits(args('straight', ...common)), exits([...args('paused', ...common), '--pause-at', '17'])]);
    expect(straight.code, straight.stderr).toBe(0);
    expect(paused.code, paused.stderr).toBe(0);
    expect(readRun(join(work.path, 'paused')).summary).toMatchObject({ status: 'interrupted', steps: 17 });
    const resumed = await exits([...args('paused', ...common), '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('resumed from step-000017 (step 17)');
    expect(trajectory('paused')).toEqual(trajectory('straight'));
    expect(finalParameters('paused').equals(finalParameters('straight'))).toBe(true);
  });

  it('exits 1 without hanging when the run diverges', async () => {
    const result = await exits(args('nan', ...twoThreads, 'optimizer.lion.learningRate=1e30'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('workers: 2 threads');
    expect(result.stderr).toMatch(/lion-train: training diverged: loss is (NaN|Infinity) at step \d+/);
    expect(readRun(join(work.path, 'nan')).summary.status).toBe('diverged');
  });

  it('on SIGINT writes a checkpoint and exits 130 without hanging', async () => {
    const dir = join(work.path, 'sigint');
    const result = await exits(args('sigint', ...twoThreads, 'train.steps=100000', 'log.everySteps=100'), 60_000, { file: join(dir, 'metrics.jsonl'), signal: 'SIGINT' });
    expect(result.code, result.stderr).toBe(130);
    expect(result.stderr).toContain('workers: 2 threads');
    expect(result.stderr).toMatch(/interrupted by SIGINT at step \d+/);
    const summary = readRun(dir).summary;
    expect(summary.status).toBe('interrupted');
    expect(readFileSync(join(dir, 'checkpoints/latest'), 'utf8').trim()).toBe(`step-${String(summary.steps).padStart(6, '0')}`);
  });

  it('says when there are more threads than cores, and still trains as one thread would', async () => {
    const threads = availableParallelism() + 1;
    const set = [`train.accumulationSteps=${threads}`, `train.batchSize=${8 * threads}`, 'train.steps=6', 'train.evalEvery=3'];
    const [many, one] = await Promise.all([exits(args('many', ...set, `train.workers=${threads}`)), exits(args('one-many', ...set))]);
    expect(many.code, many.stderr).toBe(0);
    expect(many.stderr).toContain(`train.workers ${threads}: this machine has ${threads - 1} core${threads > 2 ? 's' : ''}, so its threads take turns`);
    expect(one.stderr).not.toContain('take turns');
    expect(trajectory('many')).toEqual(trajectory('one-many'));
  });

  it('LION_TRAIN_FUSED picks the fused kernels of every thread (a small ViT on wasm), and a bad value is one line, exit 2', async () => {
    const vit = join(work.path, 'vit.yaml');
    writeFileSync(
      vit,
      [
        'model: { name: vit, patchSize: 4, width: 16, depth: 1, heads: 2, mlpWidth: 32, pooling: mean }',
        'data: { name: synthetic, inputShape: [8, 8, 1], classes: 4, trainExamples: 512, testExamples: 128, validationFraction: 0.125 }',
        'optimizer: { name: lion, lion: { learningRate: 3.0e-3, weightDecay: 0.1 } }',
        'train: { steps: 12, batchSize: 32, evalEvery: 0, backend: wasm, accumulationSteps: 2 }',
        'log: { everySteps: 2 }',
        '',
      ].join('\n'),
    );
    const vitArgs = (out: string, ...set: string[]) => ['train', vit, '--set', `output.dir=${join(work.path, out)}`, ...set.flatMap((s) => ['--set', s])];
    const none = { env: { LION_TRAIN_FUSED: 'none' } };
    const runs = await Promise.all([
      startCli(vitArgs('ops-two', 'train.workers=2'), none).done,
      startCli(vitArgs('ops-one'), none).done,
      startCli(vitArgs('fused-two', 'train.workers=2')).done,
      startCli(vitArgs('fused-one')).done,
    ]);
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    // Same kernels in both threads: two threads train exactly as one. The fused kernels round differently.
    expect(trajectory('ops-two')).toEqual(trajectory('ops-one'));
    expect(trajectory('fused-two')).toEqual(trajectory('fused-one'));
    expect(trajectory('fused-two')).not.toEqual(trajectory('ops-two'));
    const bad = runCli(vitArgs('bad'), { env: { LION_TRAIN_FUSED: 'gelu,softmax' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n').pop()).toBe(
      "lion-train: LION_TRAIN_FUSED: unknown fused kernel 'softmax' (all, none, or a comma list of attention, layerNorm, gelu, matMul, matMulTN, columnSums, block, conv, maxPool, sharedIdentity, fma)",
    );
    expect(hasStackTrace(bad.stderr)).toBe(false);
    // Refused before anything is written, on every backend (tiny.yaml trains on cpu, where no kernel is fused).
    for (const [value, what] of [
      ['gelu,softmax', "unknown fused kernel 'softmax'"],
      ['gelu,', "an empty kernel name in 'gelu,'"],
    ]) {
      const out = join(work.path, `bad-env-${what.length}`);
      const refused = runCli(['train', 'configs/tiny.yaml', '--set', `output.dir=${out}`], { env: { LION_TRAIN_FUSED: value } });
      expect(refused.code).toBe(2);
      expect(refused.stderr.trim()).toBe(`lion-train: LION_TRAIN_FUSED: ${what} (all, none, or a comma list of attention, layerNorm, gelu, matMul, matMulTN, columnSums, block, conv, maxPool, sharedIdentity, fma)`);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('refuses worker counts that are not a whole divisor of accumulationSteps, located, with exit 2', () => {
    const file = join(work.path, 'three-workers.yaml');
    writeFileSync(file, `${readFileSync('configs/tiny.yaml', 'utf8').replace('  backend: cpu\n', '  backend: cpu\n  accumulationSteps: 2\n  workers: 3\n')}`);
    const line = readFileSync(file, 'utf8').split('\n').indexOf('  workers: 3') + 1;
    const cases: [string[], string][] = [
      [['validate', file], `${file}:${line}:12 train.workers: must divide train.accumulationSteps (2), got 3`],
      [['validate', 'configs/tiny.yaml', '--set', 'train.workers=2'], '--set train.workers=2: must divide train.accumulationSteps (1), got 2: each thread computes an equal share of a step\'s micro-batches (e.g. accumulationSteps: 2)'],
      [['validate', 'configs/tiny.yaml', '--set', 'train.workers=0'], '--set train.workers=0: must be >= 1'],
      [['validate', 'configs/tiny.yaml', '--set', 'train.workers=1.5'], '--set train.workers=1.5: must be an integer'],
      [['validate', 'configs/tiny.yaml', '--set', 'train.workers=two'], '--set train.workers=two: must be an integer'],
    ];
    for (const [argv, expected] of cases) {
      const result = runCli(argv);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(expected);
      expect(hasStackTrace(result.stderr)).toBe(false);
    }
    expect(runCli(['validate', 'configs/tiny.yaml', '--set', 'train.workers=2', '--set', 'train.accumulationSteps=4']).code).toBe(0);
  });
});
