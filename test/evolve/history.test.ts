import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HistoryLog, type HistoryRecord, readHistory } from '../../src/evolve/history.js';

const record = (id: number): HistoryRecord => ({
  id, parent: id > 0 ? id - 1 : null, origin: id > 0 ? 'mutation' : 'seed', mutation: 'seed', generation: 0,
  program: 'update = g * lr', hash: `h${id}`, fitness: { proxy: 1 / (id + 1) }, cacheHit: false, wallMs: 10, elapsedMs: 10 * id,
});

describe('history.jsonl', () => {
  it('reads back what was appended, in order', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'history-')), 'history.jsonl');
    const log = new HistoryLog(path);
    for (let i = 0; i < 3; i++) log.append(record(i));
    expect(readHistory(path)).toEqual([record(0), record(1), record(2)]);
  });

  it('drops a torn last line and cuts it off before appending again', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'history-')), 'history.jsonl');
    new HistoryLog(path).append(record(0));
    appendFileSync(path, JSON.stringify(record(1)).slice(0, 25));
    expect(readHistory(path).map((r) => r.id)).toEqual([0]);
    new HistoryLog(path).append(record(2));
    expect(readHistory(path).map((r) => r.id)).toEqual([0, 2]);
    expect(readFileSync(path, 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('names the file and line of a damaged record that is not the last', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'history-')), 'history.jsonl');
    writeFileSync(path, `${JSON.stringify(record(0))}\n{"id":\n${JSON.stringify(record(2))}\n`);
    expect(() => readHistory(path)).toThrow(`${path}:2:`);
  });

  it('reads a missing file as an empty history', () => {
    expect(readHistory(join(tmpdir(), 'no-such-history.jsonl'))).toEqual([]);
  });
});
