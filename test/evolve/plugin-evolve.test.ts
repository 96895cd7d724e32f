import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readHistory } from '../../src/evolve/history.js';
import { ROOT, runCli, tempDir } from '../helpers/cli.js';

const temps: Array<{ cleanup: () => void }> = [];
afterAll(() => temps.forEach((t) => t.cleanup()));

describe('evolve on your own model and data', () => {
  it('searches on the plugin example (model and data modules), with the baselines and the seed', () => {
    const dir = tempDir('plugin-evolve-');
    temps.push(dir);
    const config = join(ROOT, 'examples/plugin-model/evolve.yaml');
    const result = runCli(['evolve', config, '--dir', join(dir.path, 's'), '--set', 'evolve.budget.candidates=4', '--set', 'evolve.funnel=[]', '--set', 'train.steps=20'], { timeoutMs: 300_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^proxy validation\.loss: seed [\d.]+, lion [\d.]+, adamw [\d.]+/m);
    const history = readHistory(join(dir.path, 's/history.jsonl'));
    expect(history.map((r) => r.id)).toEqual([0, 1, 2, 3]);
    expect(existsSync(join(dir.path, 's/best.yaml'))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir.path, 's/summary.json'), 'utf8')).candidates).toBe(4);
  });
});
