import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors } from '../src/safetensors.js';

describe('safetensors', () => {
  it('reads back what it wrote from a file, whose bytes come as a view into a larger Node Buffer', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lion-train-st-'));
    try {
      const a = Float32Array.from({ length: 300 }, (_, i) => i / 7);
      const b = Int32Array.from([3, -1, 4]);
      writeFileSync(join(dir, 'x.safetensors'), encodeSafetensors([{ name: 'a', shape: [3, 100], data: a }, { name: 'b', shape: [3], data: b }]));
      // A small file lands in Node's shared buffer pool: its Buffer starts at a non-zero offset.
      const bytes = readFileSync(join(dir, 'x.safetensors'));
      const { tensors } = decodeSafetensors(bytes);
      expect(tensors.map((t) => [t.name, t.shape])).toEqual([['a', [3, 100]], ['b', [3]]]);
      expect(tensors[0].data).toEqual(a);
      expect(tensors[1].data).toEqual(b);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
