import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gatherRuns } from '../../src/telemetry/report.js';
import { findRunDirs, formatValue, readSummary } from '../../src/telemetry/run-reader.js';
import { tempDir } from '../helpers/cli.js';
import { writeRunDir } from '../helpers/runs.js';

const dir = tempDir('lion-train-reader-');
afterAll(() => dir.cleanup());

function sweepCopy(root: string, trials: Record<string, 'completed' | 'interrupted'>): void {
  const names = Object.keys(trials);
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'trials.json'), JSON.stringify({ sweep: 's', config: 'c.yaml', metric: 'test.accuracy', trials: names.map((name, index) => ({ index, name, overrides: { 'optimizer.name': name.split('=')[1] } })) }));
  for (const [name, status] of Object.entries(trials)) writeRunDir(join(root, name), { status, optimizer: name.split('=')[1] });
}

describe('finding runs', () => {
  it('finds run directories at any depth, skipping checkpoints and logs', () => {
    const root = join(dir.path, 'find');
    writeRunDir(join(root, 'a'));
    writeRunDir(join(root, 'sweep', 'x=1'));
    writeRunDir(join(root, 'sweep', 'logs', 'not-a-run'));
    writeRunDir(join(root, 'a', 'checkpoints', 'nested'));
    expect(findRunDirs([root]).map((d) => d.slice(root.length + 1))).toEqual(['a', 'sweep/x=1']);
    expect(findRunDirs([join(root, 'a')])).toEqual([join(root, 'a')]);
  });

  it('reads a summary that was never finished (no finishedAt) as running, whatever its status says', () => {
    const killed = writeRunDir(join(dir.path, 'killed'), { status: 'completed', finishedAt: null, steps: 0 });
    expect(readSummary(killed).status).toBe('running');
    expect(readSummary(writeRunDir(join(dir.path, 'done'))).status).toBe('completed');
  });

  it('counts a trial found in several shard copies once, preferring the completed copy', () => {
    sweepCopy(join(dir.path, 'machine-0'), { 'optimizer.name=lion': 'completed', 'optimizer.name=adamw': 'interrupted' });
    sweepCopy(join(dir.path, 'machine-1'), { 'optimizer.name=adamw': 'completed' });
    const runs = gatherRuns([join(dir.path, 'machine-0'), join(dir.path, 'machine-1')]);
    expect(runs.map((r) => `${r.trial?.name} ${r.summary.status} ${r.dir.includes('machine-1') ? 1 : 0}`).sort()).toEqual(['optimizer.name=adamw completed 1', 'optimizer.name=lion completed 0']);
  });
});

describe('run labels', () => {
  it('write numbers in their shortest form', () => {
    expect([1e-4, 3e-4, 0.5, 1000, 1e7, 0.0013, 2.5e-5].map(formatValue)).toEqual(['1e-4', '3e-4', '0.5', '1000', '1e7', '0.0013', '2.5e-5']);
  });
});
