import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CsvDataConfig } from '../../src/config/types.generated.js';
import { csv, parseCsv, parseNumber, sortLabels } from '../../src/data/csv.js';
import { dataFamily } from '../../src/data/registry.js';
import { EXIT, UserError } from '../../src/errors.js';
import { tempDir } from '../helpers/cli.js';

const dir = tempDir('lion-train-csv-');
afterAll(() => dir.cleanup());

function file(name: string, content: string): string {
  const path = join(dir.path, name);
  writeFileSync(path, content);
  return path;
}

const config = (path: string, overrides: Partial<CsvDataConfig> = {}): CsvDataConfig => ({
  name: 'csv',
  path,
  labelColumn: 'kind',
  featureColumns: null,
  delimiter: ',',
  header: true,
  standardize: true,
  validationFraction: 0.25,
  testFraction: 0.2,
  splitSeed: 0,
  ...overrides,
});

/** 20 rows: x = row index, y = 10·index, kind cycles b, a, c. */
const TABLE = ['x,kind,y', ...Array.from({ length: 20 }, (_, i) => `${i},${['b', 'a', 'c'][i % 3]},${10 * i}`)].join('\n') + '\n';

async function loadError(c: CsvDataConfig): Promise<UserError> {
  const error = await csv.load(c, { seed: 1 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UserError);
  return error as UserError;
}

describe('parseCsv', () => {
  it('reads quoted fields with delimiters, doubled quotes and line breaks, CRLF, a BOM, and skips blank lines', () => {
    const text = '\ufeffname,note\r\n"Smith, J","said ""hi"""\r\n\r\nplain,"two\nlines"\nlast,\n';
    expect(parseCsv(text)).toEqual([
      { fields: ['name', 'note'], line: 1 },
      { fields: ['Smith, J', 'said "hi"'], line: 2 },
      { fields: ['plain', 'two\nlines'], line: 4 },
      { fields: ['last', ''], line: 6 },
    ]);
    expect(parseCsv('a;b\n1;2', ';')).toEqual([
      { fields: ['a', 'b'], line: 1 },
      { fields: ['1', '2'], line: 2 },
    ]);
  });

  it('locates malformed quoting by file and line', () => {
    expect(() => parseCsv('a,b\n1,"open\n2,3\n', ',', 'data/t.csv')).toThrow('data/t.csv:2: a quoted field is not closed');
    expect(() => parseCsv('a,b\n"x"y,1\n', ',', 't.csv')).toThrow(/^t\.csv:2: unexpected "y" after a closing quote/);
    expect(() => parseCsv('a,b\n1,2\nx"y,3\n', ',', 't.csv')).toThrow(/^t\.csv:3: a quote inside an unquoted field/);
  });
});

describe('csv', () => {
  it('is registered and describes vector data', () => {
    expect(dataFamily('csv')).toBe(csv);
    expect(csv.describe(config('x.csv'))).toEqual({ kind: 'vector' });
  });

  it('maps labels to ids in sorted order, numerically when they are numbers', () => {
    expect(sortLabels(['b', 'a', 'c', 'a'])).toEqual(['a', 'b', 'c']);
    expect(sortLabels(['10', '9', '2'])).toEqual(['2', '9', '10']);
    expect(sortLabels(['10', 'x', '2'])).toEqual(['10', '2', 'x']);
  });

  it('splits rows by splitSeed into test, train and validation, the same on every load', async () => {
    const path = file('table.csv', TABLE);
    const data = await csv.load(config(path), { seed: 1 });
    // 20 rows: test round(20·0.2) = 4; of 16, validation round(16·0.25) = 4; train 12.
    expect([data.train.size, data.validation?.size, data.test?.size]).toEqual([12, 4, 4]);
    expect(data.spec).toEqual({ kind: 'vector', shape: [2], classes: 3 });
    const all = (d: typeof data) => [d.train, d.validation!, d.test!].map((s) => [...s.gather(Array.from({ length: s.size }, (_, i) => i)).x]);
    const again = await csv.load(config(path), { seed: 2 });
    expect(all(again)).toEqual(all(data));
    const reshuffled = await csv.load(config(path, { splitSeed: 1 }), { seed: 1 });
    expect(all(reshuffled)[2]).not.toEqual(all(data)[2]);
  });

  it('standardises features with the training split statistics, and keeps labels with their rows', async () => {
    const path = file('table.csv', TABLE);
    const raw = await csv.load(config(path, { standardize: false }), { seed: 1 });
    const scaled = await csv.load(config(path), { seed: 1 });
    const rows = (d: typeof raw, split: 'train' | 'test') => d[split]!.gather(Array.from({ length: d[split]!.size }, (_, i) => i));
    const train = rows(raw, 'train');
    const firstColumn = [...train.x].filter((_, k) => k % 2 === 0);
    // Raw features are (index, 10·index); the label of row i is ['b', 'a', 'c'][i % 3] → ids a 0, b 1, c 2.
    for (let i = 0; i < train.y.length; i++) {
      const index = train.x[2 * i];
      expect(train.x[2 * i + 1]).toBe(10 * index);
      expect(train.y[i]).toBe([1, 0, 2][index % 3]);
    }
    const mean = firstColumn.reduce((a, b) => a + b, 0) / firstColumn.length;
    const std = Math.sqrt(firstColumn.reduce((a, b) => a + (b - mean) ** 2, 0) / firstColumn.length);
    const trainScaled = rows(scaled, 'train');
    const testScaled = rows(scaled, 'test');
    const testRaw = rows(raw, 'test');
    expect(trainScaled.x[0]).toBeCloseTo((train.x[0] - mean) / std, 5);
    expect(testScaled.x[0]).toBeCloseTo((testRaw.x[0] - mean) / std, 5);
    // Training features have mean 0 and standard deviation 1.
    const column = [...trainScaled.x].filter((_, k) => k % 2 === 1);
    expect(column.reduce((a, b) => a + b, 0) / column.length).toBeCloseTo(0, 5);
    expect(Math.sqrt(column.reduce((a, b) => a + b * b, 0) / column.length)).toBeCloseTo(1, 5);
    expect(JSON.parse(scaled.artifacts!()['csv.json'])).toMatchObject({ features: ['x', 'y'], label: 'kind', classes: ['a', 'b', 'c'] });
  });

  it('takes columns by name or index, with or without a header', async () => {
    const path = file('table.csv', TABLE);
    const byName = await csv.load(config(path, { featureColumns: ['y'] }), { seed: 1 });
    expect(byName.spec.shape).toEqual([1]);
    const noHeader = file('noheader.csv', TABLE.split('\n').slice(1).join('\n'));
    const byIndex = await csv.load(config(noHeader, { header: false, labelColumn: 1, featureColumns: [2] }), { seed: 1 });
    expect(byIndex.spec).toEqual({ kind: 'vector', shape: [1], classes: 3 });
    expect(byIndex.train.gather([0, 1, 2]).x).toEqual(byName.train.gather([0, 1, 2]).x);
  });

  it('check() finds a missing file and columns that are not there, with suggestions', () => {
    expect(csv.check(config(join(dir.path, 'absent.csv')))).toEqual([{ path: 'data.path', message: `${join(dir.path, 'absent.csv')}: no such file` }]);
    const path = file('table.csv', TABLE);
    expect(csv.check(config(path, { labelColumn: 'kinds', featureColumns: ['x', 7] }))).toEqual([
      { path: 'data.labelColumn', message: 'no column "kinds" in table.csv (columns: x, kind, y) (did you mean kind?)' },
      { path: 'data.featureColumns.1', message: 'column index 7 is out of range: table.csv has 3 columns (0-2)' },
    ]);
    expect(csv.check(config(path, { featureColumns: ['kind'] }))).toEqual([{ path: 'data.featureColumns', message: 'includes the label column "kind"' }]);
    expect(csv.check(config(path))).toEqual([]);
  });

  it('refuses a row with the wrong number of fields, located by file and line (exit 1)', async () => {
    const path = file('short.csv', 'x,kind,y\n1,a,2\n\n2,b\n');
    const error = await loadError(config(path));
    expect(error.message).toBe(`${path}:4: expected 3 fields, got 2`);
    expect(error.exitCode).toBe(EXIT.failed);
  });

  it('refuses a feature that is not a number, or missing, located by file, line and column (exit 1)', async () => {
    const bad = await loadError(config(file('word.csv', 'x,kind,y\n1,a,2\n"3",b,four\n')));
    expect(bad.message).toMatch(/word\.csv:3: column "y": "four" is not a number$/);
    expect(bad.exitCode).toBe(EXIT.failed);
    const empty = await loadError(config(file('empty-field.csv', 'x,kind,y\r\n1,a,2\r\n,b,3\r\n')));
    expect(empty.message).toMatch(/empty-field\.csv:3: column "x": is empty \(missing values are not supported\)$/);
  });
});

describe('csv values: one grammar for numbers, non-empty labels', () => {
  it.each([
    ['12', 12],
    [' 1 ', 1],
    ['\t-0.5', -0.5],
    ['.5', 0.5],
    ['1.', 1],
    ['+3', 3],
    ['1.5e-3', 0.0015],
    ['2E5', 200000],
    ['-3.4e38', -3.4e38],
  ])('reads %j as %d', (field, value) => {
    expect(parseNumber(field)).toBe(value);
  });

  it.each([
    ['0x10', '"0x10" is not a number (only decimal numbers are read, not hexadecimal, binary or octal)'],
    ['0b11', '"0b11" is not a number (only decimal numbers are read, not hexadecimal, binary or octal)'],
    ['Infinity', '"Infinity" is not a number (non-finite values are not supported)'],
    ['-inf', '"-inf" is not a number (non-finite values are not supported)'],
    ['NaN', '"NaN" is not a number (non-finite values are not supported)'],
    ['1_000', '"1_000" is not a number (digit separators are not read: write 1000, not 1_000)'],
    ['1,000', '"1,000" is not a number (digit separators are not read: write 1000, not 1_000)'],
    ['1e39', '"1e39" is outside the float32 range (±3.4028235e38)'],
    ['1e', '"1e" is not a number'],
    ['--1', '"--1" is not a number'],
    ['١٢', '"١٢" is not a number'],
    ['', 'is empty (missing values are not supported)'],
    ['  ', 'is empty (missing values are not supported)'],
  ])('refuses %j: %s', (field, reason) => {
    expect(parseNumber(field)).toBe(reason);
  });

  it.each([
    ['0x10', 'x,kind,y\n1,a,2\n0x10,b,3\n', 3, 'column "x": "0x10" is not a number (only decimal numbers are read, not hexadecimal, binary or octal)'],
    ['Infinity', 'x,kind,y\n1,a,2\n2,b,3\n3,a,Infinity\n', 4, 'column "y": "Infinity" is not a number (non-finite values are not supported)'],
    ['"1_000"', 'x,kind,y\n1,a,2\n"1_000",b,3\n', 3, 'column "x": "1_000" is not a number (digit separators are not read: write 1000, not 1_000)'],
    ['an empty label', 'x,kind,y\n1,a,2\n1.0,,2.0\n', 3, 'column "kind": the label is empty (every row needs a label)'],
    ['a blank label', 'x,kind,y\n1,a,2\n1.0, ,2.0\n', 3, 'column "kind": the label is empty (every row needs a label)'],
    ['an empty label at the end of a row', 'x,y,kind\n1,2,a\n1.0,2.0,\n', 3, 'column "kind": the label is empty (every row needs a label)'],
    ['an empty quoted label after a multi-line field', 'x,y,kind\n1,2,"a\nb"\n1.0,2.0,""\n', 4, 'column "kind": the label is empty (every row needs a label)'],
  ])('a file with %s is a data error at file:line (exit 1)', async (_what, content, line, message) => {
    const path = file('values.csv', content);
    const error = await loadError(config(path));
    expect(error.message).toBe(`${path}:${line}: ${message}`);
    expect(error.exitCode).toBe(EXIT.failed);
  });

  it('trims labels, and sorts them numerically only when every label is a decimal number', async () => {
    expect(sortLabels(['0x10', '9'])).toEqual(['0x10', '9']);
    expect(sortLabels(['1e1', '9', '-1'])).toEqual(['-1', '9', '1e1']);
    const path = file('trim.csv', 'x,kind\n1, b \n2,a\n3,b\n4,a\n5,b\n6,a\n');
    const data = await csv.load(config(path, { testFraction: 0, validationFraction: 0 }), { seed: 1 });
    expect(JSON.parse(data.artifacts!()['csv.json']).classes).toEqual(['a', 'b']);
  });

  it('refuses a file whose values pass the in-memory data limit, with the limit (exit 2)', async () => {
    const path = file('limit.csv', TABLE);
    process.env.LION_TRAIN_DATA_MEMORY_LIMIT = '300';
    try {
      const error = await loadError(config(path));
      expect(error.message).toMatch(new RegExp(`^${path}: its values pass the in-memory data limit of 300 bytes at line 5 \\(3 rows of 2 features at 12 bytes a value\\); set LION_TRAIN_DATA_MEMORY_LIMIT`));
      expect(error.exitCode).toBe(EXIT.usage);
    } finally {
      delete process.env.LION_TRAIN_DATA_MEMORY_LIMIT;
    }
  });

  it('reads a file that is not valid UTF-8 as a data error at file:line:col', async () => {
    const path = join(dir.path, 'latin1.csv');
    writeFileSync(path, Buffer.concat([Buffer.from('x,kind\n1,a\n2,caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
    const error = await loadError(config(path));
    expect(error.message).toBe(`${path}:3:6: not valid UTF-8 (byte 0xe9 at offset 16)`);
  });
});
