import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import type { GptModelConfig, MlpModelConfig, ModelConfig } from '../../src/config/types.generated.js';
import type { Batch } from '../../src/data/dataset.js';
import { gpt } from '../../src/models/gpt.js';
import type { InputSpec, Model } from '../../src/models/model.js';
import { mlp } from '../../src/models/mlp.js';
import { AdamW } from '../../src/optim/adamw.js';
import { Rng } from '../../src/random.js';
import { runLoop } from '../../src/train/loop.js';
import { buildPlan, disposePlan } from '../../src/train/plan.js';
import { prepareRunDirectory } from '../../src/train/run-dir.js';
import { trainStep, type StepResult } from '../../src/train/step.js';
import { layoutOf } from '../../src/train/workers/layout.js';
import { trainStepWithWorkers, WorkerFailure, WorkerPool } from '../../src/train/workers/index.js';
import { createProgress } from '../../src/telemetry/progress.js';
import { parameterValues, useBackend } from '../models/helpers.js';

const FIXTURES = new URL('../fixtures/threads/', import.meta.url);
const pools: WorkerPool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

/** 12 examples: vectors of 5 features in 3 classes, or windows of 4 tokens over 6 symbols. */
function batchOf(kind: 'vector' | 'tokens', seed = 3): Batch {
  const rng = Rng.derive(seed, 'workers-test', kind);
  if (kind === 'vector') {
    return { x: Float32Array.from({ length: 60 }, () => rng.normal()), xShape: [12, 5], y: Int32Array.from({ length: 12 }, () => rng.int(3)), yShape: [12] };
  }
  const ids = () => Int32Array.from({ length: 48 }, () => rng.int(6));
  return { x: ids(), xShape: [12, 4], y: ids(), yShape: [12, 4] };
}

interface Case {
  label: string;
  kind: 'vector' | 'tokens';
  config: ModelConfig;
  spec: InputSpec;
  accumulationSteps: number;
  workers: number;
}

// Dropout is on, so a micro-batch given the wrong dropout seed on a worker would show.
const MLP = { name: 'mlp', hidden: [8], activation: 'relu', dropout: 0.3 } as MlpModelConfig;
const GPT = { name: 'gpt', contextLength: 4, width: 8, depth: 1, heads: 2, mlpWidth: 8, tiedEmbeddings: true, gelu: 'sigmoid', dropout: 0.2 } as GptModelConfig;
const CASES: Case[] = [
  { label: 'mlp, 4 micro-batches over 2 threads', kind: 'vector', config: MLP, spec: { kind: 'vector', shape: [5], classes: 3 }, accumulationSteps: 4, workers: 2 },
  { label: 'mlp, 4 micro-batches over 4 threads', kind: 'vector', config: MLP, spec: { kind: 'vector', shape: [5], classes: 3 }, accumulationSteps: 4, workers: 4 },
  { label: 'gpt, 2 micro-batches over 2 threads', kind: 'tokens', config: GPT, spec: { kind: 'tokens', shape: [4], classes: 6 }, accumulationSteps: 2, workers: 2 },
];

const build = (c: Case): Model => (c.kind === 'vector' ? mlp : gpt).build(c.config as never, c.spec, 4);

async function startPool(c: Case, model: Model): Promise<WorkerPool> {
  const pool = await WorkerPool.start({
    threads: c.workers,
    share: c.accumulationSteps / c.workers,
    backend: 'wasm',
    model: c.config,
    spec: c.spec,
    labelSmoothing: 0.1,
    seed: 1,
    layout: layoutOf(model),
  });
  pools.push(pool);
  return pool;
}

/** Three AdamW steps (gradients clipped) on fresh parameters; with a pool, shared over its threads. */
async function threeSteps(c: Case, pool?: WorkerPool): Promise<{ results: StepResult[]; params: Map<string, Float32Array> }> {
  const model = build(c);
  const optimizer = new AdamW({ learningRate: 1e-2, weightDecay: 0.1 });
  const settings = { model, optimizer, accumulationSteps: c.accumulationSteps, gradClipNorm: 0.5, labelSmoothing: 0.1, seed: 1 };
  const results: StepResult[] = [];
  for (let step = 0; step < 3; step++) {
    const batch = batchOf(c.kind, step);
    results.push(pool ? await trainStepWithWorkers(settings, pool, batch, step, true) : trainStep(settings, batch, step, true));
  }
  const params = parameterValues(model);
  optimizer.dispose();
  model.dispose();
  return { results, params };
}

describe('train.workers: steps shared with worker threads', () => {
  it.each(CASES)('$label: the same steps as one thread with the same micro-batches', async (c) => {
    await useBackend('wasm');
    const model = build(c);
    const pool = await startPool(c, model);
    model.dispose();
    const one = await threeSteps(c);
    const shared = await threeSteps(c, pool);
    one.results.forEach((r, i) => {
      expect(shared.results[i].loss, `step ${i} loss`).toBeCloseTo(r.loss, 6);
      expect(shared.results[i].gradNorm, `step ${i} gradNorm`).toBeCloseTo(r.gradNorm, 6);
      expect(shared.results[i].updateNorm, `step ${i} updateNorm`).toBeCloseTo(r.updateNorm, 6);
      expect(shared.results[i].correct).toBe(r.correct);
    });
    for (const [name, values] of one.params) {
      const other = shared.params.get(name)!;
      let worst = 0;
      for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(values[i] - other[i]));
      expect(worst, name).toBeLessThan(1e-6);
    }
    // The steps moved the parameters: a pool that did nothing would not match.
    const start = parameterValues(build(c));
    expect([...one.params].some(([name, v]) => v.some((x, i) => x !== start.get(name)![i]))).toBe(true);
    tf.disposeVariables();

    // Same config, same seed: the same numbers, run after run.
    const again = await threeSteps(c, pool);
    expect(again.results).toEqual(shared.results);
    expect(again.params).toEqual(shared.params);
  });

  it('a worker thread that throws fails the step with a WorkerFailure naming thread and step, and the pool closes', async () => {
    await useBackend('wasm');
    const c = CASES[0];
    const model = build(c);
    const pool = await startPool(c, model);
    pool.publishParameters(model);
    model.dispose();
    // Micro-batches of 7 features for a model of 5: the worker's forward pass throws.
    const wrong = (): Batch => ({ x: new Float32Array(21), xShape: [3, 7], y: new Int32Array(3), yShape: [3] });
    await expect(pool.compute(7, [wrong(), wrong()])).rejects.toThrow(/^worker thread 1 failed at step 7: /);
    await expect(pool.compute(8, [wrong(), wrong()])).rejects.toBeInstanceOf(WorkerFailure);
    await pool.close();
    expect(pool.running).toBe(0);
  });

  it('a worker thread that exits mid-step fails the step (exit code named) instead of hanging', async () => {
    const pool = await WorkerPool.start({ ...poolOptionsFor(CASES[0]), entry: new URL('exits-on-step.ts', FIXTURES) });
    pools.push(pool);
    await expect(pool.compute(0, [batchOf('vector', 1), batchOf('vector', 2)])).rejects.toThrow('worker thread 1 exited at step 0 (exit code 3)');
    await pool.close();
    expect(pool.running).toBe(0);
  });

  it('a worker thread that cannot start fails the start with its error', async () => {
    const failed = WorkerPool.start({ ...poolOptionsFor(CASES[0]), threads: 3, entry: new URL('throws-on-start.ts', FIXTURES) });
    await expect(failed).rejects.toThrow(/^worker thread \d failed while starting: no backend in this thread/);
  });

  it('a run whose worker thread crashes ends with status failed and its reason, and writes its summary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lion-train-workers-'));
    try {
      const { config } = loadConfig('configs/tiny.yaml', { set: ['train.workers=2', 'train.accumulationSteps=2', 'log.progress=none'] });
      const plan = await buildPlan(config);
      const pool = await WorkerPool.start({ ...poolOptionsFor(CASES[0]), share: 1, layout: layoutOf(plan.model), entry: new URL('exits-on-step.ts', FIXTURES) });
      pools.push(pool);
      try {
        const paths = prepareRunDirectory(join(dir, 'run'), 'new');
        const summary = await runLoop(plan, { paths, progress: createProgress('none', 10, () => {}), configHash: 'test', stop: { signal: null }, workers: pool });
        expect(summary).toMatchObject({ status: 'failed', reason: 'worker thread 1 exited at step 0 (exit code 3)', steps: 0 });
        expect(JSON.parse(readFileSync(paths.summary, 'utf8'))).toMatchObject({ status: 'failed', reason: summary.reason });
      } finally {
        await pool.close();
        disposePlan(plan);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function poolOptionsFor(c: Case) {
  const layout = { names: ['w'], shapes: [[1]], offsets: [0], total: 1 };
  return { threads: c.workers, share: c.accumulationSteps / c.workers, backend: 'wasm' as const, model: c.config, spec: c.spec, labelSmoothing: 0, seed: 1, layout };
}
