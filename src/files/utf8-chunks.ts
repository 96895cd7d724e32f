/**
 * Strict UTF-8 decoding of a byte stream into text chunks, so a file is never held whole.
 * A byte sequence that is not UTF-8 is a data error located as `file:line:column` (1-based, counted in
 * Unicode code points on that line), with its byte offset; a UTF-8 byte-order mark at the start is dropped.
 */
import { EXIT, UserError } from '../errors.js';

/** Length of the incomplete UTF-8 sequence at the end of `bytes` (0-3), to carry into the next chunk. */
function incompleteTail(bytes: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const b = bytes[bytes.length - back];
    if ((b & 0xc0) === 0x80) continue; // continuation byte: look further back
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/** Counts lines and columns of decoded text, to locate a position in the file. */
class Position {
  line = 1;
  column = 1;

  advance(text: string): void {
    let last = -1;
    for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) {
      this.line++;
      last = at;
    }
    const tail = [...text.slice(last + 1)].length; // code points after the last line break
    this.column = last >= 0 ? 1 + tail : this.column + tail;
  }
}

/** The longest prefix of `bytes` that is valid UTF-8 (possibly ending in an incomplete sequence). */
function validPrefixLength(bytes: Uint8Array): number {
  let low = 0;
  let high = bytes.length; // invalid at high, valid at low
  while (high - low > 1) {
    const mid = (low + high) >>> 1;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid), { stream: true });
      low = mid;
    } catch {
      high = mid;
    }
  }
  return low;
}

/**
 * Decodes `chunks` (the bytes of `file`, in order) as strict UTF-8, yielding text pieces.
 * @throws UserError (exit 1) `file:line:col: not valid UTF-8 (byte 0xNN at offset K)`.
 */
export async function* utf8Chunks(chunks: AsyncIterable<Uint8Array>, file: string): AsyncGenerator<string> {
  const position = new Position();
  let carry = new Uint8Array(0);
  let offset = 0; // bytes of the file decoded before `carry`
  let first = true;
  for await (const chunk of chunks) {
    const bytes = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    const keep = incompleteTail(bytes);
    const whole = bytes.subarray(0, bytes.length - keep);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(whole);
    } catch {
      const prefix = validPrefixLength(whole);
      const valid = prefix - incompleteTail(whole.subarray(0, prefix)); // where the bad sequence starts
      position.advance(new TextDecoder('utf-8', { ignoreBOM: true }).decode(whole.subarray(0, valid)));
      const hex = whole[valid].toString(16).padStart(2, '0');
      throw new UserError(`${file}:${position.line}:${position.column}: not valid UTF-8 (byte 0x${hex} at offset ${offset + valid})`, EXIT.failed);
    }
    if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.length > 0) first = false;
    position.advance(text);
    offset += whole.length;
    carry = Uint8Array.from(bytes.subarray(bytes.length - keep));
    if (text.length > 0) yield text;
  }
  if (carry.length > 0) {
    throw new UserError(`${file}:${position.line}:${position.column}: not valid UTF-8 (the file ends inside a character, at offset ${offset})`, EXIT.failed);
  }
}
