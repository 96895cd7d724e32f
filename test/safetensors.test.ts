import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors } from '../src/safetensors.js';

describe('safetensors', () => {
  it('round-trips float32 and int32 tensors with metadata, header padded to 8 bytes', () => {
    const tensors = [
      { name: 'a', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      { name: 'step', shape: [], data: Int32Array.from([42]) },
      { name: 'b', shape: [1], data: Float32Array.from([-0.5]) },
    ];
    const bytes = encodeSafetensors(tensors, { producer: 'test' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    // Decode from a Node Buffer that lives inside a larger pooled allocation.
    const pooled = Buffer.concat([Buffer.alloc(13), Buffer.from(bytes)]).subarray(13);
    const decoded = decodeSafetensors(pooled);
    expect(decoded.metadata).toEqual({ producer: 'test' });
    expect(decoded.tensors.map((t) => [t.name, t.shape, [...t.data]])).toEqual(tensors.map((t) => [t.name, t.shape, [...t.data]]));
    expect(decoded.tensors[1].data).toBeInstanceOf(Int32Array);
  });

  it('refuses a truncated file', () => {
    const bytes = encodeSafetensors([{ name: 'a', shape: [4], data: new Float32Array(4) }]);
    expect(() => decodeSafetensors(bytes.subarray(0, bytes.length - 1))).toThrow(/runs past the end of the file/);
    expect(() => decodeSafetensors(bytes.subarray(0, 4))).toThrow(/shorter than its 8-byte header length/);
  });
});
