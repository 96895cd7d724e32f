/**
 * Seeded epoch sampler: each epoch visits a fresh permutation of the training split in full batches
 * (the last partial batch of an epoch is dropped, so every step sees batchSize examples).
 * The permutation of epoch e is derived from (seed, e) alone, so the cursor {epoch, position} is the
 * whole state a checkpoint needs.
 */
import { Rng } from '../random.js';

export interface Cursor {
  epoch: number;
  /** Index into this epoch's permutation of the next example to use. */
  position: number;
}

export class EpochSampler {
  private permutationEpoch = -1;
  private permutation: Int32Array = new Int32Array(0);
  private cursor: Cursor;

  constructor(
    readonly size: number,
    readonly batchSize: number,
    private readonly seed: number,
    start: Cursor = { epoch: 0, position: 0 },
  ) {
    if (batchSize > size) throw new RangeError(`batch size ${batchSize} is larger than the training split (${size} examples)`);
    this.cursor = { ...start };
  }

  get stepsPerEpoch(): number {
    return Math.floor(this.size / this.batchSize);
  }

  /** Where the next batch starts. */
  position(): Cursor {
    return { ...this.cursor };
  }

  /** Epochs completed at `cursor` (by default where the sampler stands), as a fraction (for logs). */
  epochProgress(cursor: Cursor = this.cursor): number {
    return cursor.epoch + cursor.position / (this.stepsPerEpoch * this.batchSize);
  }

  /** Indices of the next batch. */
  next(): Int32Array {
    if (this.cursor.position + this.batchSize > this.size) this.cursor = { epoch: this.cursor.epoch + 1, position: 0 };
    if (this.permutationEpoch !== this.cursor.epoch) {
      this.permutation = Rng.derive(this.seed, 'shuffle', this.cursor.epoch).permutation(this.size);
      this.permutationEpoch = this.cursor.epoch;
    }
    const indices = this.permutation.slice(this.cursor.position, this.cursor.position + this.batchSize);
    this.cursor = { epoch: this.cursor.epoch, position: this.cursor.position + this.batchSize };
    if (this.cursor.position + this.batchSize > this.size) this.cursor = { epoch: this.cursor.epoch + 1, position: 0 };
    return indices;
  }
}
