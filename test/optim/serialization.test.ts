// getConfig / fromConfig / registerClass: optimizers survive tfjs-layers model save and load
// (includeOptimizer), state included, and the loaded model continues training exactly.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Adafactor, AdamW, Lion } from '../../src/optim/index.js';
import { makeOptimizer, useBackend, type OptimizerKind } from './helpers.js';

const CLASSES = { lion: Lion, adamw: AdamW, adafactor: Adafactor } as const;

const OPTIONS: Record<OptimizerKind, Record<string, unknown>> = {
  lion: { learningRate: 3e-3, beta1: 0.95, beta2: 0.98, weightDecay: 0.2, weightDecayExclude: ['*bias*', /layer_norm\d*/i] },
  adamw: { learningRate: 2e-3, beta2: 0.95, epsilon: 1e-6, weightDecay: 0.05, weightDecayExclude: ['*_bias%'] },
  adafactor: { beta1: 0.9, weightDecay: 0.01, clipThreshold: 0.5, warmupInit: true },
};

beforeAll(async () => {
  await useBackend('cpu');
});

describe.each(Object.keys(CLASSES) as OptimizerKind[])('%s', (kind) => {
  it('is registered for deserialisation under its class name', () => {
    const entry = tf.serialization.SerializationMap.getMap().classNameMap[CLASSES[kind].className];
    expect(entry?.[0]).toBe(CLASSES[kind]);
  });

  it('fromConfig(getConfig()) rebuilds the same optimizer, decay patterns included', () => {
    const opt = makeOptimizer(kind, OPTIONS[kind]);
    const config = opt.getConfig();
    const copy = CLASSES[kind].fromConfig(CLASSES[kind], JSON.parse(JSON.stringify(config))) as typeof opt;
    expect(copy.getConfig()).toEqual(config);
    for (const name of ['a.bias', 'blocks.0.Layer_Norm2.scale', 'x_bias%', 'x.kernel']) {
      expect(copy.isDecayed(name)).toBe(opt.isDecayed(name));
    }
  });

  it('a predicate mask is left out of getConfig', () => {
    const opt = makeOptimizer(kind, { weightDecayExclude: (n: string) => n.endsWith('bias') });
    expect(opt.getConfig()).not.toHaveProperty('weightDecayExclude');
  });

  it('a compiled tfjs-layers model saves and loads with its optimizer and continues exactly', async () => {
    const build = (): tf.Sequential => {
      const m = tf.sequential();
      m.add(tf.layers.dense({ units: 8, activation: 'tanh', inputShape: [4] }));
      m.add(tf.layers.dense({ units: 2 }));
      return m;
    };
    const x = tf.randomNormal([32, 4], 0, 1, 'float32', 1);
    const y = tf.randomNormal([32, 2], 0, 1, 'float32', 2);
    const model = build();
    model.compile({ optimizer: makeOptimizer(kind, OPTIONS[kind]), loss: 'meanSquaredError' });
    await model.fit(x, y, { epochs: 3, batchSize: 8, shuffle: false, verbose: 0 });

    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
      { includeOptimizer: true },
    );
    if (artifacts === undefined) throw new Error('nothing saved');
    // As a file would hold it: topology and training config through JSON.
    const json = JSON.parse(JSON.stringify({ modelTopology: artifacts.modelTopology, trainingConfig: artifacts.trainingConfig }));
    const loaded = await tf.loadLayersModel(tf.io.fromMemory({ ...artifacts, ...json }));

    const original = model.optimizer as Lion | AdamW | Adafactor;
    const restored = loaded.optimizer as Lion | AdamW | Adafactor;
    expect(restored.constructor).toBe(CLASSES[kind]);
    expect(restored.getConfig()).toEqual(original.getConfig());
    expect(restored.iterations).toBe(12);
    expect(restored.stateBytes()).toBe(original.stateBytes());

    // One more step on the same batch: same weights to the bit.
    await model.trainOnBatch(x, y);
    await loaded.trainOnBatch(x, y);
    const a = model.getWeights().map((w) => Array.from(w.dataSync()));
    const b = loaded.getWeights().map((w) => Array.from(w.dataSync()));
    expect(b).toEqual(a);
    expect(restored.iterations).toBe(13);

    model.dispose();
    loaded.dispose();
    original.dispose();
    restored.dispose();
    tf.dispose([x, y]);
  });
});
