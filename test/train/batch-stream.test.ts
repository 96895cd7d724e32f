import { describe, expect, it } from 'vitest';
import type { Batch } from '../../src/data/dataset.js';
import { EpochSampler } from '../../src/data/sampler.js';
import { BatchStream, type MakeBatch } from '../../src/train/batch-stream.js';

// A batch that records its indices and the step it was made for (as gather + a step-seeded augment would).
const make: MakeBatch = (indices, step) => ({ x: Float32Array.from(indices, (i) => i + 1000 * step), xShape: [indices.length, 1], y: Int32Array.from(indices), yShape: [indices.length] }) as Batch;

/** 10 examples in batches of 3: 3 steps per epoch, the last example of each epoch dropped. */
const stream = () => new BatchStream(new EpochSampler(10, 3, 7), make);

describe('BatchStream', () => {
  it('gives the same batches, cursors and epochs whether or not each next batch is prepared ahead', () => {
    const plain = stream();
    const ahead = stream();
    for (let step = 0; step < 8; step++) {
      const a = plain.take(step);
      const b = ahead.take(step);
      expect([...b.x]).toEqual([...a.x]);
      expect(ahead.position()).toEqual(plain.position());
      expect(ahead.epochProgress()).toBe(plain.epochProgress());
      ahead.prepare(step + 1);
      // Preparing moves nothing a checkpoint records.
      expect(ahead.position()).toEqual(plain.position());
      expect(ahead.epochProgress()).toBe(plain.epochProgress());
    }
    expect(plain.position()).toEqual({ epoch: 2, position: 6 });
  });

  it('a run stopped with a batch prepared resumes from its recorded cursor to the same batches', () => {
    const straight = stream();
    const stopped = stream();
    for (let step = 0; step < 4; step++) {
      straight.take(step);
      stopped.take(step);
    }
    stopped.prepare(4); // then the run stops: the prepared batch is lost with the process
    const resumed = new BatchStream(new EpochSampler(10, 3, 7, stopped.position()), make);
    for (let step = 4; step < 9; step++) expect([...resumed.take(step).x]).toEqual([...straight.take(step).x]);
  });

  it('prepares once, and refuses to take another step than the prepared one', () => {
    const s = stream();
    s.take(0);
    s.prepare(1);
    s.prepare(1);
    expect([...s.take(1).x].every((v) => v >= 1000 && v < 2000)).toBe(true);
    s.prepare(2);
    expect(() => s.take(3)).toThrow("batch stream: step 3 taken while step 2's batch is prepared");
  });
});
