/**
 * The training batches of a run, step by step: the sampler's next indices gathered and augmented (seeded by
 * the step), so a step's batch is the same whenever it is made.
 */
import type { Batch, Dataset } from '../data/dataset.js';
import type { Cursor, EpochSampler } from '../data/sampler.js';
import { Rng } from '../random.js';

/** Makes the batch of `step` from its example indices (gather, then augment). */
export type MakeBatch = (indices: Int32Array, step: number) => Batch;

/** The random stream that augments the batch of `step` in a run with train.seed `seed`. */
export function augmentStream(seed: number, step: number): Rng {
  return Rng.derive(seed, 'augment', step);
}

/** A run's MakeBatch: the training split's examples gathered, then augmented (where the data asks for it) by augmentStream. */
export function trainingBatches(dataset: Dataset, seed: number): MakeBatch {
  return (indices, step) => {
    const batch = dataset.train.gather(indices);
    dataset.augment?.(batch, augmentStream(seed, step));
    return batch;
  };
}

/**
 * `take(step)` gives the batch of each step in turn. `prepare(step)` makes the next step's batch ahead of
 * time, in idle time (with train.workers, while the main thread waits for the other threads); `position()`
 * and `epochProgress()` stay those after the last batch taken, so a checkpoint written with a batch prepared
 * records the cursor a run that never prepared one records, and a resumed run continues identically.
 */
export class BatchStream {
  private ahead: { step: number; batch: Batch; after: Cursor } | undefined;
  private after: Cursor;

  constructor(
    private readonly sampler: EpochSampler,
    private readonly make: MakeBatch,
  ) {
    this.after = sampler.position();
  }

  /**
   * The batch of `step`: the one prepared for it, or a new one.
   * @throws Error when a batch was prepared for another step (the sampler has moved past this one).
   */
  take(step: number): Batch {
    const ahead = this.ahead;
    if (ahead !== undefined) {
      if (ahead.step !== step) throw new Error(`batch stream: step ${step} taken while step ${ahead.step}'s batch is prepared`);
      this.ahead = undefined;
      this.after = ahead.after;
      return ahead.batch;
    }
    const batch = this.make(this.sampler.next(), step);
    this.after = this.sampler.position();
    return batch;
  }

  /** Makes the batch of `step` (the next to be taken) now; nothing when one is prepared already. */
  prepare(step: number): void {
    if (this.ahead !== undefined) return;
    const batch = this.make(this.sampler.next(), step);
    this.ahead = { step, batch, after: this.sampler.position() };
  }

  /** Where the batch after the last one taken starts (what a checkpoint records). */
  position(): Cursor {
    return { ...this.after };
  }

  /** Epochs completed by the batches taken, as a fraction (for logs). */
  epochProgress(): number {
    return this.sampler.epochProgress(this.after);
  }
}
