// Training, not just the update: tfjs-layers models trained with each optimizer lower their loss,
// and the trained weights are the ones later matMuls see (DESIGN.md, Trap: in-place writes into
// wasm memory would be invisible to the backend's cached matMul weights).
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS, makeOptimizer, PATHS, selectImplementation, useBackend, type OptimizerKind } from './helpers.js';

const OPTIONS: Record<OptimizerKind, Record<string, unknown>> = {
  lion: { learningRate: 3e-3, weightDecay: 0.1, weightDecayExclude: ['*bias*'] },
  adamw: { learningRate: 1e-2 },
  adafactor: {},
};

function buildModel(): tf.Sequential {
  const model = tf.sequential();
  model.add(tf.layers.dense({ units: 32, activation: 'relu', inputShape: [16], kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }));
  model.add(tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }));
  return model;
}

let x: tf.Tensor;
let y: tf.Tensor;

describe('on the wasm backend', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    // A teacher network to regress: y = relu(x·A)·b.
    x = tf.randomNormal([240, 16], 0, 1, 'float32', 3);
    y = tf.tidy(() => tf.matMul(tf.relu(tf.matMul(x, tf.randomNormal([16, 8], 0, 0.5, 'float32', 4))), tf.randomNormal([8, 1], 0, 1, 'float32', 5)));
  });
  afterAll(() => tf.dispose([x, y]));

  describe.each(PATHS)('$label path', ({ fused, implementation }) => {
    beforeAll(() => selectImplementation(implementation));
    afterAll(() => selectImplementation(undefined));
    it.each(KINDS)('%s lowers the loss of a tfjs-layers model trained with model.fit', async (kind) => {
      const optimizer = makeOptimizer(kind, { ...OPTIONS[kind], fused });
      const model = buildModel();
      model.compile({ optimizer, loss: 'meanSquaredError' });
      const lossOf = (m: tf.LayersModel): number => tf.tidy(() => (m.evaluate(x, y, { batchSize: 240 }) as tf.Scalar).dataSync()[0]);
      const initial = lossOf(model);
      const history = await model.fit(x, y, { epochs: 20, batchSize: 40, shuffle: false, verbose: 0 });
      const final = lossOf(model);
      expect(optimizer.usesFusedPath()).toBe(fused);
      expect(optimizer.iterations).toBe(20 * 6);
      expect(final).toBeLessThan(0.5 * initial);
      expect(history.history.loss[19] as number).toBeLessThan(history.history.loss[0] as number);

      // The model's own predictions match a fresh model given copies of its weights.
      const fresh = buildModel();
      fresh.setWeights(model.getWeights().map((w) => tf.tensor(w.dataSync(), w.shape)));
      const got = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
      const want = tf.tidy(() => (fresh.predict(x) as tf.Tensor).dataSync());
      want.forEach((w, i) => expect(Math.abs(got[i] - w)).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(w)));
      fresh.dispose();
      model.dispose();
      optimizer.dispose();
    });
  });
});
