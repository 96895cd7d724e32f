import { describe, expect, it } from 'vitest';
import { EpochSampler } from '../../src/data/sampler.js';

describe('EpochSampler', () => {
  it('visits every example once per epoch in full batches, dropping the remainder', () => {
    const sampler = new EpochSampler(10, 3, 7);
    expect(sampler.stepsPerEpoch).toBe(3);
    const epoch0 = [sampler.next(), sampler.next(), sampler.next()].flatMap((b) => [...b]);
    expect(new Set(epoch0).size).toBe(9);
    expect(sampler.position()).toEqual({ epoch: 1, position: 0 });
    const epoch1 = [sampler.next(), sampler.next(), sampler.next()].flatMap((b) => [...b]);
    expect(epoch1).not.toEqual(epoch0);
    expect(sampler.epochProgress()).toBe(2);
  });

  it('repeats exactly for the same seed and differs for another', () => {
    const draw = (seed: number) => Array.from({ length: 5 }, () => [...new EpochSampler(100, 8, seed).next()]);
    expect(draw(1)).toEqual(draw(1));
    const a = new EpochSampler(100, 8, 1).next();
    const b = new EpochSampler(100, 8, 2).next();
    expect([...a]).not.toEqual([...b]);
  });

  it('resumes from a saved cursor with the same batches as an uninterrupted run', () => {
    const straight = new EpochSampler(50, 7, 3);
    const all = Array.from({ length: 20 }, () => [...straight.next()]);
    const first = new EpochSampler(50, 7, 3);
    for (let i = 0; i < 9; i++) first.next();
    const resumed = new EpochSampler(50, 7, 3, first.position());
    const rest = Array.from({ length: 11 }, () => [...resumed.next()]);
    expect(rest).toEqual(all.slice(9));
  });

  it('refuses a batch larger than the split', () => {
    expect(() => new EpochSampler(4, 5, 0)).toThrow(/batch size 5 is larger than the training split \(4 examples\)/);
  });
});
