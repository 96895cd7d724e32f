/**
 * Seeded synthetic classification data: one Gaussian cluster per class. Class centres are standard normal
 * vectors; an example is its class centre plus `noise`·N(0, 1) per feature, with a uniformly drawn class.
 * Everything comes from `data.seed` (streams 'centres', 'train', 'test'), so a seed gives the same data on
 * every machine. Validation is the last `validationFraction` of the generated training examples.
 * Shapes: [n] gives vectors; [h, w] and [h, w, c] give images (a missing channel axis is 1).
 */
import type { SyntheticDataConfig } from '../config/types.generated.js';
import type { InputKind, SpecIssue } from '../models/model.js';
import { Rng } from '../random.js';
import type { DataFamily, Dataset } from './dataset.js';
import { augments, imageAugmenter } from './augment.js';
import { holdOut, inMemoryDataset, type ExampleArrays } from './in-memory.js';

function exampleShape(config: SyntheticDataConfig): number[] {
  const shape = [...config.inputShape];
  return shape.length === 2 ? [...shape, 1] : shape;
}

function generate(centres: Float32Array, classes: number, size: number, shape: number[], count: number, noise: number, rng: Rng): ExampleArrays {
  const x = new Float32Array(count * size);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = rng.int(classes);
    y[i] = label;
    for (let k = 0; k < size; k++) x[i * size + k] = centres[label * size + k] + noise * rng.normal();
  }
  return { x, y, exampleShape: shape };
}

export const synthetic: DataFamily<SyntheticDataConfig> = {
  name: 'synthetic',

  describe(config: SyntheticDataConfig): InputKind {
    return { kind: config.inputShape.length === 1 ? 'vector' : 'image', shape: exampleShape(config) };
  },

  check(config: SyntheticDataConfig): SpecIssue[] {
    if (config.inputShape.length === 1 && augments(config.augment)) {
      return [{ path: 'data.augment', message: `needs image input ([height, width] or [height, width, channels]), inputShape is [${config.inputShape.join(', ')}]` }];
    }
    return [];
  },

  splits(config: SyntheticDataConfig) {
    return { validation: holdOut(config.trainExamples, config.validationFraction).validation > 0, test: true };
  },

  async load(config: SyntheticDataConfig): Promise<Dataset> {
    const issues = synthetic.check(config);
    if (issues.length > 0) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    const shape = exampleShape(config);
    const size = shape.reduce((a, b) => a * b, 1);
    const centreRng = Rng.derive(config.seed, 'synthetic', 'centres');
    const centres = new Float32Array(config.classes * size);
    for (let i = 0; i < centres.length; i++) centres[i] = centreRng.normal();
    const make = (count: number, stream: string) =>
      generate(centres, config.classes, size, shape, count, config.noise, Rng.derive(config.seed, 'synthetic', stream));
    const kind = shape.length === 1 ? 'vector' : 'image';
    return inMemoryDataset({
      spec: { kind, shape, classes: config.classes },
      train: make(config.trainExamples, 'train'),
      test: make(config.testExamples, 'test'),
      validationFraction: config.validationFraction,
      augment: kind === 'image' ? imageAugmenter(config.augment, shape) : undefined,
    });
  },
};
