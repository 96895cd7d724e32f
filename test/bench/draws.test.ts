// bench/draws.ts: the draws it writes are the ones the run trains on (parameters, examples, shifts), and it
// refuses what the PyTorch replay cannot follow with one line and exit 2.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { shiftImage } from '../../src/data/augment.js';
import { EpochSampler } from '../../src/data/sampler.js';
import { trainingBatches } from '../../src/train/batch-stream.js';
import { buildPlan } from '../../src/train/plan.js';
import { hasStackTrace, ROOT, tempDir } from '../helpers/cli.js';

const dir = tempDir('lion-train-draws-');
afterAll(() => dir.cleanup());

/** A small ViT on 8x8 synthetic images shifted by up to 2 pixels; `extra` lines go under data.augment. */
function configFile(name: string, augment: string): string {
  const file = join(dir.path, name);
  writeFileSync(
    file,
    [
      'model: { name: vit, patchSize: 4, width: 8, depth: 1, heads: 2, mlpWidth: 8 }',
      'data:',
      '  name: synthetic',
      '  inputShape: [8, 8, 1]',
      '  classes: 3',
      '  trainExamples: 40',
      '  testExamples: 8',
      `  augment: ${augment}`,
      'optimizer: { name: lion }',
      'train: { steps: 9, batchSize: 6, backend: cpu }',
      '',
    ].join('\n'),
  );
  return file;
}

const draws = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/draws.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });

describe('bench/draws.ts', () => {
  it('writes the initial parameters, each step\'s examples and the shifts that rebuild the run\'s batches', async () => {
    const file = configFile('vit.yaml', '{ cropPadding: 2 }');
    const out = join(dir.path, 'draws-3');
    const run = draws([file, '--seed', '3', '--out', out]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('9 steps of 6 (seed 3)');
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'))).toEqual({ config: file, seed: 3, steps: 9, batchSize: 6, cropPadding: 2 });

    const { config } = loadConfig(file);
    const plan = await buildPlan({ ...config, train: { ...config.train, seed: 3 } });
    const params = JSON.parse(readFileSync(join(out, 'params.json'), 'utf8')) as Record<string, { shape: number[]; values: number[] }>;
    expect(Object.keys(params)).toEqual([...plan.model.params.keys()]);
    for (const [name, v] of plan.model.params) {
      expect(params[name].shape, name).toEqual(v.shape);
      expect(Float32Array.from(params[name].values), name).toEqual(v.dataSync());
    }

    const bytes = (name: string) => Uint8Array.from(readFileSync(join(out, name))).buffer; // its own buffer, not Node's pool
    const indices = new Int32Array(bytes('indices.i32'));
    const shifts = new Int8Array(bytes('shifts.i8'));
    expect(indices).toHaveLength(9 * 6);
    expect(shifts).toHaveLength(9 * 6 * 2);
    const sampler = new EpochSampler(plan.dataset.train.size, 6, 3);
    const makeBatch = trainingBatches(plan.dataset, 3);
    const size = 64;
    for (let step = 0; step < 9; step++) {
      const picked = sampler.next();
      expect(indices.subarray(step * 6, step * 6 + 6), `step ${step}`).toEqual(picked);
      const trained = makeBatch(picked, step).x as Float32Array;
      const source = plan.dataset.train.gather(picked).x as Float32Array;
      const rebuilt = new Float32Array(source.length);
      for (let i = 0; i < 6; i++) {
        const [dy, dx] = shifts.subarray(2 * (step * 6 + i), 2 * (step * 6 + i) + 2);
        expect(Math.abs(dy) <= 2 && Math.abs(dx) <= 2).toBe(true);
        shiftImage(source.subarray(i * size, (i + 1) * size), rebuilt.subarray(i * size, (i + 1) * size), 8, 8, 1, dy, dx);
      }
      expect(rebuilt, `step ${step}`).toEqual(trained);
    }
    // Not every shift is zero (the test would pass on unshifted batches otherwise).
    expect(shifts.some((s) => s !== 0)).toBe(true);
  });

  it('refuses flips, no augmentation, a bad seed, an unknown option, a missing or invalid config: one line, exit 2', () => {
    const flips = configFile('flips.yaml', '{ cropPadding: 2, flipHorizontal: true }');
    const none = configFile('none.yaml', '{ cropPadding: 0 }');
    for (const [args, message] of [
      [[flips, '--out', join(dir.path, 'x')], `bench/draws.ts: ${flips}: data.augment must shift (cropPadding) without flips for the replay`],
      [[none, '--out', join(dir.path, 'x')], `bench/draws.ts: ${none}: data.augment must shift (cropPadding) without flips for the replay`],
      [[flips, '--seed', '-1', '--out', join(dir.path, 'x')], "bench/draws.ts: --seed: expected a non-negative integer, got '-1'"],
      [[flips], 'bench/draws.ts: usage: node --import tsx bench/draws.ts CONFIG.yaml [--seed S] --out DIR'],
      [[flips, '--out', join(dir.path, 'x'), '--seed'], 'bench/draws.ts: --seed: expected a value after it'],
      [[flips, '--out', '--seed', '3'], 'bench/draws.ts: --out: expected a value after it'],
      [[flips, '--seed', '1.5', '--out', join(dir.path, 'x')], "bench/draws.ts: --seed: expected a non-negative integer, got '1.5'"],
      [[flips, '--seeds', '2', '--out', join(dir.path, 'x')], 'bench/draws.ts: unknown option --seeds (usage: node --import tsx bench/draws.ts CONFIG.yaml [--seed S] --out DIR)'],
      [[join(dir.path, 'missing.yaml'), '--out', join(dir.path, 'x')], `bench/draws.ts: ${join(dir.path, 'missing.yaml')}: file not found`],
      [[configFile('bad.yaml', '{ cropPadding: -1 }'), '--out', join(dir.path, 'x')], `bench/draws.ts: ${join(dir.path, 'bad.yaml')}:8:27 data.augment.cropPadding: must be >= 0`],
    ] as const) {
      const run = draws([...args]);
      expect(run.status).toBe(2);
      expect(run.stderr.trim()).toBe(message);
      expect(hasStackTrace(run.stderr)).toBe(false);
    }
  });
});
