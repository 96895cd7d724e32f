import { describe, expect, it } from 'vitest';
import { ArraySplit, holdOut, inMemoryDataset } from '../../src/data/in-memory.js';

describe('in-memory datasets', () => {
  it('hold out the last rounded fraction for validation and cap training at trainExamples', () => {
    expect(holdOut(60000, 0.05)).toEqual({ train: 57000, validation: 3000, validationStart: 57000 });
    expect(holdOut(10, 0.25, null)).toEqual({ train: 7, validation: 3, validationStart: 7 });
    expect(holdOut(60000, 0.05, 100)).toEqual({ train: 100, validation: 3000, validationStart: 57000 });
    expect(holdOut(5, 0)).toEqual({ train: 5, validation: 0, validationStart: 5 });
  });

  it('gather copies the examples at the indices, in order, scaling stored bytes', () => {
    const x = new Uint8Array([0, 255, 51, 102, 204, 153]); // three examples of shape [2]
    const split = new ArraySplit({ x, y: new Uint8Array([7, 8, 9]), exampleShape: [2], scale: 1 / 255 }, 1, 3);
    expect(split.size).toBe(2);
    const batch = split.gather([1, 0, 1]);
    expect(batch.xShape).toEqual([3, 2]);
    expect([...batch.x].map((v) => Math.round(v * 255))).toEqual([204, 153, 51, 102, 204, 153]);
    expect([...batch.y]).toEqual([9, 8, 9]);
    expect(batch.yShape).toEqual([3]);
    batch.x[0] = -1;
    expect(split.gather([1]).x[0]).toBeCloseTo(0.8, 6);
  });

  it('refuses indices outside the split', () => {
    const split = new ArraySplit({ x: new Float32Array(6), y: new Int32Array(3), exampleShape: [2] }, 0, 2);
    expect(() => split.gather([2])).toThrow(/outside \[0, 2\)/);
    expect(() => split.gather([-1])).toThrow(RangeError);
  });

  it('leave out validation and test when there are none', () => {
    const data = inMemoryDataset({
      spec: { kind: 'vector', shape: [2], classes: 2 },
      train: { x: new Float32Array(8), y: new Int32Array(4), exampleShape: [2] },
      validationFraction: 0,
    });
    expect(data.train.size).toBe(4);
    expect('validation' in data || 'test' in data || 'augment' in data).toBe(false);
  });
});
