import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend.js';
import { clipByGlobalNorm, globalNorm, splitBatch } from '../../src/train/step.js';
import { lossAndCorrect } from '../../src/train/task.js';
import { createOptimizer } from '../../src/optim/factory.js';
import { multiplierSchedule } from '../../src/optim/schedules.js';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('gradient clipping by global norm', () => {
  it('scales all gradients together when their joint norm exceeds the limit', () => {
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) };
    const norm = globalNorm(Object.values(grads));
    expect(norm.dataSync()[0]).toBeCloseTo(5, 6);
    const clipped = clipByGlobalNorm(grads, norm, 1);
    const scale = 1 / (5 + 1e-6);
    expect([...clipped.a.dataSync()]).toEqual([expect.closeTo(3 * scale, 6), 0]);
    expect([...clipped.b.dataSync()]).toEqual([0, expect.closeTo(4 * scale, 6)]);
    expect(globalNorm(Object.values(clipped)).dataSync()[0]).toBeCloseTo(1, 5);
  });

  it('leaves gradients under the limit unchanged', () => {
    const grads = { a: tf.tensor1d([0.3, 0.4]) };
    const clipped = clipByGlobalNorm(grads, globalNorm([grads.a]), 1);
    expect([...clipped.a.dataSync()]).toEqual([expect.closeTo(0.3, 6), expect.closeTo(0.4, 6)]);
  });
});

describe('cross-entropy', () => {
  it('matches a hand computation, with and without label smoothing', () => {
    const logits = tf.tensor2d([[2, 0, 0], [0, 1, 3]]);
    const labels = tf.tensor1d([0, 1], 'int32');
    const logSoftmax = (row: number[]) => {
      const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
      return row.map((v) => v - lse);
    };
    const [r0, r1] = [logSoftmax([2, 0, 0]), logSoftmax([0, 1, 3])];
    const plain = -(r0[0] + r1[1]) / 2;
    const { loss, correct } = lossAndCorrect(logits, labels);
    expect(loss.dataSync()[0]).toBeCloseTo(plain, 5);
    expect(correct.dataSync()[0]).toBe(1);
    const eps = 0.1;
    const smoothTerm = (row: number[], label: number) => -row.reduce((s, v, i) => s + ((i === label ? 1 - eps : 0) + eps / 3) * v, 0);
    const smoothed = (smoothTerm(r0, 0) + smoothTerm(r1, 1)) / 2;
    expect(lossAndCorrect(logits, labels, eps).loss.dataSync()[0]).toBeCloseTo(smoothed, 5);
  });
});

describe('micro-batches', () => {
  it('split a batch into equal consecutive parts', () => {
    const batch = { x: Float32Array.from({ length: 12 }, (_, i) => i), xShape: [4, 3], y: Int32Array.from([0, 1, 2, 3]), yShape: [4] };
    const parts = splitBatch(batch, 2);
    expect(parts.map((p) => [...p.y])).toEqual([[0, 1], [2, 3]]);
    expect([...parts[1].x]).toEqual([6, 7, 8, 9, 10, 11]);
    expect(parts[1].xShape).toEqual([2, 3]);
  });
});

describe('the runner\'s optimizers', () => {
  it('exclude biases and normalisation parameters from weight decay by default', () => {
    const optimizer = createOptimizer({
      resolved: { name: 'lion', options: { learningRate: 1e-4, beta1: 0.9, beta2: 0.99, weightDecay: 1 } },
      multiplier: multiplierSchedule({ name: 'constant', warmupSteps: 0, endFactor: 0, timescale: 1, decayFraction: 0.2 }, 10),
      weightDecayExclude: ['*.bias', '*norm*'],
    }) as unknown as { isDecayed(name: string): boolean };
    expect(optimizer.isDecayed('layers.0.kernel')).toBe(true);
    expect(optimizer.isDecayed('blocks.0.attn.q.kernel')).toBe(true);
    expect(optimizer.isDecayed('layers.0.bias')).toBe(false);
    expect(optimizer.isDecayed('blocks.1.norm2.scale')).toBe(false);
    expect(optimizer.isDecayed('norm.bias')).toBe(false);
  });

  it('follow the schedule: learning rate = peak × multiplier(step)', () => {
    const optimizer = createOptimizer({
      resolved: { name: 'adamw', options: { learningRate: 2e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 } },
      multiplier: multiplierSchedule({ name: 'linear', warmupSteps: 0, endFactor: 0, timescale: 1, decayFraction: 0.2 }, 5),
      weightDecayExclude: [],
    }) as unknown as { learningRateAt(step: number): number };
    expect([0, 2, 4].map((s) => optimizer.learningRateAt(s))).toEqual([2e-3, 1.2e-3, 4e-4].map((v) => expect.closeTo(v, 12)));
  });
});
