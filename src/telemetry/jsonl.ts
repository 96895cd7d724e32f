/** Append-only JSON Lines logs (metrics.jsonl, compute.jsonl): one object per line, `step` first. */
import { appendFileSync, existsSync } from 'node:fs';
import { writeFileAtomic } from '../atomic-write.js';
import { readInputText } from '../files/input-file.js';

export type JsonlRecord = { step: number } & Record<string, unknown>;

export class JsonlLog {
  /** `roundFloats`: keep 7 significant digits (timings); metrics keep full precision so runs compare exactly. */
  constructor(readonly path: string, private readonly options: { roundFloats?: boolean } = {}) {}

  append(record: JsonlRecord): void {
    // One write per line: a crash loses at most the line being written, never an earlier one.
    appendFileSync(this.path, `${JSON.stringify(record, this.options.roundFloats ? roundFloats : undefined)}\n`);
  }

  /** Drops records after `step` (and any torn last line), so a resumed run continues without duplicates. */
  truncateAfter(step: number): void {
    writeFileAtomic(this.path, readJsonl(this.path).filter((r) => r.step <= step).map((r) => `${JSON.stringify(r)}\n`).join(''));
  }
}

export function readJsonl(path: string): JsonlRecord[] {
  if (!existsSync(path)) return [];
  const records: JsonlRecord[] = [];
  for (const line of readInputText(path).split('\n')) {
    if (!line.trim()) continue;
    try {
      records.push(JSON.parse(line) as JsonlRecord);
    } catch {
      // A torn last line from a crash: ignored.
    }
  }
  return records;
}

function roundFloats(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) && Number.isFinite(value) ? Number(value.toPrecision(7)) : value;
}
