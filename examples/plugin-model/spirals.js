/**
 * Two interleaved spirals as a lion-train data module (README: "Your own model and data"): 2-D points,
 * one spiral per class, seeded so a seed gives the same points everywhere.
 * Example i of class c: radius r = t, angle θ = t·turns·2π + c·π, point (r cos θ, r sin θ) + noise·N(0, 1),
 * with t uniform in [0.05, 1].
 */
import { inMemoryDataset } from 'lion-train';

export const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    examples: { description: 'Training examples (validation is carved from their end).', type: 'integer', minimum: 10, default: 2000 },
    testExamples: { type: 'integer', minimum: 0, default: 500 },
    turns: { description: 'Turns of each spiral.', type: 'number', exclusiveMinimum: 0, default: 1.5 },
    noise: { type: 'number', minimum: 0, default: 0.02 },
    seed: { type: 'integer', minimum: 0, default: 0 },
    validationFraction: { type: 'number', minimum: 0, maximum: 0.5, default: 0.1 },
  },
};

/** Mulberry32: a small seeded generator, uniform in [0, 1). */
function uniform(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function spirals(count, turns, noise, seed) {
  const next = uniform(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const x = new Float32Array(count * 2);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = i % 2;
    const t = 0.05 + 0.95 * next();
    const angle = t * turns * 2 * Math.PI + c * Math.PI;
    x[2 * i] = t * Math.cos(angle) + noise * normal();
    x[2 * i + 1] = t * Math.sin(angle) + noise * normal();
    y[i] = c;
  }
  return { x, y, exampleShape: [2] };
}

/** @type {import('lion-train').DataFamily<{ module: string; examples: number; testExamples: number; turns: number; noise: number; seed: number; validationFraction: number }>} */
export default {
  name: 'spirals',
  describe: () => ({ kind: 'vector', shape: [2] }),
  check: () => [],
  async load(config) {
    return inMemoryDataset({
      spec: { kind: 'vector', shape: [2], classes: 2 },
      train: spirals(config.examples, config.turns, config.noise, config.seed * 2 + 1),
      test: config.testExamples > 0 ? spirals(config.testExamples, config.turns, config.noise, config.seed * 2 + 2) : undefined,
      validationFraction: config.validationFraction,
    });
  },
};
