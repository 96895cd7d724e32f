import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/index.js';
import { expandTrials, parseGridArg, parsePairedArg, parseShard, shardTrials, sweepProblems, trialName, trialSets } from '../../src/sweep/grid.js';

describe('sweep grid expansion', () => {
  it('takes the product of grid lists, the first key varying slowest', () => {
    const trials = expandTrials({ grid: { 'optimizer.name': ['lion', 'adamw'], 'train.seed': [0, 1, 2] }, paired: [] });
    expect(trials.map((t) => t.name)).toEqual([
      'optimizer.name=lion,train.seed=0',
      'optimizer.name=lion,train.seed=1',
      'optimizer.name=lion,train.seed=2',
      'optimizer.name=adamw,train.seed=0',
      'optimizer.name=adamw,train.seed=1',
      'optimizer.name=adamw,train.seed=2',
    ]);
    expect(trials.map((t) => t.index)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('moves paired lists together and multiplies them with the grid', () => {
    const trials = expandTrials({
      grid: { 'train.seed': [0, 1] },
      paired: [{ 'optimizer.name': ['lion', 'adamw'], 'optimizer.learningRate': [3e-4, 3e-3], 'optimizer.weightDecay': [1, 0.1] }],
    });
    expect(trials.map((t) => t.overrides)).toEqual([
      { 'train.seed': 0, 'optimizer.name': 'lion', 'optimizer.learningRate': 3e-4, 'optimizer.weightDecay': 1 },
      { 'train.seed': 0, 'optimizer.name': 'adamw', 'optimizer.learningRate': 3e-3, 'optimizer.weightDecay': 0.1 },
      { 'train.seed': 1, 'optimizer.name': 'lion', 'optimizer.learningRate': 3e-4, 'optimizer.weightDecay': 1 },
      { 'train.seed': 1, 'optimizer.name': 'adamw', 'optimizer.learningRate': 3e-3, 'optimizer.weightDecay': 0.1 },
    ]);
    expect(trials[0].name).toBe('train.seed=0,optimizer.name=lion,optimizer.learningRate=3e-4,optimizer.weightDecay=1');
    expect(trialSets(trials[0])).toEqual(['train.seed=0', 'optimizer.name="lion"', 'optimizer.learningRate=0.0003', 'optimizer.weightDecay=1']);
  });

  it('names trials readably and safely for directories, and the same each time', () => {
    expect(trialName({ 'model.hidden': [512, 256], 'data.path': '../x y/z.csv' })).toBe('model.hidden=_512,256_,data.path=.._x_y_z.csv');
    expect(trialName({ 'optimizer.learningRate': 1e-4, 'train.steps': 1000, 'schedule.endFactor': 0.5 })).toBe('optimizer.learningRate=1e-4,train.steps=1000,schedule.endFactor=0.5');
    const long = trialName({ 'model.hidden': Array.from({ length: 40 }, (_, i) => i + 1000) });
    expect(long.length).toBe(120);
    expect(long).toMatch(/~[0-9a-f]{8}$/);
    expect(trialName({ 'model.hidden': Array.from({ length: 40 }, (_, i) => i + 1000) })).toBe(long);
    // Names that collide after sanitising stay equal here: the sweep refuses them before running (test/cli/sweep-checks.test.ts).
    const clash = expandTrials({ grid: { 'data.path': ['a/b', 'a_b'] }, paired: [] }).map((t) => t.name);
    expect(clash).toEqual(['data.path=a_b', 'data.path=a_b']);
  });

  it('writes the numbers of one dimension in one form: exponent when any value needs it', () => {
    const names = (values: unknown[]) => expandTrials({ grid: { 'optimizer.learningRate': values }, paired: [] }).map((t) => t.name.split('=')[1]);
    expect(names([1e-4, 3e-3, 0.01, 0.0015])).toEqual(['1e-4', '3e-3', '1e-2', '1.5e-3']);
    expect(names([0.5, 0.25, 0.1])).toEqual(['0.5', '0.25', '0.1']);
    expect(names([0, 1e-4])).toEqual(['0', '1e-4']);
    expect(names([1e10, 3e-3])).toEqual(['1e10', '3e-3']);
    // Integers (seeds, steps) stay plain; a paired group's lists are formatted one by one.
    expect(expandTrials({ grid: { 'train.seed': [0, 1, 2] }, paired: [] }).map((t) => t.name)).toEqual(['train.seed=0', 'train.seed=1', 'train.seed=2']);
    const paired = expandTrials({ grid: {}, paired: [{ 'optimizer.name': ['lion', 'adamw'], 'optimizer.learningRate': [1e-4, 0.001] }] }).map((t) => t.name);
    expect(paired).toEqual(['optimizer.name=lion,optimizer.learningRate=1e-4', 'optimizer.name=adamw,optimizer.learningRate=1e-3']);
  });

  it('parses --grid and --paired values as YAML, splitting only on top-level commas', () => {
    expect(parseGridArg('optimizer.learningRate=1e-4,3e-4,1e-3')).toEqual(['optimizer.learningRate', [1e-4, 3e-4, 1e-3]]);
    expect(parseGridArg('model.hidden=[64,32],[128]')).toEqual(['model.hidden', [[64, 32], [128]]]);
    expect(parseGridArg('optimizer.name=lion,adamw')).toEqual(['optimizer.name', ['lion', 'adamw']]);
    expect(parsePairedArg('optimizer.name=lion,adamw;optimizer.learningRate=3e-4,3e-3')).toEqual({ 'optimizer.name': ['lion', 'adamw'], 'optimizer.learningRate': [3e-4, 3e-3] });
    expect(() => parseGridArg('optimizer.name')).toThrow(ConfigError);
  });

  it('reports paired lists of unequal lengths, keys swept twice and bad key paths', () => {
    const problems = sweepProblems(
      { grid: { 'optimizer.name': ['lion'], 'bad..key': [1] }, paired: [{ 'optimizer.name': ['lion', 'adamw'], 'optimizer.learningRate': [1e-4] }] },
      'c.yaml',
    ).map((p) => `${p.path}: ${p.message}`);
    expect(problems).toEqual([
      'sweep.grid.bad..key: "bad..key" is not a config key path (e.g. optimizer.learningRate)',
      'sweep.paired.0.optimizer.name: optimizer.name is swept twice (in grid and paired, or in two paired groups)',
      'sweep.paired.0: lists that move together must have equal lengths; got optimizer.name: 2, optimizer.learningRate: 1',
    ]);
  });
});

describe('sweep shards', () => {
  it('partition the trial list exactly: every trial in exactly one shard, shards balanced', () => {
    const trials = expandTrials({ grid: { a: [1, 2, 3, 4, 5], b: [1, 2, 3] }, paired: [{ c: [1, 2], d: [3, 4] }] });
    expect(trials).toHaveLength(30);
    for (const count of [1, 2, 3, 4, 7, 30, 31]) {
      const shards = Array.from({ length: count }, (_, index) => shardTrials(trials, { index, count }).map((t) => t.index));
      expect(shards.flat().sort((x, y) => x - y)).toEqual(trials.map((t) => t.index));
      const sizes = shards.map((s) => s.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      // Deterministic: the same slice every time.
      expect(shardTrials(trials, { index: count - 1, count }).map((t) => t.name)).toEqual(shardTrials(trials, { index: count - 1, count }).map((t) => t.name));
    }
  });

  it('parse i/n with 0 <= i < n and refuse anything else', () => {
    expect(parseShard('0/4')).toEqual({ index: 0, count: 4 });
    expect(parseShard('3/4')).toEqual({ index: 3, count: 4 });
    for (const bad of ['4/4', '1/0', '-1/2', '1', 'a/b', '1/2/3']) expect(() => parseShard(bad), bad).toThrow(/expected i\/n with 0 <= i < n/);
  });
});
