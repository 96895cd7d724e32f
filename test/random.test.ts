import { describe, expect, it } from 'vitest';
import { Rng } from '../src/random.js';

describe('Rng', () => {
  it.each([0, 1, 7, 123456789, 2 ** 32 - 1])('fillUniform (seed %i) draws exactly the numbers next() draws, and leaves the same state', (seed) => {
    const one = Rng.derive(seed, 'dropout', 'flatten');
    const bulk = Rng.derive(seed, 'dropout', 'flatten');
    const expected = Array.from({ length: 10_007 }, () => one.next());
    const got: number[] = [];
    for (const size of [1, 4096, 3, 5907]) got.push(...bulk.fillUniform(new Float64Array(size)));
    expect(got).toEqual(expected);
    expect(bulk.state()).toEqual(one.state());
    expect(bulk.next()).toBe(one.next());
    expect(Math.min(...got)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...got)).toBeLessThan(1);
  });
});
