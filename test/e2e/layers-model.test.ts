/** TensorFlow.js Layers models (model.json, or a module returning a tf.LayersModel) trained by lion-train's loop. */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasStackTrace, ROOT, runCli, runCliAsync, tempDir } from '../helpers/cli.js';
import { readRun } from '../helpers/runs.js';

const work = tempDir('lion-train-layers-');
afterAll(() => work.cleanup());

const EXAMPLE = 'examples/layers-model/layers.yaml';
const sets = (...set: string[]) => set.flatMap((s) => ['--set', s]);
const trainArgs = (config: string, out: string, ...set: string[]) => ['train', config, '--quiet', ...sets(`output.dir=${join(work.path, out)}`, ...set)];
const trajectory = (dir: string) => readRun(dir).metrics.map(({ elapsed: _elapsed, ...rest }) => rest);

function checkpointTensors(dir: string): Record<string, number[]> {
  const name = readFileSync(join(dir, 'checkpoints/latest'), 'utf8').trim();
  const bytes = readFileSync(join(dir, 'checkpoints', name, 'model.safetensors'));
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
  const body = bytes.subarray(8 + length);
  return Object.fromEntries(
    Object.entries(header)
      .filter(([n]) => n !== '__metadata__')
      .map(([n, { data_offsets: [a, b] }]) => [n, [...new Float32Array(body.buffer.slice(body.byteOffset + a, body.byteOffset + b))]]),
  );
}

describe('layers models', () => {
  it('the model.json example trains in under a minute, its parameters named by layer and weight', async () => {
    const began = performance.now();
    const result = await runCliAsync(trainArgs(EXAMPLE, 'example'));
    expect(result.code, result.stderr).toBe(0);
    expect((performance.now() - began) / 1000).toBeLessThan(60);
    const run = readRun(join(work.path, 'example'));
    expect(run.summary).toMatchObject({ status: 'completed', model: 'layers', parameterCount: 16 * 32 + 32 + 32 * 4 + 4 });
    expect(run.summary.final.test!.accuracy).toBeGreaterThan(0.85);
    expect(Object.keys(checkpointTensors(join(work.path, 'example'))).sort()).toEqual(['classes.bias', 'classes.kernel', 'hidden.bias', 'hidden.kernel']);
  });

  it('resumes bit-exactly', async () => {
    const common = ['train.steps=30', 'log.everySteps=5', 'train.evalEvery=10', 'checkpoint.everySteps=15'];
    const [straight, paused] = await Promise.all([runCliAsync(trainArgs(EXAMPLE, 'straight', ...common)), runCliAsync([...trainArgs(EXAMPLE, 'paused', ...common), '--pause-at', '11'])]);
    expect(straight.code, straight.stderr).toBe(0);
    expect(paused.code, paused.stderr).toBe(0);
    const resumed = await runCliAsync([...trainArgs(EXAMPLE, 'paused', ...common), '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(trajectory(join(work.path, 'paused'))).toEqual(trajectory(join(work.path, 'straight')));
    expect(checkpointTensors(join(work.path, 'paused'))).toEqual(checkpointTensors(join(work.path, 'straight')));
  });

  it('starts from the weights in model.json; without weights, from train.seed', async () => {
    const topologyOnly = join(work.path, 'topology');
    const json = JSON.parse(readFileSync(join(ROOT, 'examples/layers-model/model.json'), 'utf8'));
    delete json.weightsManifest;
    mkdirSync(topologyOnly);
    writeFileSync(join(topologyOnly, 'model.json'), JSON.stringify(json));
    copyFileSync(join(ROOT, EXAMPLE), join(topologyOnly, 'run.yaml'));
    const config = join(topologyOnly, 'run.yaml');
    // One step with learning rate ~0 (warmup): the checkpoint holds the initial parameters, up to one tiny update.
    const one = ['train.steps=1', 'checkpoint.everySteps=1', 'schedule.warmupSteps=0', 'optimizer.lion.learningRate=1e-12'];
    const runs = await Promise.all([
      runCliAsync(trainArgs(config, 'seed0-a', ...one, 'train.seed=0')),
      runCliAsync(trainArgs(config, 'seed0-b', ...one, 'train.seed=0')),
      runCliAsync(trainArgs(config, 'seed1', ...one, 'train.seed=1')),
      runCliAsync(trainArgs(EXAMPLE, 'saved', ...one, 'train.seed=1')),
    ]);
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const [a, b, c, saved] = ['seed0-a', 'seed0-b', 'seed1', 'saved'].map((d) => checkpointTensors(join(work.path, d)));
    expect(a).toEqual(b);
    expect(a['hidden.kernel']).not.toEqual(c['hidden.kernel']);
    // The saved weights: weights.bin holds hidden.kernel first ([16, 32] float32).
    const file = readFileSync(join(ROOT, 'examples/layers-model/weights.bin'));
    const weights = new Float32Array(file.buffer.slice(file.byteOffset, file.byteOffset + 16 * 32 * 4));
    saved['hidden.kernel'].forEach((v, i) => expect(Math.abs(v - weights[i])).toBeLessThan(1e-9));
  });

  it('a module returning a tf.LayersModel trains, on worker threads too, with the same numbers', async () => {
    const config = 'test/fixtures/plugins/layers-factory.yaml';
    const [one, two] = await Promise.all([runCliAsync(trainArgs(config, 'factory-1')), runCliAsync(trainArgs(config, 'factory-2', 'train.workers=2', 'train.accumulationSteps=2'))]);
    expect(one.code, one.stderr).toBe(0);
    expect(two.code, two.stderr).toBe(0);
    expect(readRun(join(work.path, 'factory-1')).summary).toMatchObject({ model: 'smallnet', parameterCount: 36 * 24 + 24 + 24 * 3 + 3 });
    expect(Object.keys(checkpointTensors(join(work.path, 'factory-1'))).sort()).toEqual(['hidden.bias', 'hidden.kernel', 'out.bias', 'out.kernel']);
    const noAccumulation = await runCliAsync(trainArgs(config, 'factory-3', 'train.accumulationSteps=2'));
    expect(noAccumulation.code).toBe(0);
    expect(trajectory(join(work.path, 'factory-2'))).toEqual(trajectory(join(work.path, 'factory-3')));
  });

  it('a model.json that does not fit the data is a located config error', () => {
    const result = runCli(['validate', EXAMPLE, ...sets('data.inputShape=[8]')]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(`${EXAMPLE}:7:9 model.path: the model takes examples of shape [16], the data gives [8]`);
    const missing = runCli(['validate', EXAMPLE, ...sets('model.path=nowhere/model.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`--set model.path=nowhere/model.json: file not found: ${join(ROOT, 'nowhere/model.json')}`);
    expect(hasStackTrace(missing.stderr)).toBe(false);
  });
});
