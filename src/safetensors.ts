/**
 * The safetensors format (huggingface/safetensors), written from its published layout:
 *   8 bytes   little-endian u64 N, the header length
 *   N bytes   UTF-8 JSON: { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {…} },
 *             padded with spaces to a multiple of 8
 *   rest      the tensors' bytes, little-endian, offsets relative to the end of the header
 * Only F32 and I32 are used here. A header is checked whole before any tensor is read (`parseSafetensorsHeader`).
 */
import { closeSync, readSync } from 'node:fs';
import { InputFileError, openInputFile } from './files/input-file.js';

export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array | Int32Array;
}

const DTYPE = { F32: Float32Array, I32: Int32Array } as const;
type DtypeName = keyof typeof DTYPE;

export function encodeSafetensors(tensors: NamedArray[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.data.byteLength;
    header[t.name] = { dtype: t.data instanceof Int32Array ? 'I32' : 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

export interface DecodedSafetensors {
  tensors: NamedArray[];
  metadata: Record<string, string>;
}

/** The safetensors library refuses headers above 100 MB; so does this reader. */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor's entry in the header, checked. */
export interface TensorEntry {
  name: string;
  dtype: DtypeName;
  shape: number[];
  /** Byte range within the data section. */
  begin: number;
  end: number;
}

/** A header, checked against the file's length: entries in file order, and the metadata. */
export interface SafetensorsHeader {
  entries: TensorEntry[];
  metadata: Record<string, string>;
}

/** Reads the 8-byte header length; `fileLength` is the whole file's size. */
function headerLengthOf(first8: Uint8Array, fileLength: number): number {
  if (fileLength < 8) throw new Error('safetensors file is shorter than its 8-byte header length');
  const length = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_BYTES)) throw new Error(`safetensors header length ${length} is over the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
  if (8 + Number(length) > fileLength) throw new Error('safetensors header runs past the end of the file (truncated?)');
  return Number(length);
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/**
 * Parses and checks a header: valid UTF-8 JSON holding an object; every entry an object with a supported
 * dtype, a shape of whole numbers, and data_offsets [begin, end] within the data section whose length is the
 * shape's element count times the dtype's size; `__metadata__` an object of strings.
 * @throws Error naming the first problem (the caller adds the file's name).
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, dataLength: number): SafetensorsHeader {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (error) {
    throw new Error(`safetensors header is not valid JSON (${(error as Error).message.split('\n')[0]})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error('safetensors header is not a JSON object');
  const entries: TensorEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || !Object.values(entry).every((v) => typeof v === 'string')) {
        throw new Error('safetensors __metadata__ is not an object of strings');
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    const bad = (what: string) => new Error(`safetensors tensor ${JSON.stringify(name)}: ${what}`);
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw bad('entry is not an object');
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (typeof dtype !== 'string') throw bad('has no dtype');
    if (!Object.hasOwn(DTYPE, dtype)) throw new Error(`safetensors dtype ${dtype} of ${name} is not supported`);
    if (!Array.isArray(shape) || !shape.every(isCount)) throw bad(`shape ${JSON.stringify(shape)} is not a list of whole numbers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      throw bad(`data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 ≤ begin ≤ end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLength) throw new Error(`safetensors tensor ${name} runs past the end of the file (truncated?)`);
    const bytes = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE[dtype as DtypeName].BYTES_PER_ELEMENT;
    if (bytes !== end - begin) throw bad(`shape [${shape.join(', ')}] of ${dtype} takes ${bytes} bytes, its data_offsets ${end - begin}`);
    entries.push({ name, dtype: dtype as DtypeName, shape: shape as number[], begin, end });
  }
  return { entries, metadata };
}

/** A tensor's values over `bytes`, which must start at offset 0 of a buffer of their own. */
function tensorOf(entry: TensorEntry, bytes: Uint8Array): NamedArray {
  const Ctor = DTYPE[entry.dtype];
  return { name: entry.name, shape: entry.shape, data: new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / Ctor.BYTES_PER_ELEMENT) };
}

/** Decodes a whole safetensors file held in memory; throws an Error naming the problem. */
export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  const headerLength = headerLengthOf(bytes, bytes.length);
  const dataStart = 8 + headerLength;
  const header = parseSafetensorsHeader(bytes.subarray(8, dataStart), bytes.length - dataStart);
  return { tensors: header.entries.map((e) => tensorOf(e, new Uint8Array(bytes.subarray(dataStart + e.begin, dataStart + e.end)))) /* copies: aligned buffers of their own */, metadata: header.metadata };
}

/**
 * Reads a safetensors file tensor by tensor from disk (the file is never held whole; memory is the tensors'),
 * after checking it is a regular file.
 * @throws Error `path: reason` for a file that is missing, not regular, or malformed.
 */
export function readSafetensorsFile(path: string): DecodedSafetensors {
  const { fd, size } = openInputFile(path);
  const read = (at: number, length: number): Buffer => {
    const buffer = Buffer.allocUnsafeSlow(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, buffer, done, length - done, at + done);
      if (n === 0) throw new Error('safetensors file ended early (truncated while reading?)');
      done += n;
    }
    return buffer;
  };
  try {
    const headerLength = headerLengthOf(read(0, Math.min(8, size)), size);
    const dataStart = 8 + headerLength;
    const header = parseSafetensorsHeader(read(8, headerLength), size - dataStart);
    return { tensors: header.entries.map((e) => tensorOf(e, read(dataStart + e.begin, e.end - e.begin))), metadata: header.metadata };
  } catch (error) {
    if (error instanceof InputFileError) throw error;
    throw new Error(`${path}: ${(error as Error).message}`);
  } finally {
    closeSync(fd);
  }
}
