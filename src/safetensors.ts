/**
 * The safetensors format (huggingface/safetensors), written from its published layout:
 *   8 bytes   little-endian u64 N, the header length
 *   N bytes   UTF-8 JSON: { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {…} },
 *             padded with spaces to a multiple of 8
 *   rest      the tensors' bytes, little-endian, offsets relative to the end of the header
 * Only F32 and I32 are used here.
 */

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

export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  if (bytes.length < 8) throw new Error('safetensors file is shorter than its 8-byte header length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.length) throw new Error('safetensors header runs past the end of the file (truncated?)');
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('utf8')) as Record<string, unknown>;
  const dataStart = 8 + headerLength;
  const tensors: NamedArray[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: [begin, end] } = entry as { dtype: DtypeName; shape: number[]; data_offsets: [number, number] };
    const Ctor = DTYPE[dtype];
    if (!Ctor) throw new Error(`safetensors dtype ${dtype} of ${name} is not supported`);
    if (dataStart + end > bytes.length) throw new Error(`safetensors tensor ${name} runs past the end of the file (truncated?)`);
    const elements = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== elements * Ctor.BYTES_PER_ELEMENT) {
      throw new Error(`safetensors tensor ${name} has ${end - begin} bytes, but its shape [${shape}] of ${dtype} needs ${elements * Ctor.BYTES_PER_ELEMENT}`);
    }
    // A copy with its own aligned buffer (Node's Buffer.slice would share a pooled one).
    const copy = new Uint8Array(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.push({ name, shape, data: new Ctor(copy.buffer, 0, (end - begin) / Ctor.BYTES_PER_ELEMENT) });
  }
  return { tensors, metadata: (header.__metadata__ as Record<string, string>) ?? {} };
}
