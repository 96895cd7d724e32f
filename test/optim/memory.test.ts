// tf.memory().numTensors stays flat over 100 steps, for each optimizer and path; dispose frees all.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, KINDS, makeOptimizer, PATHS, selectImplementation, useBackend } from './helpers.js';

describe.each(BACKENDS)('on the %s backend', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });
  describe.each(PATHS)('$label path', ({ fused, implementation }) => {
    beforeAll(() => selectImplementation(implementation));
    afterAll(() => selectImplementation(undefined));
    it.each(KINDS)('%s keeps the tensor count flat over 100 steps', (kind) => {
      const start = tf.memory().numTensors;
      const shapes = [[7], [5, 4], [2, 3, 4], [2, 2, 3, 2]];
      const vars = shapes.map((s, i) =>
        tf.tidy(() => tf.variable(tf.randomNormal(s, 0, 1, 'float32', i), true, `mem.${kind}.${i}`)),
      );
      const opt = makeOptimizer(kind, { beta1: kind === 'adafactor' ? 0.9 : undefined, fused });
      const step = (k: number): void => {
        const grads = vars.map((v) => ({ name: v.name, tensor: tf.randomNormal(v.shape, 0, 1, 'float32', k) }));
        opt.applyGradients(grads);
        tf.dispose(grads.map((g) => g.tensor));
      };
      step(0); // creates the state
      const before = tf.memory();
      for (let k = 1; k <= 100; k++) step(k);
      const after = tf.memory();
      expect(after.numTensors).toBe(before.numTensors);
      expect(after.numBytes).toBe(before.numBytes);
      opt.dispose();
      tf.dispose(vars);
      expect(tf.memory().numTensors).toBe(start);
    });
  });
});
