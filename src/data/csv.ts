/**
 * A local CSV file as a classification dataset: one example per row, a label column and numeric features.
 *
 * - Parsing (RFC 4180): `delimiter`-separated fields, fields in double quotes may hold delimiters, line
 *   breaks and doubled quotes (""); LF or CRLF line ends; a UTF-8 byte-order mark and blank lines are ignored.
 * - Columns: `labelColumn` and `featureColumns` by header name or 0-based index; features default to every
 *   column but the label.
 * - Labels: the distinct label strings, sorted (numerically when all are numbers, else by code unit), get ids
 *   0, 1, …, the same for a given file on every machine.
 * - Split: rows are shuffled with `splitSeed`; the first round(n·testFraction) are the test split, and of the
 *   rest the last round(m·validationFraction) validate (as `holdOut` counts for every dataset), the others train.
 * - Standardisation (`standardize`): each feature minus its mean over the training split, divided by its
 *   standard deviation there (1 where that is 0).
 * A malformed row is a data error located as `file.csv:LINE: …` (exit 1); a missing file or column is a config
 * problem `check()` reports (exit 2).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { CsvDataConfig } from '../config/types.generated.js';
import { didYouMean } from '../config/suggest.js';
import { EXIT, UserError } from '../errors.js';
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

/** Parses CSV text into records (at most `limit`). Errors name the file and line. */
export function parseCsv(content: string, delimiter = ',', file = 'input.csv', limit = Infinity): CsvRecord[] {
  const records: CsvRecord[] = [];
  let i = content.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const n = content.length;
  while (i < n && records.length < limit) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      // One field.
      let value = '';
      if (content[i] === '"') {
        i++;
        for (;;) {
          if (i >= n) throw dataError(file, start, 'a quoted field is not closed');
          const c = content[i];
          if (c === '"') {
            if (content[i + 1] === '"') {
              value += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          value += c;
          i++;
        }
        const next = content[i];
        if (i < n && next !== delimiter && next !== '\n' && next !== '\r') {
          throw dataError(file, line, `unexpected ${JSON.stringify(next)} after a closing quote (a quote inside a quoted field is written "")`);
        }
      } else {
        const from = i;
        while (i < n && content[i] !== delimiter && content[i] !== '\n' && content[i] !== '\r') i++;
        value = content.slice(from, i);
        if (value.includes('"')) throw dataError(file, line, `a quote inside an unquoted field: ${JSON.stringify(value)} (quote the whole field and write "" for a quote)`);
      }
      fields.push(value);
      if (i < n && content[i] === delimiter) {
        i++;
        continue;
      }
      break;
    }
    // End of record: CRLF, LF, lone CR or end of text.
    if (content[i] === '\r') i++;
    if (content[i] === '\n') i++;
    line++;
    const blank = fields.length === 1 && fields[0] === '';
    if (!blank) records.push({ fields, line: start });
  }
  return records;
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
  const numeric = distinct.every((l) => l !== '' && Number.isFinite(Number(l)));
  return numeric ? distinct.sort((a, b) => Number(a) - Number(b)) : distinct.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function readCsvText(path: string): string {
  const bytes = readFileSync(path);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UserError(`${path}: not valid UTF-8 text`, EXIT.failed);
  }
}

export const csv: DataFamily<CsvDataConfig> = {
  name: 'csv',

  describe(): InputKind {
    return { kind: 'vector' };
  },

  splits(config: CsvDataConfig) {
    return { validation: config.validationFraction > 0, test: config.testFraction > 0 };
  },

  check(config: CsvDataConfig): SpecIssue[] {
    if (!existsSync(config.path)) return [{ path: 'data.path', message: `no such file: ${config.path}` }];
    let first: CsvRecord | undefined;
    try {
      [first] = parseCsv(readCsvText(config.path), config.delimiter, config.path, 1);
    } catch (error) {
      return [{ path: 'data.path', message: (error as Error).message }];
    }
    if (!first) return [{ path: 'data.path', message: `${config.path} is empty` }];
    return resolveColumns(config, columnNames(config, first), basename(config.path)).issues;
  },

  async load(config: CsvDataConfig): Promise<Dataset> {
    const file = config.path;
    if (!existsSync(file)) throw new UserError(`data.path: no such file: ${file}`, EXIT.usage);
    const records = parseCsv(readCsvText(file), config.delimiter, file);
    if (records.length === 0) throw new UserError(`${file} is empty`, EXIT.failed);
    const names = columnNames(config, records[0]);
    const { columns, issues } = resolveColumns(config, names, basename(file));
    if (!columns) throw new UserError(issues.map((i) => `${i.path}: ${i.message}`).join('; '), EXIT.usage);
    const rows = config.header ? records.slice(1) : records;
    if (rows.length === 0) throw new UserError(`${file}: no data rows`, EXIT.failed);

    // Parse every row: the field count, then each feature as a finite number.
    const width = names.length;
    const f = columns.features.length;
    const values = new Float64Array(rows.length * f);
    const labels: string[] = [];
    rows.forEach((row, r) => {
      if (row.fields.length !== width) throw dataError(file, row.line, `expected ${width} fields, got ${row.fields.length}`);
      columns.features.forEach((column, j) => {
        const text = row.fields[column].trim();
        const value = Number(text);
        if (text === '' || !Number.isFinite(value)) {
          const what = text === '' ? 'is empty (missing values are not supported)' : `${JSON.stringify(text)} is not a number`;
          throw dataError(file, row.line, `column ${JSON.stringify(names[column])}: ${what}`);
        }
        values[r * f + j] = value;
      });
      labels.push(row.fields[columns.label].trim());
    });
    const classes = sortLabels(labels);
    if (classes.length < 2) throw new UserError(`${file}: the label column ${JSON.stringify(names[columns.label])} has only one class (${JSON.stringify(classes[0])})`, EXIT.failed);
    const classId = new Map(classes.map((c, i) => [c, i]));

    // Seeded split: test first, then train + validation (validation at the end, as holdOut counts it).
    const order = Rng.derive(config.splitSeed, 'csv-split').permutation(rows.length);
    const testCount = Math.round(rows.length * config.testFraction);
    const rest = order.subarray(testCount);
    const counts = holdOut(rest.length, config.validationFraction);
    if (counts.train < 1) throw new UserError(`${file}: ${rows.length} rows leave no training rows after the test and validation splits`, EXIT.failed);

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
        y[i] = classId.get(labels[r])!;
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
