/**
 * The IDX format of MNIST-style files (optionally gzipped): a magic number 0x0000TTNN (TT = element type,
 * NN = number of dimensions), NN big-endian uint32 sizes, then the elements. Only unsigned bytes (0x08).
 */
import { gunzipSync } from 'node:zlib';
import { DATA_LIMIT_HINT, dataMemoryLimit } from '../files/limits.js';
import { formatBytes, readInputFile } from '../files/input-file.js';

export interface IdxArray {
  shape: number[];
  /** A view on the file's bytes, no copy. */
  data: Uint8Array;
}

/** Parses IDX bytes (gunzipping them first when gzipped, to at most `maxBytes`). */
export function parseIdx(file: Uint8Array, name = 'IDX file', maxBytes = dataMemoryLimit()): IdxArray {
  let bytes = file;
  if (file[0] === 0x1f && file[1] === 0x8b) {
    try {
      bytes = gunzipSync(file, { maxOutputLength: maxBytes });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') throw new Error(`${name}: unzips to more than the in-memory data limit of ${formatBytes(maxBytes)}; ${DATA_LIMIT_HINT}`);
      throw new Error(`${name}: not a valid gzip file (${code ?? (error as Error).message})`);
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4 || view.getUint16(0) !== 0) throw new Error(`${name}: not an IDX file`);
  const type = bytes[2];
  const rank = bytes[3];
  if (type !== 0x08) throw new Error(`${name}: element type 0x${type.toString(16)} is not supported (only unsigned bytes, 0x08)`);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(view.getUint32(4 + 4 * i));
  const offset = 4 + 4 * rank;
  const size = shape.reduce((a, b) => a * b, 1);
  if (bytes.byteLength < offset + size) throw new Error(`${name}: truncated (${bytes.byteLength - offset} of ${size} bytes)`);
  return { shape, data: bytes.subarray(offset, offset + size) };
}

/** Reads an IDX file after checking it is a regular file within the in-memory data limit. */
export async function readIdx(path: string): Promise<IdxArray> {
  const limit = dataMemoryLimit();
  return parseIdx(readInputFile(path, { what: 'data', maxBytes: limit, limitHint: DATA_LIMIT_HINT }), path, limit);
}

/** Images [n, h, w] and labels [n] from a pair of IDX files, checked to agree. */
export async function readIdxImages(imagesPath: string, labelsPath: string): Promise<{ images: IdxArray; labels: Uint8Array }> {
  const [images, labels] = await Promise.all([readIdx(imagesPath), readIdx(labelsPath)]);
  if (images.shape.length !== 3) throw new Error(`${imagesPath}: expected images [n, height, width], got [${images.shape.join(', ')}]`);
  if (labels.shape.length !== 1 || labels.shape[0] !== images.shape[0]) {
    throw new Error(`${labelsPath}: expected ${images.shape[0]} labels, got shape [${labels.shape.join(', ')}]`);
  }
  return { images, labels: labels.data };
}
