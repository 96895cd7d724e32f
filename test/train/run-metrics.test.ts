// The metric names config checks accept are exactly the ones a run writes: checked against real runs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { train } from '../../src/train/train.js';
import { metricProblem, runMetrics, type MetricSplit } from '../../src/train/run-metrics.js';
import { ROOT, tempDir } from '../helpers/cli.js';

const dir = tempDir('lion-train-run-metrics-');
afterAll(() => dir.cleanup());

const quiet = { progress: 'none' as const, log: () => {} };

/** Every `<split>.<name>` a finished run wrote: summary.final and the split records of metrics.jsonl. */
function written(runDir: string): { final: string[]; logged: string[] } {
  const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8'));
  const final = Object.entries(summary.final as Record<string, Record<string, number>>).flatMap(([split, values]) => Object.keys(values).map((k) => `${split}.${k}`));
  const records = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const bookkeeping = new Set(['step', 'epoch', 'split', 'elapsed', 'lr', 'gradNorm', 'updateNorm']);
  const logged = [...new Set(records.flatMap((r) => Object.keys(r).filter((k) => !bookkeeping.has(k)).map((k) => `${r.split}.${k}`)))];
  return { final: final.sort(), logged: logged.sort() };
}

const expected = (metrics: ReturnType<typeof runMetrics>) => (Object.keys(metrics.splits) as MetricSplit[]).flatMap((s) => metrics.splits[s]!).sort();

describe('the metrics a config says a run measures', () => {
  it.each([
    ['a classifier with validation and test splits', 'configs/tiny.yaml', ['train.steps=10', 'train.evalEvery=5']],
    ['a classifier without a validation split', 'configs/tiny.yaml', ['train.steps=10', 'data.validationFraction=0', 'train.evalEvery=0']],
    ['a language model (text: validation, no test)', 'configs/char-gpt.yaml', ['train.steps=3', 'model.width=16', 'model.mlpWidth=32', 'model.heads=2', 'model.depth=1', 'model.contextLength=8', 'train.batchSize=4', 'train.evalEvery=0', 'data.evalWindows=8', 'train.backend=cpu', 'train.workers=1']],
  ])('%s are exactly those it writes', async (_, file, set) => {
    const output = join(dir.path, String(Math.random()).slice(2));
    const config = join(ROOT, file);
    const result = await train(config, { ...quiet, set: [...set, `output.dir=${JSON.stringify(output)}`] });
    expect(result.summary.status).toBe('completed');
    const metrics = runMetrics(loadConfig(config, { set }).config);
    const { final, logged } = written(output);
    expect(final).toEqual(expected(metrics));
    expect(logged).toEqual(expected(metrics));
    // Each written name is accepted where a final value is read; test.* never where values are compared during training.
    for (const name of final) expect(metricProblem(name, 'final', metrics)).toBeUndefined();
    for (const name of final) expect(metricProblem(name, 'during', metrics) === undefined).toBe(!name.startsWith('test.'));
  }, 120_000);
});
