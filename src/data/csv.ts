/**
 * A local CSV file as a classification dataset: one example per row, a label column and numeric features.
 *
 * - Parsing (RFC 4180, by the csv-parse library, streamed: the file is never held whole): `delimiter`-separated
 *   fields, fields in double quotes may hold delimiters, line breaks and doubled quotes (""); LF, CRLF or CR line
 *   ends; a UTF-8 byte-order mark and empty lines are ignored; the text must be valid UTF-8.
 * - Columns: `labelColumn` and `featureColumns` by header name or 0-based index; features default to every
 *   column but the label.
 * - Values (one rule for every field): spaces and tabs around a field are ignored. A feature is a decimal number
 *   (`numberGrammar`: optional sign, digits with an optional fraction, optional exponent: `12`, `-0.5`, `.5`,
 *   `1.5e-3`) within the float32 range; anything else (`0x10`, `Infinity`, `NaN`, `1_000`, an empty field) is a
 *   located data error. A label is any non-empty text; an empty label is a located data error.
 * - Labels: the distinct label strings, sorted (numerically when all are decimal numbers, else by code unit), get
 *   ids 0, 1, …, the same for a given file on every machine.
 * - Split: rows are shuffled with `splitSeed`; the first round(n·testFraction) are the test split, and of the
 *   rest the last round(m·validationFraction) validate (as `holdOut` counts for every dataset), the others train.
 * - Standardisation (`standardize`): each feature minus its mean over the training split, divided by its
 *   standard deviation there (1 where that is 0).
 * - Memory: the parsed values (8 bytes per feature value) are limited to the in-memory data limit
 *   (`dataMemoryLimit`); a file whose values would exceed it is refused, naming its size and the limit, as soon
 *   as the limit is passed.
 * A malformed row is a data error located as `file.csv:LINE: …` (exit 1); a missing, unreadable or non-regular
 * file or a missing column is a config problem `check()` reports (exit 2).
 */
import { closeSync, readSync } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import { basename } from 'node:path';
import { CsvError, parse as csvParser, type Options as CsvOptions } from 'csv-parse';
import { parse as parseCsvSync } from 'csv-parse/sync';
import type { CsvDataConfig } from '../config/types.generated.js';
import { didYouMean } from '../config/suggest.js';
import { EXIT, UserError } from '../errors.js';
import { dataMemoryLimit, DATA_LIMIT_HINT } from '../files/limits.js';
import { formatBytes, inputFileProblem, inputFileStream, openInputFile } from '../files/input-file.js';
import { utf8Chunks } from '../files/utf8-chunks.js';
import type { InputKind, SpecIssue } from '../models/model.js';
import { Rng } from '../random.js';
import type { DataFamily, Dataset } from './dataset.js';
import { holdOut, inMemoryDataset, type ExampleArrays } from './in-memory.js';

export interface CsvRecord {
  fields: string[];
  /** 1-based line where the record starts. */
  line: number;
}

function dataError(file: string, line: number, message: string): UserError {
  return new UserError(`${file}:${line}: ${message}`, EXIT.failed);
}

/** The one grammar for numbers in data files: decimal, optional sign, fraction and exponent. */
export const numberGrammar = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

const FLOAT32_MAX = 3.4028234663852886e38;

/** Spaces and tabs around a field are not part of its value. */
export function trimField(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, '');
}

/**
 * A field's value as a number by `numberGrammar`, or the reason it is not one (a phrase for a message).
 * Surrounding spaces and tabs are ignored; the value must fit float32 (|x| ≤ 3.4028235e38).
 */
export function parseNumber(field: string): number | string {
  const text = trimField(field);
  if (text === '') return 'is empty (missing values are not supported)';
  if (!numberGrammar.test(text)) {
    const quoted = JSON.stringify(text);
    if (/^[+-]?0[xX][0-9a-fA-F]+$/.test(text) || /^[+-]?0[bBoO]\d+$/.test(text)) return `${quoted} is not a number (only decimal numbers are read, not hexadecimal, binary or octal)`;
    if (/^[+-]?(inf|infinity|nan)$/i.test(text)) return `${quoted} is not a number (non-finite values are not supported)`;
    if (/^[+-]?\d[\d_,' ]*\d(\.\d*)?$/.test(text)) return `${quoted} is not a number (digit separators are not read: write 1000, not 1_000)`;
    return `${quoted} is not a number`;
  }
  const value = Number(text);
  if (!(Math.abs(value) <= FLOAT32_MAX)) return `${JSON.stringify(text)} is outside the float32 range (±3.4028235e38)`;
  return value;
}

/** Line breaks inside a record's fields (CRLF counts once). */
function breaksIn(fields: string[]): number {
  let n = 0;
  for (const f of fields) n += f.match(/\r\n|\n|\r/g)?.length ?? 0;
  return n;
}


/**
 * Turns csv-parse records into `CsvRecord`s with their starting line, and its errors into located
 * `UserError`s (exit 1) in lion-train's words.
 */
class RecordLines {
  private lastLine = 0;
  private lastEmpty = 0;

  constructor(private readonly file: string) {}

  /** csv-parse options for lion-train's dialect; each record comes out as a `CsvRecord`. */
  options(delimiter: string): CsvOptions {
    return {
      delimiter,
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
      record_delimiter: ['\r\n', '\n', '\r'],
      on_record: (record: string[], context: { lines: number; empty_lines: number }): CsvRecord => {
        this.lastLine = context.lines;
        this.lastEmpty = context.empty_lines;
        return { fields: record, line: context.lines - breaksIn(record) };
      },
    } as unknown as CsvOptions;
  }

  error(error: unknown): unknown {
    if (!(error instanceof CsvError)) return error;
    const e = error as CsvError & { lines?: number; empty_lines?: number };
    const here = e.lines ?? this.lastLine + 1;
    switch (e.code) {
      case 'CSV_QUOTE_NOT_CLOSED':
        return dataError(this.file, this.lastLine + 1 + ((e.empty_lines ?? this.lastEmpty) - this.lastEmpty), 'a quoted field is not closed');
      case 'CSV_INVALID_CLOSING_QUOTE':
      case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE': {
        const got = /got "([^]*?)" at line/.exec(e.message)?.[1];
        return dataError(this.file, here, `unexpected ${JSON.stringify(got ?? '?')} after a closing quote (a quote inside a quoted field is written "")`);
      }
      case 'INVALID_OPENING_QUOTE': {
        const value = /value is "([^]*)"$/.exec(e.message)?.[1] ?? '';
        return dataError(this.file, here, `a quote inside an unquoted field: ${JSON.stringify(`${value}"`)} (quote the whole field and write "" for a quote)`);
      }
      default:
        return dataError(this.file, here, e.message);
    }
  }
}

/** Parses CSV text into records (at most `limit`). Errors name the file and line. */
export function parseCsv(content: string, delimiter = ',', file = 'input.csv', limit = Infinity): CsvRecord[] {
  const lines = new RecordLines(file);
  try {
    return parseCsvSync(content, { ...lines.options(delimiter), to: Number.isFinite(limit) ? limit : undefined }) as unknown as CsvRecord[];
  } catch (error) {
    throw lines.error(error);
  }
}

/** Streams the records of a CSV file (strict UTF-8), each with its starting line. */
export async function* streamCsv(path: string, delimiter = ','): AsyncGenerator<CsvRecord> {
  const { stream } = inputFileStream(path);
  const lines = new RecordLines(path);
  const parser = csvParser(lines.options(delimiter));
  pipeline(Readable.from(utf8Chunks(stream, path)), parser, () => {}); // a source error destroys the parser with it
  try {
    for await (const record of parser) yield record as CsvRecord;
  } catch (error) {
    throw lines.error(error);
  } finally {
    stream.destroy();
    parser.destroy();
  }
}

/** Column names: the header row, or "0", "1", … without one. */
function columnNames(config: CsvDataConfig, first: CsvRecord): string[] {
  return config.header ? first.fields.map((f) => f.trim()) : first.fields.map((_, i) => String(i));
}

interface Columns {
  label: number;
  features: number[];
}

/** Resolves label and feature columns against the names; problems as config issues. */
function resolveColumns(config: CsvDataConfig, names: string[], file: string): { columns?: Columns; issues: SpecIssue[] } {
  const issues: SpecIssue[] = [];
  const listed = names.length > 12 ? `${names.slice(0, 12).join(', ')}, …` : names.join(', ');
  const find = (ref: string | number, path: string): number | undefined => {
    if (typeof ref === 'number') {
      if (ref < names.length) return ref;
      issues.push({ path, message: `column index ${ref} is out of range: ${file} has ${names.length} columns (0-${names.length - 1})` });
      return undefined;
    }
    const index = names.indexOf(ref);
    if (index >= 0) return index;
    const hint = config.header ? ` (columns: ${listed})${didYouMean(ref, names)}` : ' (data.header is false: name columns by 0-based index)';
    issues.push({ path, message: `no column ${JSON.stringify(ref)} in ${file}${hint}` });
    return undefined;
  };
  const label = find(config.labelColumn, 'data.labelColumn');
  let features: (number | undefined)[];
  if (config.featureColumns === null) {
    features = names.map((_, i) => i).filter((i) => i !== label);
  } else {
    features = config.featureColumns.map((ref, i) => find(ref, `data.featureColumns.${i}`));
    if (label !== undefined && features.includes(label)) issues.push({ path: 'data.featureColumns', message: `includes the label column ${JSON.stringify(names[label])}` });
    const seen = new Set<number>();
    for (const f of features) {
      if (f !== undefined && seen.has(f)) issues.push({ path: 'data.featureColumns', message: `lists column ${JSON.stringify(names[f])} twice` });
      if (f !== undefined) seen.add(f);
    }
  }
  if (features.length === 0) issues.push({ path: 'data.featureColumns', message: `${file} has no feature columns besides the label` });
  if (issues.length > 0 || label === undefined) return { issues };
  return { columns: { label, features: features as number[] }, issues };
}

/** Sorted distinct labels: numeric order when every label is a number, else code-unit order. */
export function sortLabels(labels: Iterable<string>): string[] {
  const distinct = [...new Set(labels)];
  const numeric = distinct.every((l) => numberGrammar.test(l));
  return numeric ? distinct.sort((a, b) => Number(a) - Number(b)) : distinct.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Bytes a feature value takes while loading: 8 as parsed (float64), 4 in the float32 arrays the model reads. */
const BYTES_PER_VALUE = 12;

/** A copy of `array` with room for at least `needed` elements (capacity doubles). */
function grow<T extends Float64Array | Int32Array>(array: T, needed: number): T {
  const bigger = new (array.constructor as new (n: number) => T)(Math.max(needed, 2 * array.length, 1024));
  bigger.set(array);
  return bigger;
}

/** The start of a file for `check()`: up to 1 MiB, cut after its last complete line when the file is longer. */
function readHead(path: string): string {
  const { fd, size } = openInputFile(path);
  try {
    const head = Buffer.alloc(Math.min(size, HEAD_BYTES));
    const n = readSync(fd, head, 0, head.length, 0);
    const bytes = head.subarray(0, n);
    const cut = n < size ? bytes.lastIndexOf(0x0a) + 1 : n;
    return bytes.subarray(0, cut).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

const HEAD_BYTES = 1 << 20;

export const csv: DataFamily<CsvDataConfig> = {
  name: 'csv',

  describe(): InputKind {
    return { kind: 'vector' };
  },

  splits(config: CsvDataConfig) {
    return { validation: config.validationFraction > 0, test: config.testFraction > 0 };
  },

  check(config: CsvDataConfig): SpecIssue[] {
    const problem = inputFileProblem(config.path);
    if (problem) return [{ path: 'data.path', message: problem }];
    let first: CsvRecord | undefined;
    try {
      [first] = parseCsv(readHead(config.path), config.delimiter, config.path, 1);
    } catch (error) {
      return [{ path: 'data.path', message: (error as Error).message }];
    }
    if (!first) return [{ path: 'data.path', message: `${config.path} is empty` }];
    return resolveColumns(config, columnNames(config, first), basename(config.path)).issues;
  },

  async load(config: CsvDataConfig): Promise<Dataset> {
    const file = config.path;
    const limit = dataMemoryLimit();
    let names: string[] | undefined;
    let columns: Columns | undefined;
    let width = 0;
    let f = 0;
    let rows = 0;
    let values = new Float64Array(0);
    let labelIds = new Int32Array(0);
    const labelIndex = new Map<string, number>(); // label → id in order of first appearance
    let labelBytes = 0;

    // Stream the rows: the field count, then each feature by the number grammar and a non-empty label.
    for await (const row of streamCsv(file, config.delimiter)) {
      if (!names) {
        names = columnNames(config, row);
        const resolved = resolveColumns(config, names, basename(file));
        if (!resolved.columns) throw new UserError(resolved.issues.map((i) => `${i.path}: ${i.message}`).join('; '), EXIT.usage);
        columns = resolved.columns;
        width = names.length;
        f = columns.features.length;
        if (config.header) continue;
      }
      if (row.fields.length !== width) throw dataError(file, row.line, `expected ${width} fields, got ${row.fields.length}`);
      if ((rows + 1) * (BYTES_PER_VALUE * f + 8) + labelBytes > limit) {
        throw new UserError(
          `${file}: its values pass the in-memory data limit of ${formatBytes(limit)} at line ${row.line} (${rows} rows of ${f} features at ${BYTES_PER_VALUE} bytes a value); ${DATA_LIMIT_HINT}`,
          EXIT.usage,
        );
      }
      if (rows * f + f > values.length) values = grow(values, rows * f + f);
      if (rows + 1 > labelIds.length) labelIds = grow(labelIds, rows + 1);
      columns!.features.forEach((column, j) => {
        const value = parseNumber(row.fields[column]);
        if (typeof value === 'string') throw dataError(file, row.line, `column ${JSON.stringify(names![column])}: ${value}`);
        values[rows * f + j] = value;
      });
      const label = trimField(row.fields[columns!.label]);
      if (label === '') throw dataError(file, row.line, `column ${JSON.stringify(names[columns!.label])}: the label is empty (every row needs a label)`);
      let id = labelIndex.get(label);
      if (id === undefined) {
        id = labelIndex.size;
        labelIndex.set(label, id);
        labelBytes += 2 * label.length + 64;
      }
      labelIds[rows] = id;
      rows++;
    }
    if (!names || !columns) throw new UserError(`${file} is empty`, EXIT.failed);
    if (rows === 0) throw new UserError(`${file}: no data rows`, EXIT.failed);

    const classes = sortLabels(labelIndex.keys());
    if (classes.length < 2) throw new UserError(`${file}: the label column ${JSON.stringify(names[columns.label])} has only one class (${JSON.stringify(classes[0])})`, EXIT.failed);
    const sortedId = new Map(classes.map((c, i) => [c, i]));
    const classOf = new Int32Array(labelIndex.size);
    for (const [label, id] of labelIndex) classOf[id] = sortedId.get(label)!;

    // Seeded split: test first, then train + validation (validation at the end, as holdOut counts it).
    const order = Rng.derive(config.splitSeed, 'csv-split').permutation(rows);
    const testCount = Math.round(rows * config.testFraction);
    const rest = order.subarray(testCount);
    const counts = holdOut(rest.length, config.validationFraction);
    if (counts.train < 1) throw new UserError(`${file}: ${rows} rows leave no training rows after the test and validation splits`, EXIT.failed);

    const mean = new Float64Array(f);
    const std = new Float64Array(f).fill(1);
    if (config.standardize) {
      const trainRows = rest.subarray(0, counts.train);
      for (const r of trainRows) for (let j = 0; j < f; j++) mean[j] += values[r * f + j] / trainRows.length;
      const variance = new Float64Array(f);
      for (const r of trainRows) for (let j = 0; j < f; j++) variance[j] += (values[r * f + j] - mean[j]) ** 2 / trainRows.length;
      for (let j = 0; j < f; j++) std[j] = variance[j] > 0 ? Math.sqrt(variance[j]) : 1;
    }
    const arrays = (rowIds: ArrayLike<number>): ExampleArrays => {
      const x = new Float32Array(rowIds.length * f);
      const y = new Int32Array(rowIds.length);
      for (let i = 0; i < rowIds.length; i++) {
        const r = rowIds[i];
        for (let j = 0; j < f; j++) x[i * f + j] = (values[r * f + j] - mean[j]) / std[j];
        y[i] = classOf[labelIds[r]];
      }
      return { x, y, exampleShape: [f] };
    };

    const dataset = inMemoryDataset({
      spec: { kind: 'vector', shape: [f], classes: classes.length },
      train: arrays(rest),
      test: testCount > 0 ? arrays(order.subarray(0, testCount)) : undefined,
      validationFraction: config.validationFraction,
    });
    const description = {
      features: columns.features.map((c) => names[c]),
      label: names[columns.label],
      classes,
      mean: [...mean],
      std: [...std],
    };
    return { ...dataset, artifacts: () => ({ 'csv.json': `${JSON.stringify(description, null, 2)}\n` }) };
  },
};
