import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { GptModelConfig, MlpModelConfig } from '../../src/config/types.generated.js';
import type { Batch } from '../../src/data/dataset.js';
import { gpt } from '../../src/models/gpt.js';
import type { Model } from '../../src/models/model.js';
import { mlp } from '../../src/models/mlp.js';
import { AdamW } from '../../src/optim/adamw.js';
import { Rng } from '../../src/random.js';
import { trainStep } from '../../src/train/step.js';
import { lossAndCorrect } from '../../src/train/task.js';
import { maxAbsDiff, parameterValues, useBackend } from '../models/helpers.js';

/** A batch of 12 examples: vectors of 5 features with 3 classes, or token windows of 4 over 6 symbols. */
function batchOf(kind: 'vector' | 'tokens'): Batch {
  const rng = Rng.derive(3, 'step-test', kind);
  if (kind === 'vector') {
    return { x: Float32Array.from({ length: 60 }, () => rng.normal()), xShape: [12, 5], y: Int32Array.from({ length: 12 }, () => rng.int(3)), yShape: [12] };
  }
  const ids = Int32Array.from({ length: 12 * 5 }, () => rng.int(6));
  const x = new Int32Array(48);
  const y = new Int32Array(48);
  for (let i = 0; i < 12; i++) {
    x.set(ids.subarray(i * 5, i * 5 + 4), i * 4);
    y.set(ids.subarray(i * 5 + 1, i * 5 + 5), i * 4);
  }
  return { x, xShape: [12, 4], y, yShape: [12, 4] };
}

const MODELS: { label: string; kind: 'vector' | 'tokens'; build: () => Model }[] = [
  {
    label: 'mlp (classification)',
    kind: 'vector',
    build: () => mlp.build({ name: 'mlp', hidden: [8], activation: 'tanh', dropout: 0 } as MlpModelConfig, { kind: 'vector', shape: [5], classes: 3 }, 4),
  },
  {
    label: 'gpt (language model)',
    kind: 'tokens',
    build: () =>
      gpt.build(
        { name: 'gpt', contextLength: 4, width: 8, depth: 1, heads: 2, mlpWidth: 8, tiedEmbeddings: true, gelu: 'sigmoid', dropout: 0 } as GptModelConfig,
        { kind: 'tokens', shape: [4], classes: 6 },
        4,
      ),
  },
];

describe('gradient accumulation', () => {
  it.each(MODELS)('$label: k micro-batches of b make the same AdamW steps as one batch of k·b', async ({ kind, build }) => {
    await useBackend('wasm');
    const batch = batchOf(kind);
    const run = (accumulationSteps: number) => {
      const model = build();
      const optimizer = new AdamW({ learningRate: 1e-2, weightDecay: 0.1 });
      const settings = { model, optimizer, accumulationSteps, gradClipNorm: null, labelSmoothing: 0, seed: 1 };
      const results = [0, 1].map((step) => trainStep(settings, batch, step, true));
      const params = parameterValues(model);
      optimizer.dispose();
      model.dispose();
      return { results, params };
    };
    const whole = run(1);
    for (const k of [3, 4]) {
      const accumulated = run(k);
      whole.results.forEach((r, i) => {
        expect(accumulated.results[i].loss).toBeCloseTo(r.loss, 5);
        expect(accumulated.results[i].gradNorm).toBeCloseTo(r.gradNorm, 5); // the averaged gradient, not a sum
        expect(accumulated.results[i].correct).toBe(r.correct);
      });
      for (const [name, values] of whole.params) {
        // The key bias shifts every score of a query equally, which softmax ignores: its gradient is zero up to
        // rounding, and Adam's m/√v turns that rounding into full-size steps of arbitrary sign.
        if (name.endsWith('attn.k.bias')) continue;
        expect(maxAbsDiff(accumulated.params.get(name)!, values), `${name}, k = ${k}`).toBeLessThan(1e-5);
      }
    }
  });
});

describe('label smoothing', () => {
  it('is the cross-entropy against (1 − ε)·one-hot + ε/classes, as computed by hand', async () => {
    await useBackend('cpu');
    const logits = [
      [2, 0, -1],
      [0.5, 0.5, 3],
    ];
    const labels = [0, 2];
    const byHand = (epsilon: number) => {
      let total = 0;
      logits.forEach((row, i) => {
        const logSum = Math.log(row.reduce((a, v) => a + Math.exp(v), 0));
        row.forEach((v, c) => (total -= ((c === labels[i] ? 1 - epsilon : 0) + epsilon / 3) * (v - logSum)));
      });
      return total / logits.length;
    };
    for (const epsilon of [0, 0.1, 0.3]) {
      const { loss, correct } = lossAndCorrect(tf.tensor2d(logits), tf.tensor1d(labels, 'int32'), epsilon);
      expect(loss.dataSync()[0], `ε = ${epsilon}`).toBeCloseTo(byHand(epsilon), 5);
      expect(correct.dataSync()[0]).toBe(2);
    }
    expect(byHand(0.1)).not.toBeCloseTo(byHand(0), 2);
  });

  it('applies to language-model logits [batch, time, vocab] per position', async () => {
    await useBackend('cpu');
    const logits = tf.tensor3d([[[1, 2], [0, 0]]]);
    const labels = tf.tensor2d([[1, 0]], [1, 2], 'int32');
    const epsilon = 0.2;
    const targetLoss = (row: number[], label: number) => {
      const logSum = Math.log(Math.exp(row[0]) + Math.exp(row[1]));
      return -row.reduce((a, v, c) => a + ((c === label ? 1 - epsilon : 0) + epsilon / 2) * (v - logSum), 0);
    };
    const expected = (targetLoss([1, 2], 1) + targetLoss([0, 0], 0)) / 2;
    expect(lossAndCorrect(logits, labels, epsilon).loss.dataSync()[0]).toBeCloseTo(expected, 5);
  });
});
