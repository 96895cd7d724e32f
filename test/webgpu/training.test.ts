// The webgpu backend in one process, against the cpu backend: the golden optimizer trajectories (tfjs-op
// path; the fused WGSL path is in fused.test.ts), ~20 training steps of every model family (losses per step,
// the optimizers on their default path, which on webgpu is the fused WGSL passes), and a step the GPU rejects.
// Runs on lavapipe (Mesa's software Vulkan) where there is no GPU: see test/helpers/webgpu.ts.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend.js';
import type { Batch } from '../../src/data/dataset.js';
import { modelFamily } from '../../src/models/registry.js';
import { Adafactor, AdamW, Lion } from '../../src/optim/index.js';
import { readStepResultAsync, trainStepTensors, type StepSettings } from '../../src/train/step.js';
import { takeDeviceError } from '../../src/webgpu.js';
import { dispatchCounts } from '../../src/optim/wgsl.js';
import { applyStep, caseVariables, disposeAll, firstMismatch, loadGoldenCases, optimizerForCase } from '../optim/helpers.js';
import { useTestAdapter } from '../helpers/webgpu.js';

useTestAdapter();
const STEPS = 20;

/** Relative tolerance on a step's loss, webgpu vs cpu (measured worst on lavapipe: see README, GPU). */
const LOSS_TOLERANCE = 1e-4;

interface FamilyCase {
  family: string;
  model: Record<string, unknown>;
  input: { kind: 'image' | 'vector' | 'tokens'; shape: number[]; classes: number };
  optimizer: () => tf.Optimizer;
  step: Partial<StepSettings>;
}

const FAMILIES: FamilyCase[] = [
  {
    family: 'mlp',
    model: { name: 'mlp', hidden: [24], activation: 'relu', dropout: 0.1 },
    input: { kind: 'vector', shape: [12], classes: 4 },
    optimizer: () => new Lion({ learningRate: 3e-3, weightDecay: 0.1 }),
    step: { accumulationSteps: 2, gradClipNorm: 0.5, labelSmoothing: 0.1 },
  },
  {
    family: 'cnn',
    model: { name: 'cnn', conv: [{ channels: 4, kernel: 3, stride: 1, padding: 'same', pool: 2 }], dense: [16], activation: 'relu', dropout: 0 },
    input: { kind: 'image', shape: [8, 8, 1], classes: 4 },
    optimizer: () => new AdamW({ learningRate: 1e-2, weightDecay: 0.01 }),
    step: {},
  },
  {
    family: 'vit',
    model: { name: 'vit', patchSize: 4, width: 16, depth: 1, heads: 2, mlpWidth: 32, pooling: 'mean', gelu: 'sigmoid', dropout: 0.1 },
    input: { kind: 'image', shape: [8, 8, 1], classes: 4 },
    optimizer: () => new Adafactor({ learningRate: 1e-2, relativeStep: false, scaleParameter: false }),
    step: { gradClipNorm: 1 },
  },
  {
    family: 'gpt',
    model: { name: 'gpt', contextLength: 8, width: 16, depth: 1, heads: 2, mlpWidth: 32, gelu: 'tanh', dropout: 0 },
    input: { kind: 'tokens', shape: [8], classes: 12 },
    optimizer: () => new Lion({ learningRate: 1e-3, weightDecay: 0.1 }),
    step: { accumulationSteps: 2 },
  },
];

/** Batch `s` of 16 examples, the same on every backend. */
function batchFor(c: FamilyCase, s: number): Batch {
  const n = 16;
  const per = c.input.shape.reduce((a, b) => a * b, 1);
  if (c.input.kind === 'tokens') {
    const ids = Int32Array.from({ length: n * (per + 1) }, (_, i) => (i * 7 + s * 3 + (i % 5)) % c.input.classes);
    const x = new Int32Array(n * per);
    const y = new Int32Array(n * per);
    for (let j = 0; j < n; j++) {
      x.set(ids.subarray(j * (per + 1), j * (per + 1) + per), j * per);
      y.set(ids.subarray(j * (per + 1) + 1, (j + 1) * (per + 1)), j * per);
    }
    return { x, xShape: [n, per], y, yShape: [n, per] };
  }
  const y = Int32Array.from({ length: n }, (_, i) => (i * 5 + s) % c.input.classes);
  const x = Float32Array.from({ length: n * per }, (_, i) => Math.sin(0.37 * i + s) + 0.5 * y[Math.floor(i / per)]);
  return { x, xShape: [n, ...c.input.shape], y, yShape: [n] };
}

async function lossesOn(backend: 'cpu' | 'webgpu', c: FamilyCase): Promise<number[]> {
  await initBackend(backend);
  const model = modelFamily(c.family).build(c.model as never, c.input, 7);
  const optimizer = c.optimizer();
  const settings: StepSettings = { model, optimizer, accumulationSteps: 1, gradClipNorm: null, labelSmoothing: 0, seed: 3, ...c.step };
  const losses: number[] = [];
  const passes = () => Object.values(dispatchCounts()).reduce((a, b) => a + b, 0);
  const before = passes();
  try {
    for (let s = 0; s < STEPS; s++) {
      const result = await readStepResultAsync(trainStepTensors(settings, batchFor(c, s), s, s % 5 === 0));
      losses.push(result.loss);
    }
    // Every step's update ran as fused WGSL passes on webgpu (at least one per parameter), none on cpu.
    if (backend === 'webgpu') expect(passes() - before).toBeGreaterThanOrEqual(STEPS * model.params.size);
    else expect(passes()).toBe(before);
  } finally {
    optimizer.dispose();
    model.dispose();
  }
  expect(takeDeviceError()).toBeUndefined();
  return losses;
}

describe('webgpu vs cpu: 20 training steps of every model family', () => {
  it.each(FAMILIES.map((c) => [c.family, c] as const))('%s: every step’s loss within 1e-4 (relative)', async (_name, c) => {
    const cpu = await lossesOn('cpu', c);
    const webgpu = await lossesOn('webgpu', c);
    expect(tf.getBackend()).toBe('webgpu');
    expect(cpu[STEPS - 1]).toBeLessThan(cpu[0]); // it trains
    const worst = Math.max(...cpu.map((l, i) => Math.abs(l - webgpu[i]) / Math.abs(l)));
    expect(worst, `cpu ${cpu.join(' ')}\nwebgpu ${webgpu.join(' ')}`).toBeLessThan(LOSS_TOLERANCE);
  });
});

describe('webgpu: the golden trajectories, op by op', () => {
  beforeAll(async () => {
    await initBackend('webgpu');
  });
  it.each(loadGoldenCases().map((c) => [c.file, c] as const))('%s follows the reference trajectory', async (_file, c) => {
    const vars = caseVariables(c);
    const opt = optimizerForCase(c, false);
    try {
      for (let k = 0; k < c.steps.length; k++) {
        applyStep(opt, c, vars, k);
        for (const [name, want] of Object.entries(c.steps[k].expected)) {
          const problem = firstMismatch(await vars[name].data(), want);
          if (problem !== null) throw new Error(`${c.file} step ${k} variable '${name}': ${problem}`);
        }
      }
      expect(takeDeviceError()).toBeUndefined();
    } finally {
      opt.dispose();
      disposeAll(vars);
    }
  });
});

describe('webgpu: work the GPU rejects', () => {
  it('is reported, not dropped in silence (an addN over 9 tensors needs 10 storage buffers, a shader gets 8)', async () => {
    await initBackend('webgpu');
    expect(takeDeviceError()).toBeUndefined();
    const sum = tf.addN(Array.from({ length: 9 }, (_, i) => tf.scalar(i)));
    await sum.data();
    expect(takeDeviceError()).toMatch(/storage buffers \(10\).*exceeds the maximum per-stage limit \(8\)/);
    expect(takeDeviceError()).toBeUndefined();
  });
});
