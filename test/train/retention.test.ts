// Retention and atomic writes delete or replace only what lion-train wrote, never through a link.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeDirectory, writeFileAtomic } from '../../src/atomic-write.js';
import { pruneCheckpoints } from '../../src/train/checkpoint.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'lion-train-retention-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function checkpoint(dir: string, name: string): void {
  mkdirSync(join(dir, name));
  for (const file of ['model.safetensors', 'optimizer.safetensors', 'state.json']) writeFileSync(join(dir, name, file), file);
}

describe('pruneCheckpoints', () => {
  it('keeps the newest keepLast and the best, by step number, and deletes only checkpoint folders of its own', () => {
    const dir = join(root, 'checkpoints');
    mkdirSync(dir);
    const outside = join(root, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'precious.txt'), 'keep');
    for (const step of [10, 20, 30, 40, 1000000]) checkpoint(dir, `step-${String(step).padStart(6, '0')}`);
    mkdirSync(join(dir, 'step-000005'));
    writeFileSync(join(dir, 'step-000005', 'notes.md'), 'mine');
    symlinkSync(outside, join(dir, 'step-000001'));
    mkdirSync(join(dir, 'step-7'));
    const notes: string[] = [];
    const removed = pruneCheckpoints(dir, 2, 'step-000020', (line) => notes.push(line));
    expect(removed.sort()).toEqual(['step-000010', 'step-000030']);
    expect(readdirSync(dir).sort()).toEqual(['step-000001', 'step-000005', 'step-000020', 'step-000040', 'step-1000000', 'step-7']);
    expect(notes).toEqual([
      'not removing checkpoints/step-000005: checkpoints/step-000005/notes.md is not a file lion-train writes',
      'not removing checkpoints/step-000001: checkpoints/step-000001 is a symbolic link (lion-train makes none)',
    ]);
    expect(readFileSync(join(outside, 'precious.txt'), 'utf8')).toBe('keep');
    // Said once per folder, however often retention runs.
    pruneCheckpoints(dir, 2, 'step-000020', (line) => notes.push(line));
    expect(notes).toHaveLength(2);
  });
});

describe('writeFileAtomic', () => {
  it('never writes through a link planted at its temporary name', () => {
    const target = join(root, 'target.txt');
    writeFileSync(target, 'untouched');
    symlinkSync(target, join(root, `.summary.json.${process.pid}.tmp`));
    expect(() => writeFileAtomic(join(root, 'summary.json'), '{}')).toThrow(/ELOOP/);
    expect(readFileSync(target, 'utf8')).toBe('untouched');
    expect(existsSync(join(root, 'summary.json'))).toBe(false);
  });

  it('replaces a link at the destination with a file, leaving the link target alone', () => {
    const target = join(root, 'target.txt');
    writeFileSync(target, 'untouched');
    symlinkSync(target, join(root, 'config.yaml'));
    writeFileAtomic(join(root, 'config.yaml'), 'new');
    expect(readFileSync(target, 'utf8')).toBe('untouched');
    expect(readFileSync(join(root, 'config.yaml'), 'utf8')).toBe('new');
  });
});

describe('makeDirectory', () => {
  it('makes every missing level, and names a file in the way', () => {
    makeDirectory(join(root, 'a', 'b', 'c'));
    expect(existsSync(join(root, 'a', 'b', 'c'))).toBe(true);
    makeDirectory(join(root, 'a', 'b', 'c'));
    writeFileSync(join(root, 'file'), 'x');
    expect(() => makeDirectory(join(root, 'file', 'd'))).toThrow(`ENOTDIR: not a directory, mkdir '${join(root, 'file')}'`);
  });
});
