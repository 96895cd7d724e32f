import * as tf from '@tensorflow/tfjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend.js';
import { loadConfig } from '../../src/config/index.js';
import type { RunConfig } from '../../src/config/types.generated.js';
import { EXIT, UserError } from '../../src/errors.js';
import { modelFamily } from '../../src/models/registry.js';
import { allocationFailure, checkMemory, estimateRunMemory, isAllocationFailure, memoryLimits, WASM_ADDRESS_SPACE } from '../../src/train/memory.js';
import { buildPlan, disposePlan } from '../../src/train/plan.js';
import { evaluate } from '../../src/train/evaluate.js';
import { trainStep } from '../../src/train/step.js';
import { tempDir } from '../helpers/cli.js';

const dir = tempDir('lion-train-memory-');
beforeAll(async () => {
  await initBackend('cpu');
});
afterAll(() => dir.cleanup());

const OPTIMIZERS = 'optimizer:\n  name: lion\n  lion: { learningRate: 1.0e-3 }\n  adamw: { learningRate: 1.0e-3 }\n  adafactor: { learningRate: 1.0e-3 }\n';
const image = 'data:\n  name: synthetic\n  inputShape: [28, 28, 1]\n  classes: 10\n  trainExamples: 256\n  testExamples: 16\n';

/** Small configs of every family (the trainer's real defaults filled in by the loader). */
const CONFIGS: Record<string, string> = {
  mlp: `model:\n  name: mlp\n  hidden: [256, 128]\n${image}${OPTIMIZERS}train:\n  steps: 1\n  batchSize: 64\n  backend: cpu\n`,
  'mlp-adamw-dropout': `model:\n  name: mlp\n  hidden: [512]\n  dropout: 0.1\n${image}${OPTIMIZERS.replace('name: lion', 'name: adamw')}train:\n  steps: 1\n  batchSize: 32\n  backend: cpu\n`,
  cnn: `model:\n  name: cnn\n  conv: [{ channels: 8, kernel: 3 }, { channels: 16, kernel: 3 }]\n  dense: [32]\n${image}${OPTIMIZERS}train:\n  steps: 1\n  batchSize: 16\n  backend: cpu\n`,
  vit: `model:\n  name: vit\n  patchSize: 7\n  width: 32\n  depth: 2\n  heads: 4\n  mlpWidth: 64\n${image}${OPTIMIZERS}train:\n  steps: 1\n  batchSize: 16\n  backend: cpu\n`,
  gpt: `model:\n  name: gpt\n  contextLength: 32\n  width: 32\n  depth: 2\n  heads: 4\n  mlpWidth: 64\ndata:\n  name: text\n  path: story.txt\n${OPTIMIZERS}train:\n  steps: 1\n  batchSize: 8\n  backend: cpu\n`,
};

function config(name: string, set: string[] = []): RunConfig {
  writeFileSync(join(dir.path, 'story.txt'), 'Call me Ishmael. Some years ago, never mind how long precisely, having little money in my purse. '.repeat(40));
  const file = join(dir.path, `${name}.yaml`);
  writeFileSync(file, CONFIGS[name]);
  return loadConfig(file, { set }).config;
}

/**
 * The peak of tfjs's tracked tensor bytes over one training step on cpu, parameters and optimizer state
 * included (tf.profile's peakBytes starts from the bytes alive when it begins).
 */
async function measuredPeak(c: RunConfig): Promise<{ peak: number; parameters: number }> {
  const plan = await buildPlan(c);
  try {
    const batch = plan.dataset.train.gather(Array.from({ length: c.train.batchSize }, (_, i) => i));
    const settings = { model: plan.model, optimizer: plan.optimizer, accumulationSteps: c.train.accumulationSteps, gradClipNorm: c.train.gradClipNorm, labelSmoothing: c.train.labelSmoothing, seed: 0 };
    trainStep(settings, batch, 0, true); // the first step creates the optimizer state
    const info = await tf.profile(() => {
      trainStep(settings, batch, 1, true);
    });
    return { peak: info.peakBytes, parameters: plan.model.parameterCount };
  } finally {
    disposePlan(plan);
  }
}

describe('memory estimate', () => {
  // The stated factor (README): the measured peak lies within [0.5, 2] times the estimate.
  it.each(Object.keys(CONFIGS))('%s: parameters exact, estimate within a factor 2 of the measured peak', async (name) => {
    const c = config(name);
    const { peak, parameters } = await measuredPeak(c);
    const plan = await buildPlan(c);
    const memory = modelFamily(c.model.name!).memory!(c.model as never, plan.dataset.spec);
    disposePlan(plan);
    expect(memory.parameters).toBe(parameters);
    const estimate = estimateRunMemory(c, memory).total;
    const ratio = peak / estimate;
    console.log(`${name}: estimate ${(estimate / 2 ** 20).toFixed(2)} MiB, measured peak ${(peak / 2 ** 20).toFixed(2)} MiB, ratio ${ratio.toFixed(2)}`);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });

  // The same factor for the evaluation peak: one batch's forward values on top of the parameters and state.
  it.each(['mlp', 'cnn', 'vit', 'gpt'])('%s: the evaluation estimate within a factor 2 of the measured peak', async (name) => {
    const c = config(name);
    const plan = await buildPlan(c);
    try {
      const split = (plan.dataset.test ?? plan.dataset.validation)!;
      const evalBatch = Math.min(64, split.size);
      const info = await tf.profile(async () => {
        await evaluate(plan.model, split, plan.task, evalBatch, evalBatch);
      });
      const memory = modelFamily(c.model.name!).memory!(c.model as never, plan.dataset.spec);
      const estimate = estimateRunMemory(c, memory, evalBatch);
      // peakBytes counts the bytes alive when profiling begins (the parameters). No optimizer step has run, so
      // the state is not allocated yet: compare like with like.
      const measured = info.peakBytes;
      const expected = estimate.evaluation - estimate.optimizerState;
      const ratio = measured / expected;
      console.log(`${name}: evaluation estimate ${(expected / 2 ** 20).toFixed(2)} MiB, measured peak ${(measured / 2 ** 20).toFixed(2)} MiB, ratio ${ratio.toFixed(2)}`);
      expect(ratio).toBeGreaterThan(0.5);
      expect(ratio).toBeLessThan(2);
    } finally {
      disposePlan(plan);
    }
  });

  it('counts optimizer state by optimizer, accumulation and worker threads', () => {
    const memory = { parameters: 1000, activationsPerExample: 10 };
    const lion = estimateRunMemory(config('mlp'), memory);
    const adamw = estimateRunMemory(config('mlp', ['optimizer.name=adamw']), memory);
    expect([lion.optimizerState, adamw.optimizerState]).toEqual([4000, 8000]);
    expect(lion.activations).toBe(3 * 4 * 10 * 64);
    const accumulated = estimateRunMemory(config('mlp', ['train.accumulationSteps=4']), memory);
    expect([accumulated.microBatch, accumulated.activations, accumulated.updateBuffers]).toEqual([16, 3 * 4 * 10 * 16, 8000]);
  });

  it('refuses a run over a limit with the estimate, the limit and what to change (exit 2)', () => {
    const c = config('vit', ['model.width=8192', 'model.mlpWidth=8192', 'model.heads=8']);
    const memory = modelFamily('vit').memory!(c.model as never, { kind: 'image', shape: [28, 28, 1], classes: 10 });
    let error: unknown;
    try {
      checkMemory(c, memory, 'wasm', 64 * 1024 ** 3);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).exitCode).toBe(EXIT.usage);
    expect((error as UserError).message).toMatch(/^this run needs about [\d.]+ GiB \(parameters [\d.]+ GiB, .*\), more than the wasm backend's 4 GiB address space \(4\.0 GiB\); make model\.width \(8192\), model\.mlpWidth or model\.depth smaller$/);
    // The same run on a GPU has no known limit; on cpu it must fit the memory available.
    expect(checkMemory(c, memory, 'gpu', 1024).total).toBeGreaterThan(WASM_ADDRESS_SPACE);
    expect(() => checkMemory(c, memory, 'cpu', 2 * 1024 ** 3)).toThrow(/more than the memory available to this process \(2\.0 GiB\)/);
    const wide = config('mlp', ['model.hidden=[65536]', 'train.batchSize=4096']);
    const mlpMemory = modelFamily('mlp').memory!(wide.model as never, { kind: 'image', shape: [28, 28, 1], classes: 10 });
    expect(() => checkMemory(wide, mlpMemory, 'cpu', 1024 ** 3)).toThrow(/; lower train\.batchSize \(4096\) or raise train\.accumulationSteps \(1\)$/);
  });

  it('on webgpu refuses a run whose largest tensor does not fit one GPU buffer, naming the tensor, the limit and what to change', () => {
    const limits = { maxBufferSize: 256 * 2 ** 20, maxStorageBufferBindingSize: 128 * 2 ** 20 };
    const plenty = 64 * 1024 ** 3;
    const mnist = { kind: 'image' as const, shape: [28, 28, 1], classes: 10 };
    // A parameter matrix: 784 × 50000 float32 = 149.5 MiB.
    const wide = config('mlp', ['model.hidden=[50000]']);
    const wideMemory = modelFamily('mlp').memory!(wide.model as never, mnist);
    const refusal = (run: () => unknown): UserError => {
      try {
        run();
      } catch (error) {
        return error as UserError;
      }
      throw new Error('not refused');
    };
    const parameter = refusal(() => checkMemory(wide, wideMemory, 'webgpu', plenty, limits));
    expect(parameter).toBeInstanceOf(UserError);
    expect(parameter.exitCode).toBe(EXIT.usage);
    expect(parameter.message).toBe(
      "this run's largest tensor, its largest parameter matrix, needs 149.5 MiB, more than the GPU adapter's maxStorageBufferBindingSize (128.0 MiB); make model.hidden ([50000]) smaller",
    );
    // The tighter of the two limits is named.
    expect(refusal(() => checkMemory(wide, wideMemory, 'webgpu', plenty, { maxBufferSize: 64 * 2 ** 20, maxStorageBufferBindingSize: 2 ** 30 })).message).toMatch(
      /more than the GPU adapter's maxBufferSize \(64\.0 MiB\); make model\.hidden/,
    );
    // An activation: attention scores of 785 tokens (patch 1 and a class token), 4 heads, 16 examples.
    const scores = config('vit', ['model.patchSize=1', 'model.pooling=cls']);
    const scoresMemory = modelFamily('vit').memory!(scores.model as never, mnist);
    expect(refusal(() => checkMemory(scores, scoresMemory, 'webgpu', plenty, limits)).message).toBe(
      `this run's largest tensor, its largest activation for a 16-example micro-batch, needs ${(4 * 4 * 785 * 785 * 16 / 2 ** 20).toFixed(1)} MiB, ` +
        "more than the GPU adapter's maxStorageBufferBindingSize (128.0 MiB); lower train.batchSize (16) or raise train.accumulationSteps (1)",
    );
    // Smaller micro-batches, or a narrower layer, fit; the CPU-side limit still applies to the whole estimate.
    const accumulated = config('vit', ['model.patchSize=1', 'model.pooling=cls', 'train.accumulationSteps=4']);
    expect(() => checkMemory(accumulated, scoresMemory, 'webgpu', plenty, limits)).not.toThrow();
    const narrow = config('mlp', ['model.hidden=[20000]']);
    const narrowMemory = modelFamily('mlp').memory!(narrow.model as never, mnist);
    expect(() => checkMemory(narrow, narrowMemory, 'webgpu', plenty, limits)).not.toThrow();
    expect(() => checkMemory(narrow, narrowMemory, 'webgpu', 2 ** 20, limits)).toThrow(/more than the memory available to this process \(1\.0 MiB\)/);
  });

  it('orders the limits of each backend, tightest first', () => {
    expect(memoryLimits('wasm', 8 * 1024 ** 3).map((l) => l.bytes)).toEqual([WASM_ADDRESS_SPACE, 8 * 1024 ** 3]);
    expect(memoryLimits('wasm', 1024 ** 3).map((l) => l.bytes)).toEqual([1024 ** 3, WASM_ADDRESS_SPACE]);
    expect(memoryLimits('cpu', 1024).map((l) => l.bytes)).toEqual([1024]);
    expect(memoryLimits('gpu', 1024)).toEqual([]);
  });

  it('tells allocation failures from other errors, and reports them in one line with the step (exit 1)', () => {
    for (const message of ['memory access out of bounds', 'Array buffer allocation failed', 'Aborted(OOM)', 'Invalid typed array length: 5000000000']) {
      expect(isAllocationFailure(new RangeError(message))).toBe(true);
    }
    expect(isAllocationFailure(new Error('shapes [2,3] and [4,5] do not match'))).toBe(false);
    const failure = allocationFailure(new Error('memory access out of bounds\n    at wasm-function[123]'), 7);
    expect(failure.message).toBe("out of memory at step 7: the backend could not allocate a tensor (memory access out of bounds); lower train.batchSize or the model's size");
    expect(failure.exitCode).toBe(EXIT.failed);
  });
});
