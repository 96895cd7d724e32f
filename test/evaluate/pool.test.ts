import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createEvaluator, ThreadEvaluator } from '../../src/evaluate/pool.js';
import { ROOT } from '../helpers/cli.js';

const tiny = join(ROOT, 'configs/tiny.yaml');

describe('evaluator pool', () => {
  it('gives on two threads the results it gives in process, for candidates in flight together', async () => {
    const configs = ['lion', 'adamw', 'adafactor'].map((name) => loadConfig(tiny, { set: [`optimizer.name=${name}`, 'train.steps=20'] }).config);
    const inProcess = createEvaluator(1);
    const expected = [];
    for (const config of configs) expected.push(await inProcess.evaluate(config, null));
    const threads = createEvaluator(2);
    try {
      const outcomes = await Promise.all(configs.map((config) => threads.evaluate(config, null)));
      expect(outcomes.map((o) => o.metrics)).toEqual(expected.map((o) => o.metrics));
      expect(outcomes.every((o) => o.status === 'completed')).toBe(true);
    } finally {
      await threads.close();
    }
  });

  it('fails the candidate of a thread that dies, replaces the thread and goes on', async () => {
    const pool = new ThreadEvaluator(1, pathToFileURL(join(ROOT, 'test/fixtures/threads/evaluator-exits.ts')));
    try {
      const config = loadConfig(tiny).config;
      const first = await pool.evaluate(config, null);
      expect(first).toMatchObject({ status: 'failed', reason: 'evaluator thread exited (code 3)' });
      const second = await pool.evaluate(config, null);
      expect(second.status).toBe('failed');
    } finally {
      await pool.close();
    }
  });

  it('refuses a job count below one', () => {
    expect(() => createEvaluator(0)).toThrow(/jobs must be an integer ≥ 1/);
  });
});
