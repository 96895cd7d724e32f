import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, optimizerOptions } from '../../src/config/index.js';
import { tempDir } from '../helpers/cli.js';

const BASE = `model:
  name: mlp
  hidden: [32, 16]
data:
  name: synthetic
train:
  steps: 10
`;

let dir: { path: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => dir.cleanup());

function write(name: string, text: string): string {
  const file = join(dir.path, name);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  return file;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.path}: ${p.message}`);
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('fills every default from the schema', () => {
    const { config } = loadConfig(write('a.yaml', BASE));
    expect(config.train.batchSize).toBe(128);
    expect(config.schedule.name).toBe('constant');
    expect(config.optimizer.name).toBe('lion');
    expect(config.optimizer.lion).toEqual({ learningRate: 1e-4, beta1: 0.9, beta2: 0.99, weightDecay: 0 });
    expect(config.name).toBe('a');
  });

  it('merges extends: maps merge, lists and scalars replace, the including file wins', () => {
    write('base/common.yaml', `${BASE}optimizer:\n  name: adamw\n  weightDecay: 0.2\nlog:\n  everySteps: 7\n`);
    const file = write('child.yaml', 'extends: base/common.yaml\nmodel:\n  name: mlp\n  hidden: [8]\ntrain:\n  batchSize: 16\n');
    const { config } = loadConfig(file);
    expect(config.model).toMatchObject({ name: 'mlp', hidden: [8] });
    expect(config.train.steps).toBe(10);
    expect(config.train.batchSize).toBe(16);
    expect(config.log.everySteps).toBe(7);
    expect(config.optimizer.adamw?.weightDecay).toBe(0.2);
  });

  it('applies a list of bases in order, later bases winning', () => {
    write('one.yaml', BASE.replace('  steps: 10\n', '  steps: 1\n  batchSize: 4\n'));
    write('two.yaml', 'train:\n  steps: 2\n');
    const { config } = loadConfig(write('c.yaml', 'extends: [one.yaml, two.yaml]\n'));
    expect(config.train.steps).toBe(2);
    expect(config.train.batchSize).toBe(4);
  });

  it('parses --set values as YAML and applies them last', () => {
    const { config, origins } = loadConfig(write('a.yaml', BASE), { set: ['optimizer.lion.learningRate=1e-4', 'model.hidden=[4,5]', 'train.backend=cpu'] });
    expect(config.optimizer.lion?.learningRate).toBe(1e-4);
    expect(config.model).toMatchObject({ hidden: [4, 5] });
    expect(config.train.backend).toBe('cpu');
    expect(origins.get('model.hidden')).toEqual({ kind: 'set', text: 'model.hidden=[4,5]' });
  });

  it('lets a tuned block outrank shared keys, and shared keys outrank defaults', () => {
    const file = write('a.yaml', `${BASE}optimizer:\n  name: adamw\n  learningRate: 0.002\n  weightDecay: 0.3\n  adamw:\n    weightDecay: 0.05\n`);
    const resolved = optimizerOptions(loadConfig(file).config.optimizer);
    expect(resolved).toEqual({ name: 'adamw', options: { learningRate: 0.002, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.05 } });
  });

  it('keeps other optimizers\' blocks as written, without their defaults', () => {
    const file = write('a.yaml', `${BASE}optimizer:\n  name: lion\n  adamw:\n    learningRate: 0.003\n`);
    expect(loadConfig(file).config.optimizer.adamw).toEqual({ learningRate: 0.003 });
  });

  it('turns adafactor relativeStep on exactly when no learning rate is given', () => {
    const none = optimizerOptions(loadConfig(write('a.yaml', `${BASE}optimizer:\n  name: adafactor\n`)).config.optimizer);
    expect(none.options).toMatchObject({ learningRate: null, relativeStep: true });
    const given = optimizerOptions(loadConfig(write('b.yaml', `${BASE}optimizer:\n  name: adafactor\n  learningRate: 0.01\n`)).config.optimizer);
    expect(given.options).toMatchObject({ learningRate: 0.01, relativeStep: false });
  });

  it('hints when Lion gets an AdamW-sized learning rate, unless the AdamW block is 3x larger', () => {
    const big = loadConfig(write('a.yaml', `${BASE}optimizer:\n  name: lion\n  learningRate: 0.001\n`));
    expect(big.hints.join('\n')).toMatch(/3-10x smaller learning rate and a 3-10x larger weight decay/);
    const small = loadConfig(write('b.yaml', `${BASE}optimizer:\n  name: lion\n  learningRate: 0.0003\n`));
    expect(small.hints).toEqual([]);
    const copied = loadConfig(write('c.yaml', `${BASE}optimizer:\n  name: lion\n  lion: {learningRate: 0.002}\n  adamw: {learningRate: 0.002}\n`));
    expect(copied.hints).toHaveLength(1);
    const scaled = loadConfig(write('d.yaml', `${BASE}optimizer:\n  name: lion\n  lion: {learningRate: 0.002}\n  adamw: {learningRate: 0.01}\n`));
    expect(scaled.hints).toEqual([]);
  });

  it('resolves data paths relative to the config file that wrote them', () => {
    write('data/rows.csv', 'a,b\n1,2\n');
    const file = write('sub/x.yaml', 'model:\n  name: mlp\ndata:\n  name: csv\n  path: ../data/rows.csv\n  labelColumn: b\ntrain:\n  steps: 1\n');
    const config = loadConfig(file).config;
    expect((config.data as { path: string }).path).toBe(join(dir.path, 'data/rows.csv'));
  });

  it('reports every problem at once', () => {
    const file = write('a.yaml', 'model:\n  name: mlp\n  hiden: 3\ndata:\n  name: synthetic\n  clases: 3\ntrain:\n  steps: 0\n');
    expect(problemsOf(() => loadConfig(file))).toEqual([
      'model.hiden: unknown key (did you mean hidden?)',
      'data.clases: unknown key (did you mean classes?)',
      'train.steps: must be >= 1',
    ]);
  });

  it('rejects __proto__ smuggled inside a --set value', () => {
    expect(problemsOf(() => loadConfig(write('a.yaml', BASE), { set: ['model={"__proto__": {"x": 1}}'] }))).toEqual([': forbidden key "__proto__"']);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});
