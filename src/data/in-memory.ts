/**
 * Datasets whose examples sit in memory as one flat array (mnist, fashion-mnist, synthetic): the split
 * and gather code they share. Pixels may be kept as bytes (4x less memory) and scaled to float32 on gather.
 */
import type { InputSpec } from '../models/model.js';
import type { Rng } from '../random.js';
import type { Batch, Dataset, Split } from './dataset.js';

/** Examples stored back to back: example i is x[i·size, (i+1)·size). */
export interface ExampleArrays {
  x: Float32Array | Uint8Array;
  /** Class ids, one per example. */
  y: Int32Array | Uint8Array;
  /** Shape of one example, e.g. [28, 28, 1]. */
  exampleShape: number[];
  /** Multiplies stored values on gather (1/255 for bytes); 1 when absent. */
  scale?: number;
}

/** The examples [start, end) of `arrays` as a `Split`. */
export class ArraySplit implements Split {
  readonly size: number;
  private readonly exampleSize: number;

  constructor(
    private readonly arrays: ExampleArrays,
    private readonly start = 0,
    end = arrays.y.length,
  ) {
    if (start < 0 || end > arrays.y.length || start > end) throw new Error(`bad split [${start}, ${end}) of ${arrays.y.length} examples`);
    this.size = end - start;
    this.exampleSize = arrays.exampleShape.reduce((a, b) => a * b, 1);
  }

  gather(indices: ArrayLike<number>): Batch {
    const n = indices.length;
    const size = this.exampleSize;
    const { x: source, y: labels } = this.arrays;
    const scale = this.arrays.scale ?? 1;
    const x = new Float32Array(n * size);
    const y = new Int32Array(n);
    for (let j = 0; j < n; j++) {
      const i = indices[j];
      if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`example index ${i} is outside [0, ${this.size})`);
      const from = (this.start + i) * size;
      const to = j * size;
      if (scale === 1 && source instanceof Float32Array) {
        x.set(source.subarray(from, from + size), to);
      } else {
        for (let k = 0; k < size; k++) x[to + k] = source[from + k] * scale;
      }
      y[j] = labels[this.start + i];
    }
    return { x, xShape: [n, ...this.arrays.exampleShape], y, yShape: [n] };
  }
}

/**
 * How many of `total` training examples go to validation (the last ones, rounded) and to training
 * (the first ones, capped at `trainExamples`). The validation split does not change with the cap, so
 * validation numbers stay comparable across runs that train on fewer examples.
 */
export function holdOut(total: number, validationFraction: number, trainExamples: number | null = null) {
  const validation = Math.round(total * validationFraction);
  const available = total - validation;
  const train = trainExamples === null ? available : Math.min(trainExamples, available);
  return { train, validation, validationStart: available };
}

export interface InMemoryOptions {
  spec: InputSpec;
  /** All training examples; validation is carved from their end. */
  train: ExampleArrays;
  test?: ExampleArrays;
  validationFraction: number;
  trainExamples?: number | null;
  augment?: (batch: Batch, rng: Rng) => void;
}

/** A `Dataset` over arrays in memory, with the validation split held out by `holdOut`. */
export function inMemoryDataset(options: InMemoryOptions): Dataset {
  const total = options.train.y.length;
  const counts = holdOut(total, options.validationFraction, options.trainExamples ?? null);
  const dataset: { -readonly [K in keyof Dataset]: Dataset[K] } = { spec: options.spec, train: new ArraySplit(options.train, 0, counts.train) };
  if (counts.validation > 0) dataset.validation = new ArraySplit(options.train, counts.validationStart, total);
  if (options.test) dataset.test = new ArraySplit(options.test);
  if (options.augment) dataset.augment = options.augment;
  return dataset;
}
