/**
 * `history.jsonl`: the durable log of an evolutionary search, one finished candidate per line, in the order
 * the search was told. It is what `--resume` replays, so each line is written whole or not at all: one
 * `write` of the complete line on a file opened for appending, then `fsync`, before the next candidate is
 * recorded. A line torn by a crash (`kill -9` mid-write) is the last one and is ignored on reading.
 */
import { closeSync, existsSync, fsyncSync, openSync, truncateSync, writeSync } from 'node:fs';
import { readInputFile, readInputText } from '../files/input-file.js';

/** Written first into every search directory: `--overwrite` deletes only a directory that has it. */
export const EVOLVE_MARKER = '.lion-train-evolve';

/** One finished candidate. `fitness` maps a funnel stage's name to its value (`null`: failed or diverged). */
export interface HistoryRecord {
  id: number;
  parent: number | null;
  origin: string;
  mutation: string;
  generation: number;
  /** The program's text as it was evaluated (canonical names). */
  program: string;
  hash: string;
  fitness: Record<string, number | null>;
  /** Why the candidate failed, when it did: `diverged at step 12`, the error's message, `timed out after 30 s`. */
  failure?: string;
  cacheHit: boolean;
  /** Milliseconds of evaluation (0 for a cache hit). */
  wallMs: number;
  /** Milliseconds since the search started (summed over resumed sessions). */
  elapsedMs: number;
}

/** Appends records to one history file; each `append` is durable when it returns. */
export class HistoryLog {
  /** Opens `path` for appending; a torn last line left by a crash is cut off first so the next record starts a line. */
  constructor(readonly path: string) {
    if (!existsSync(path)) return;
    const text = readInputFile(path, { what: 'a search history' });
    if (text.length > 0 && text[text.length - 1] !== 0x0a) truncateSync(path, text.lastIndexOf(0x0a) + 1);
  }

  append(record: HistoryRecord): void {
    const fd = openSync(this.path, 'a');
    try {
      writeSync(fd, `${JSON.stringify(record)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * The records of a history file, in file order; a torn last line is dropped.
 * @throws Error naming the file and line when a line other than the last is not a record.
 */
export function readHistory(path: string): HistoryRecord[] {
  if (!existsSync(path)) return [];
  const lines = readInputText(path, { what: 'a search history' }).split('\n');
  const records: HistoryRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].trim()) continue;
    try {
      const record = JSON.parse(lines[i]) as HistoryRecord;
      if (typeof record.id !== 'number' || typeof record.program !== 'string') throw new Error('not a candidate record');
      records.push(record);
    } catch (error) {
      const isLast = lines.slice(i + 1).every((l) => !l.trim());
      if (isLast) break;
      throw new Error(`${path}:${i + 1}: ${(error as Error).message}`);
    }
  }
  return records;
}
