// lion-train on the webgpu backend through the real CLI, on lavapipe where there is no GPU
// (test/helpers/webgpu.ts): the losses match cpu, the adapter is named in the log, compute.jsonl and
// summary.json, a pause and resume is exact, auto passes a software adapter over, a tensor too large for one GPU
// buffer is refused before training, no adapter is exit 2.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasStackTrace, runCliAsync, tempDir } from '../helpers/cli.js';
import { readRun } from '../helpers/runs.js';
import { webgpuEnv } from '../helpers/webgpu.js';

const work = tempDir('lion-train-webgpu-');
afterAll(() => work.cleanup());
const env = webgpuEnv();
const common = ['train.steps=20', 'train.accumulationSteps=2', 'train.gradClipNorm=1', 'train.labelSmoothing=0.1', 'train.evalEvery=10', 'log.everySteps=5', 'checkpoint.everySteps=10'];
const train = (out: string, ...set: string[]) => ['train', 'configs/tiny.yaml', '--set', `output.dir=${join(work.path, out)}`, ...[...common, ...set].flatMap((s) => ['--set', s])];
const finalParameters = (dir: string) => readFileSync(join(dir, 'checkpoints', readFileSync(join(dir, 'checkpoints/latest'), 'utf8').trim(), 'model.safetensors'));

/** Relative tolerance on every logged loss, webgpu vs cpu (the in-process parity test measures per step). */
const LOSS_TOLERANCE = 1e-4;

describe('lion-train train --set train.backend=webgpu', () => {
  it('trains configs/tiny.yaml with the losses of cpu, names the adapter, notes workers; pause and resume is exact', async () => {
    const [gpu, cpu, paused] = await Promise.all([
      runCliAsync(train('webgpu', 'train.backend=webgpu', 'train.workers=2'), { env }),
      runCliAsync(train('cpu', 'train.backend=cpu')),
      runCliAsync([...train('paused', 'train.backend=webgpu'), '--pause-at', '10'], { env }),
    ]);
    for (const r of [gpu, cpu, paused]) expect(r.code, r.stderr).toBe(0);
    const adapterLine = /^backend: webgpu on \S+ \S+ .+ \(requested\)$/m;
    expect(gpu.stdout + gpu.stderr).toMatch(adapterLine);
    expect(gpu.stdout + gpu.stderr).toContain('train.workers 2: not used on the webgpu backend (the step runs on the GPU); training on one thread');

    const run = readRun(join(work.path, 'webgpu'));
    const reference = readRun(join(work.path, 'cpu'));
    expect(run.summary).toMatchObject({ status: 'completed', backend: 'webgpu', steps: 20 });
    const adapter = (run.summary as unknown as { adapter: Record<string, unknown> }).adapter;
    for (const key of ['vendor', 'architecture', 'device', 'driver']) expect(typeof adapter[key]).toBe('string');
    expect(adapter.vendor).not.toBe('');
    expect(run.compute.length).toBe(4);
    for (const record of run.compute) expect(record).toMatchObject({ backend: 'webgpu', adapter });

    const losses = (r: typeof run) => r.metrics.filter((m) => typeof m.loss === 'number').map((m) => [m.step, m.split, m.loss as number] as const);
    expect(losses(run).map(([s, split]) => [s, split])).toEqual(losses(reference).map(([s, split]) => [s, split]));
    losses(run).forEach(([step, split, loss], i) => {
      const want = losses(reference)[i][2];
      expect(Math.abs(loss - want) / want, `step ${step} ${split}: webgpu ${loss}, cpu ${want}`).toBeLessThan(LOSS_TOLERANCE);
    });

    const resumed = await runCliAsync([...train('paused', 'train.backend=webgpu'), '--resume'], { env });
    expect(resumed.code, resumed.stderr).toBe(0);
    const trajectory = (dir: string) => readRun(dir).metrics.map(({ elapsed: _e, ...rest }) => rest);
    expect(trajectory(join(work.path, 'paused'))).toEqual(trajectory(join(work.path, 'webgpu')));
    expect(finalParameters(join(work.path, 'paused')).equals(finalParameters(join(work.path, 'webgpu')))).toBe(true);
  });

  it('auto passes a software adapter over, saying why, and trains on wasm', async () => {
    const result = await runCliAsync(train('auto', 'train.backend=auto', 'train.steps=2'), { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout + result.stderr).toMatch(/^backend: wasm \(auto; passed over: gpu: .*; webgpu: only a software adapter: auto takes a hardware GPU only, train\.backend: webgpu uses it; node: .*\)$/m);
  });

  // Both tensors are over 4 GiB, more than any adapter's buffer (lavapipe's storage binding limit is 128 MiB).
  it.each([
    [
      'a parameter matrix: a 28·28·512 → 4096 dense kernel',
      'model:\n  name: cnn\n  conv: [{ channels: 512, kernel: 3 }]\n  dense: [4096]\n',
      32,
      ["its largest parameter matrix, needs 6.1 GiB", "make model.conv's channels or model.dense ([4096]) smaller"],
    ],
    [
      'an activation: the attention scores of 784 tokens, 16 heads, 512 examples',
      'model:\n  name: vit\n  patchSize: 1\n  width: 64\n  depth: 1\n  heads: 16\n  mlpWidth: 64\n',
      512,
      ['its largest activation for a 512-example micro-batch, needs 18.8 GiB', 'lower train.batchSize (512) or raise train.accumulationSteps (1)'],
    ],
  ] as const)('refuses a run whose largest tensor does not fit one GPU buffer, %s: exit 2, one line, nothing written', async (_what, model, batchSize, [tensor, change]) => {
    const file = join(work.path, `wide-${batchSize}.yaml`);
    const data = 'data:\n  name: synthetic\n  inputShape: [28, 28, 1]\n  classes: 10\n  trainExamples: 1024\n  testExamples: 64\n';
    writeFileSync(file, `${model}${data}optimizer:\n  name: lion\ntrain:\n  steps: 2\n  batchSize: ${batchSize}\n  backend: webgpu\n`);
    const out = join(work.path, `wide-${batchSize}`);
    const result = await runCliAsync(['train', file, '--set', `output.dir=${out}`], { env });
    expect(result.code, result.stderr).toBe(2);
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // The limit is the adapter's own (lavapipe: maxStorageBufferBindingSize, 128.0 MiB).
    const limit = "more than the GPU adapter's (maxStorageBufferBindingSize|maxBufferSize) \\([\\d.]+ [MG]iB\\)";
    const line = new RegExp(`^lion-train: this run's largest tensor, ${escape(tensor)}, ${limit}; ${escape(change)}$`);
    const lines = result.stderr.split('\n').filter((l) => l.startsWith('lion-train:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(line);
    expect(hasStackTrace(result.stderr)).toBe(false);
    expect(existsSync(out)).toBe(false);
  });

  it('with no adapter, exits 2 saying what was found and how to get one', async () => {
    const result = await runCliAsync(train('none', 'train.backend=webgpu'), { env: { VK_ICD_FILENAMES: join(work.path, 'no-such-icd.json') } });
    expect(result.code).toBe(2);
    const line = result.stderr.split('\n').find((l) => l.startsWith('lion-train:'));
    expect(line).toBe(
      `lion-train: train.backend webgpu: no WebGPU adapter (Dawn found none on Vulkan with VK_ICD_FILENAMES=${join(work.path, 'no-such-icd.json')}); ` +
        'install the GPU’s driver with Vulkan support and the Vulkan loader (Debian: libvulkan1 and the vendor’s ICD), or, for a software adapter, ' +
        'point VK_ICD_FILENAMES at a Mesa ≥ 24 lvp_icd.json (`npm run system-pieces` unpacks one into .cache/lavapipe/)',
    );
    expect(hasStackTrace(result.stderr)).toBe(false);
  });
});
