import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TextDataConfig } from '../../src/config/types.generated.js';
import { dataFamily } from '../../src/data/registry.js';
import { text, Vocabulary } from '../../src/data/text.js';
import { EXIT, UserError } from '../../src/errors.js';
import { tempDir } from '../helpers/cli.js';

const dir = tempDir('lion-train-text-');
afterAll(() => dir.cleanup());

function file(name: string, content: string | Uint8Array): string {
  const path = join(dir.path, name);
  writeFileSync(path, content);
  return path;
}

const config = (overrides: Partial<TextDataConfig> = {}): TextDataConfig => ({
  name: 'text',
  source: 'moby-dick',
  path: null,
  validationFraction: 0.1,
  evalWindows: 4,
  ...overrides,
});

describe('Vocabulary', () => {
  it('holds the sorted unique characters, code points included, and encodes and decodes', () => {
    const vocabulary = Vocabulary.fromText('banana — 🐋!\nab');
    expect(vocabulary.characters).toEqual(['\n', ' ', '!', 'a', 'b', 'n', '—', '🐋']);
    const ids = vocabulary.encode('ban 🐋');
    expect([...ids]).toEqual([4, 3, 5, 1, 7]);
    expect(vocabulary.decode(ids)).toBe('ban 🐋');
    expect(Vocabulary.fromJson(vocabulary.toJson()).characters).toEqual(vocabulary.characters);
  });

  it('names a character it does not know (a usage error)', () => {
    const vocabulary = Vocabulary.fromText('abc');
    let error: unknown;
    try {
      vocabulary.encode('abé');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toBe('character "é" (U+00E9) at position 2 is not in the vocabulary (3 characters)');
    expect((error as UserError).exitCode).toBe(EXIT.usage);
  });
});

describe('text', () => {
  it('is registered and describes token data', () => {
    expect(dataFamily('text')).toBe(text);
    expect(text.describe(config())).toEqual({ kind: 'tokens' });
  });

  it('splits a file contiguously and gives windows x and y shifted by one, as int32 [batch, contextLength]', async () => {
    const content = 'abcdefghijklmnopqrst';
    const data = await text.load(config({ path: file('abc.txt', content), validationFraction: 0.25 }), { seed: 1, contextLength: 4 });
    // 20 characters: train [0, 15), validation [15, 20). Training windows start at 0..10, validation at 0 only.
    expect(data.spec).toEqual({ kind: 'tokens', shape: [4], classes: 20 });
    expect(data.train.size).toBe(11);
    const batch = data.train.gather([0, 10]);
    expect(batch.x).toBeInstanceOf(Int32Array);
    expect(batch.xShape).toEqual([2, 4]);
    expect(batch.yShape).toEqual([2, 4]);
    expect(data.decode!(batch.x)).toBe('abcd' + 'klmn');
    expect(data.decode!(batch.y)).toBe('bcde' + 'lmno');
    expect(data.validation!.size).toBe(1);
    expect(data.decode!(data.validation!.gather([0]).x)).toBe('pqrs');
    expect(data.decode!(data.validation!.gather([0]).y)).toBe('qrst');
    expect(() => data.train.gather([11])).toThrow(RangeError);
  });

  it('spreads evalWindows validation windows evenly over the held-out text', async () => {
    const content = Array.from({ length: 100 }, (_, i) => String.fromCharCode(48 + (i % 60))).join('');
    const data = await text.load(config({ path: file('spread.txt', content), validationFraction: 0.5, evalWindows: 4 }), { seed: 1, contextLength: 10 });
    // Validation is [50, 100): 40 possible starts; 4 windows start at 0, 10, 20, 30 of it.
    expect(data.validation!.size).toBe(4);
    const starts = [0, 1, 2, 3].map((i) => data.validation!.gather([i]).x[0]);
    expect(data.decode!(starts)).toBe(content[50] + content[60] + content[70] + content[80]);
  });

  it('stores its vocabulary as vocab.json for the run directory', async () => {
    const data = await text.load(config({ path: file('v.txt', 'hello world, hello moon'), validationFraction: 0.25 }), { seed: 1, contextLength: 3 });
    expect(Object.keys(data.artifacts!())).toEqual(['vocab.json']);
    expect(Vocabulary.fromJson(data.artifacts!()['vocab.json']).characters).toEqual([' ', ',', 'd', 'e', 'h', 'l', 'm', 'n', 'o', 'r', 'w']);
    expect([...data.encode!('hello')]).toEqual([4, 3, 5, 5, 8]);
  });

  it('reads Moby-Dick from the npm package without the network', async () => {
    const data = await text.load(config({ evalWindows: 256 }), { seed: 1, contextLength: 64 });
    expect(data.decode!(data.train.gather([0]).x)).toMatch(/^CHAPTER 1\. Loomings\.\n\nCall me Ishmael\./);
    expect(data.spec.classes).toBe(83);
    expect(data.train.size).toBeGreaterThan(1_000_000);
    expect(data.validation!.size).toBe(256);
  });

  it('check() finds a missing file; load() refuses text shorter than a window and bytes that are not UTF-8', async () => {
    const missing = join(dir.path, 'absent.txt');
    expect(text.check(config({ path: missing }))).toEqual([{ path: 'data.path', message: `${missing}: no such file` }]);
    expect(text.check(config())).toEqual([]);
    const short = file('short.txt', 'abcdefghij');
    await expect(text.load(config({ path: short, validationFraction: 0.5 }), { seed: 1, contextLength: 8 })).rejects.toThrow(
      `${short}: the training text has 5 characters, fewer than model.contextLength + 1 = 9`,
    );
    const latin1 = file('latin1.txt', Uint8Array.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    await expect(text.load(config({ path: latin1 }), { seed: 1, contextLength: 2 })).rejects.toThrow(`${latin1}:1:4: not valid UTF-8 (byte 0xe9 at offset 3)`);
  });
});
