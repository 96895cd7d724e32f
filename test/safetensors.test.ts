import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, readSafetensorsFile } from '../src/safetensors.js';
import { fileSha256 } from '../src/train/checkpoint.js';
import { tempDir } from './helpers/cli.js';

const dir = tempDir('lion-train-safetensors-');
afterAll(() => dir.cleanup());

/** A safetensors file with `header` as its JSON header text and `data` bytes after it. */
function withHeader(header: string | Uint8Array, data = new Uint8Array(0)): Uint8Array {
  const json = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

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

describe('a malformed safetensors file', () => {
  it.each([
    ['a header that is not JSON', withHeader('{"a": '), /^safetensors header is not valid JSON \(/],
    ['a header that is not UTF-8', withHeader(Uint8Array.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), /^safetensors header is not valid JSON/],
    ['a header that is a list', withHeader('[1, 2]'), /^safetensors header is not a JSON object$/],
    ['a header that is a number', withHeader('42'), /^safetensors header is not a JSON object$/],
    ['an entry that is a number', withHeader('{"a": 3}'), /^safetensors tensor "a": entry is not an object$/],
    ['an entry with no dtype', withHeader('{"a": {"shape": [1], "data_offsets": [0, 4]}}', new Uint8Array(4)), /^safetensors tensor "a": has no dtype$/],
    ['an unknown dtype', withHeader('{"a": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}', new Uint8Array(8)), /^safetensors dtype F64 of a is not supported$/],
    ['a dtype named like an Object method', withHeader('{"a": {"dtype": "toString", "shape": [1], "data_offsets": [0, 4]}}', new Uint8Array(4)), /^safetensors dtype toString of a is not supported$/],
    ['data_offsets that are not a pair', withHeader('{"a": {"dtype": "F32", "shape": [1], "data_offsets": 4}}', new Uint8Array(4)), /^safetensors tensor "a": data_offsets 4 is not \[begin, end\]/],
    ['data_offsets missing', withHeader('{"a": {"dtype": "F32", "shape": [1]}}', new Uint8Array(4)), /^safetensors tensor "a": data_offsets undefined is not \[begin, end\]/],
    ['reversed data_offsets', withHeader('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}', new Uint8Array(4)), /data_offsets \[4,0\] is not \[begin, end\]/],
    ['a negative shape', withHeader('{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}', new Uint8Array(4)), /shape \[-1\] is not a list of whole numbers/],
    ['a shape that disagrees with the byte length', withHeader('{"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 4]}}', new Uint8Array(4)), /^safetensors tensor "a": shape \[2, 3\] of F32 takes 24 bytes, its data_offsets 4$/],
    ['metadata that is not strings', withHeader('{"__metadata__": {"a": 1}}'), /^safetensors __metadata__ is not an object of strings$/],
  ])('%s gets a message about the file', (_what, bytes, message) => {
    expect(() => decodeSafetensors(bytes)).toThrow(message);
  });

  it('an absurd header length is refused before anything is allocated', () => {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 63n, true);
    expect(() => decodeSafetensors(bytes)).toThrow(/^safetensors header length 9223372036854775808 is over the 100000000-byte limit/);
  });

  it('reads a file from disk tensor by tensor, naming the file in its errors', () => {
    const good = join(dir.path, 'good.safetensors');
    const tensors = [
      { name: 'w', shape: [2, 2], data: Float32Array.from([1, -2, 3.5, 4]) },
      { name: 'n', shape: [], data: Int32Array.from([7]) },
    ];
    writeFileSync(good, encodeSafetensors(tensors, { producer: 'test' }));
    const read = readSafetensorsFile(good);
    expect(read.metadata).toEqual({ producer: 'test' });
    expect(read.tensors.map((t) => [t.name, t.shape, [...t.data], t.data.constructor.name])).toEqual([
      ['w', [2, 2], [1, -2, 3.5, 4], 'Float32Array'],
      ['n', [], [7], 'Int32Array'],
    ]);
    const bad = join(dir.path, 'bad.safetensors');
    writeFileSync(bad, withHeader('[]'));
    expect(() => readSafetensorsFile(bad)).toThrow(`${bad}: safetensors header is not a JSON object`);
    const truncated = join(dir.path, 'truncated.safetensors');
    writeFileSync(truncated, encodeSafetensors(tensors).subarray(0, 60));
    expect(() => readSafetensorsFile(truncated)).toThrow(new RegExp(`^${truncated}: safetensors (header|tensor w) runs past the end of the file`));
    expect(() => readSafetensorsFile(dir.path)).toThrow(`${dir.path}: is a directory, not a regular file`);
  });
});

describe('fileSha256', () => {
  it('hashes a file in pieces to the same digest as the whole bytes', () => {
    const bytes = new Uint8Array(9 * 1024 * 1024 + 13).map((_, i) => (i * 2654435761) >>> 24);
    const path = join(dir.path, 'big.bin');
    writeFileSync(path, bytes);
    expect(fileSha256(path)).toBe(createHash('sha256').update(bytes).digest('hex'));
  });
});
