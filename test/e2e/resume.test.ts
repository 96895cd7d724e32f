import { copyFileSync, existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasStackTrace, runCli, runCliAsync, startCli, tempDir } from '../helpers/cli.js';
import { readRun } from '../helpers/runs.js';

const work = tempDir('lion-train-resume-');
afterAll(() => work.cleanup());

const args = (out: string, ...set: string[]) => ['train', 'configs/tiny.yaml', '--set', `output.dir=${join(work.path, out)}`, ...set.flatMap((s) => ['--set', s])];

/** What must match exactly between an uninterrupted and a resumed run: every logged number but timings. */
function trajectory(dir: string) {
  return readRun(dir).metrics.map(({ elapsed: _elapsed, ...rest }) => rest);
}

function finalParameters(dir: string): Buffer {
  const name = readFileSync(join(dir, 'checkpoints/latest'), 'utf8').trim();
  return readFileSync(join(dir, 'checkpoints', name, 'model.safetensors'));
}

/** An independent reader of the public safetensors layout: u64 header length, JSON header, raw bytes. */
function readSafetensors(bytes: Buffer) {
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const body = bytes.subarray(8 + headerLength);
  const tensors = Object.entries(header).filter(([name]) => name !== '__metadata__');
  return { headerLength, header, body, tensors };
}

describe('exact resume', () => {
  it.each(['lion', 'adamw', 'adafactor'])('%s: N steps, pause, resume to 2N is bit-identical to 2N straight', async (optimizer) => {
    const common = [`optimizer.name=${optimizer}`, 'train.steps=40', 'train.evalEvery=10', 'log.everySteps=5', 'checkpoint.everySteps=15'];
    const [straight, paused] = await Promise.all([
      runCliAsync(args(`straight-${optimizer}`, ...common)),
      runCliAsync([...args(`paused-${optimizer}`, ...common), '--pause-at', '17']),
    ]);
    expect(straight.code, straight.stderr).toBe(0);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toContain('paused at step 17; continue with:');
    expect(readRun(join(work.path, `paused-${optimizer}`)).summary).toMatchObject({ status: 'interrupted', steps: 17 });

    const resumed = await runCliAsync([...args(`paused-${optimizer}`, ...common), '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('resumed from step-000017 (step 17)');
    expect(trajectory(join(work.path, `paused-${optimizer}`))).toEqual(trajectory(join(work.path, `straight-${optimizer}`)));
    expect(finalParameters(join(work.path, `paused-${optimizer}`)).equals(finalParameters(join(work.path, `straight-${optimizer}`)))).toBe(true);
  });

  it('takes safe config changes (more steps) and continues the logs without duplicates or gaps', async () => {
    const first = await runCliAsync(args('grow', 'train.steps=20'));
    expect(first.code).toBe(0);
    const more = await runCliAsync([...args('grow', 'train.steps=30', 'log.everySteps=5'), '--resume']);
    expect(more.code, more.stderr).toBe(0);
    const steps = readRun(join(work.path, 'grow')).train.map((r) => r.step);
    expect(steps).toEqual([10, 20, 25, 30]);
    expect(readRun(join(work.path, 'grow')).summary.steps).toBe(30);
  });

  it('refuses a config change that breaks the run, naming the difference', async () => {
    const first = await runCliAsync(args('breaking', 'train.steps=10'));
    expect(first.code).toBe(0);
    const changed = runCli([...args('breaking', 'train.steps=20', 'model.hidden=[64]'), '--resume']);
    expect(changed.code).toBe(2);
    expect(changed.stderr).toContain('cannot resume');
    expect(changed.stderr).toContain('model.hidden changed from [32] to [64]');
    expect(hasStackTrace(changed.stderr)).toBe(false);
    const otherOptimizer = runCli([...args('breaking', 'train.steps=20', 'optimizer.name=adamw'), '--resume']);
    expect(otherOptimizer.code).toBe(2);
    expect(otherOptimizer.stderr).toContain('optimizer.name changed from "lion" to "adamw"');
  });

  it('falls back to the previous checkpoint when the newest is truncated or corrupt', async () => {
    const first = await runCliAsync(args('corrupt', 'train.steps=60'));
    expect(first.code).toBe(0);
    const checkpoints = join(work.path, 'corrupt/checkpoints');
    truncateSync(join(checkpoints, 'step-000060/model.safetensors'), 100);
    const bytes = readFileSync(join(checkpoints, 'step-000040/optimizer.safetensors'));
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(join(checkpoints, 'step-000040/optimizer.safetensors'), bytes);
    const resumed = await runCliAsync([...args('corrupt', 'train.steps=80'), '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('checkpoint step-000060 is unusable (model.safetensors does not match its checksum (corrupt or truncated))');
    expect(resumed.stderr).toContain('checkpoint step-000040 is unusable (optimizer.safetensors does not match its checksum');
    expect(resumed.stderr).toContain('resumed from step-000020 (step 20)');
    expect(readRun(join(work.path, 'corrupt')).summary.steps).toBe(80);
  });

  it('keeps the last K checkpoints plus the best, never deleting the best', async () => {
    // validation accuracy is highest early when the learning rate is absurd late; keep 2 + best.
    const result = await runCliAsync(args('retention', 'train.steps=60', 'checkpoint.everySteps=10', 'checkpoint.keepLast=2', 'checkpoint.bestMetric=validation.accuracy', 'train.evalEvery=10'));
    expect(result.code, result.stderr).toBe(0);
    const checkpoints = join(work.path, 'retention/checkpoints');
    const kept = readdirSync(checkpoints).filter((n) => n.startsWith('step-')).sort();
    const best = readFileSync(join(checkpoints, 'best'), 'utf8').trim();
    expect(kept.slice(-2)).toEqual(['step-000050', 'step-000060']);
    expect(kept).toContain(best);
    expect(kept.length).toBe(best === 'step-000050' || best === 'step-000060' ? 2 : 3);
    const bestState = JSON.parse(readFileSync(join(checkpoints, best, 'state.json'), 'utf8'));
    for (const name of kept) {
      const state = JSON.parse(readFileSync(join(checkpoints, name, 'state.json'), 'utf8'));
      expect(state.checkpointMetric).toBeLessThanOrEqual(bestState.checkpointMetric);
    }
  });

  it('keeps an older best checkpoint when later ones are worse', async () => {
    const result = await runCliAsync(
      args('old-best', 'train.steps=40', 'checkpoint.everySteps=10', 'checkpoint.keepLast=1', 'train.evalEvery=10', 'schedule.name=constant', 'optimizer.lion.learningRate=0.003'),
    );
    expect(result.code).toBe(0);
    // Continue with a learning rate that wrecks the model: later checkpoints are worse, the best stays.
    const wrecked = await runCliAsync([...args('old-best', 'train.steps=70', 'checkpoint.everySteps=10', 'checkpoint.keepLast=1', 'train.evalEvery=10', 'schedule.name=constant', 'optimizer.lion.learningRate=3'), '--resume']);
    expect(wrecked.code, wrecked.stderr).toBe(0);
    const checkpoints = join(work.path, 'old-best/checkpoints');
    const best = readFileSync(join(checkpoints, 'best'), 'utf8').trim();
    expect(Number(best.slice(5))).toBeLessThanOrEqual(40);
    expect(readdirSync(checkpoints).filter((n) => n.startsWith('step-')).sort()).toEqual([best, 'step-000070']);
  });
});

describe('SIGINT', () => {
  it('writes a checkpoint, exits 130, and the printed resume command completes the run', async () => {
    const dir = join(work.path, 'sigint');
    const run = startCli(args('sigint', 'train.steps=100', 'log.everySteps=10'));
    const started = Date.now();
    while (!existsSync(join(dir, 'metrics.jsonl')) && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 50));
    run.child.kill('SIGINT');
    const result = await run.done;
    expect(result.code).toBe(130);
    expect(result.stderr).toMatch(/SIGINT: finishing the current step and writing a checkpoint/);
    const hint = /interrupted by SIGINT at step \d+; resume with: (.+)$/m.exec(result.stderr);
    expect(hint, result.stderr).not.toBeNull();
    expect(hint![1]).toBe(`lion-train train --resume ${dir}`);
    const summary = readRun(dir).summary;
    expect(summary.status).toBe('interrupted');
    expect(summary.steps).toBeLessThan(100);
    const latest = readFileSync(join(dir, 'checkpoints/latest'), 'utf8').trim();
    expect(latest).toBe(`step-${String(summary.steps).padStart(6, '0')}`);
    // Following the hint word for word continues this run (train.steps 100 from its config.yaml, not the file's 60).
    const resumed = await runCliAsync(hint![1].split(' ').slice(1));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(readRun(dir).summary).toMatchObject({ status: 'completed', steps: 100 });
  });
});

describe('lion-train export', () => {
  it('writes the parameters alone as safetensors that an independent reader parses', async () => {
    const result = await runCliAsync(args('export', 'train.steps=20'));
    expect(result.code).toBe(0);
    const out = join(work.path, 'weights.safetensors');
    const exported = runCli(['export', join(work.path, 'export'), '--out', out]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toContain('4 tensors from step-000020');

    const bytes = readFileSync(out);
    const { headerLength, header, body, tensors } = readSafetensors(bytes);
    expect(headerLength % 8).toBe(0);
    expect(tensors.map(([name]) => name).sort()).toEqual(['head.bias', 'head.kernel', 'layers.0.bias', 'layers.0.kernel']);
    expect(header['layers.0.kernel'].shape).toEqual([16, 32]);
    expect(header['head.bias'].shape).toEqual([4]);
    // Offsets tile the body exactly, each tensor float32 of its shape's size.
    const spans = tensors.map(([, t]) => t.data_offsets).sort((a, b) => a[0] - b[0]);
    expect(spans[0][0]).toBe(0);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBe(spans[i - 1][1]);
    expect(spans[spans.length - 1][1]).toBe(body.length);
    for (const [, t] of tensors) {
      expect(t.dtype).toBe('F32');
      expect(t.data_offsets[1] - t.data_offsets[0]).toBe(t.shape.reduce((a, b) => a * b, 1) * 4);
    }
    expect(header.__metadata__).toMatchObject({ format: 'pt', step: '20' });
    // Same values as the checkpoint's model file.
    const checkpoint = readSafetensors(readFileSync(join(work.path, 'export/checkpoints/step-000020/model.safetensors')));
    for (const [name, t] of tensors) {
      const c = checkpoint.header[name];
      expect(body.subarray(...t.data_offsets).equals(checkpoint.body.subarray(...c.data_offsets))).toBe(true);
    }
  });

  it('exports a chosen step and names the available ones when it is missing', async () => {
    const out = join(work.path, 'step.safetensors');
    copyFileSync(join(work.path, 'export/checkpoints/step-000020/model.safetensors'), join(work.path, 'reference.safetensors'));
    expect(runCli(['export', join(work.path, 'export'), '--step', '20', '--out', out]).code).toBe(0);
    const missing = runCli(['export', join(work.path, 'export'), '--step', '7', '--out', out]);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe(`lion-train: ${join(work.path, 'export')} has no checkpoint at step 7 (checkpoints at steps: 20); name one of those, latest or best`);
  });
});
