import { describe, expect, it } from 'vitest';
import { checkStateAgainstRun, checkStateSchema, checkTensors, CheckpointMismatch, firstNonFinite, type RunExpectation } from '../../src/train/checkpoint-state.js';

/** A state.json as the loop writes it at step 60 of a run with 896 examples in batches of 64 (14 steps an epoch). */
function goodState(): Record<string, unknown> {
  return {
    format: 1,
    step: 60,
    epoch: 4.285714285714286,
    cursor: { epoch: 4, position: 256 },
    rng: { algorithm: 'sfc32-derived', seed: 0, step: 60 },
    schedule: { multiplier: 0, learningRate: 0 },
    earlyStopping: null,
    best: { metric: 'validation.loss', value: 0.33, step: 60 },
    totals: { examples: 3840, flops: 14745600, trainSeconds: 1.2, wallSeconds: 2.5 },
    lastLoggedStep: 60,
    checkpointMetric: 0.33,
    configHash: 'b'.repeat(64),
    checksums: { 'model.safetensors': 'c'.repeat(64), 'optimizer.safetensors': 'd'.repeat(64) },
    interval: { lossSum: 0, correct: 0, labels: 0, steps: 0 },
  };
}

const run: RunExpectation = {
  configHash: 'b'.repeat(64),
  seed: 0,
  maxStep: 60,
  trainExamples: 896,
  batchSize: 64,
  model: [{ name: 'head.bias', shape: [4] }],
  optimizer: [
    { name: 'iter', shape: [], dtype: 'I32' },
    { name: 'head.bias/m', shape: [4], dtype: 'F32' },
  ],
};

function reasonFor(edit: (s: Record<string, any>) => void): string {
  const state = goodState();
  edit(state);
  try {
    checkStateSchema(state);
    checkStateAgainstRun(state as never, run);
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointMismatch);
    return (error as Error).message;
  }
  return 'accepted';
}

describe('state.json is checked against its schema and the run', () => {
  it('accepts the state the loop writes', () => {
    expect(reasonFor(() => {})).toBe('accepted');
  });

  it.each<[string, (s: Record<string, any>) => void, string]>([
    ['step as a string', (s) => (s.step = 'forty'), 'state.json: step must be integer'],
    ['a fractional step', (s) => (s.step = 59.5), 'state.json: step must be integer'],
    ['a negative step', (s) => (s.step = -60), 'state.json: step must be >= 0'],
    ['step 0', (s) => ((s.step = 0), (s.rng.step = 0), (s.cursor = { epoch: 0, position: 0 })), "state.json: step 0 is outside this run's steps 1…60"],
    ['step past the run', (s) => (s.step = 61), "state.json: step 61 is outside this run's steps 1…60"],
    ['step 1e12', (s) => (s.step = 1e12), "state.json: step 1000000000000 is outside this run's steps 1…60"],
    ['a negative cursor', (s) => (s.cursor.position = -64), 'state.json: cursor.position must be >= 0'],
    ['a cursor past the data', (s) => (s.cursor.position = 896), 'state.json: cursor.position 896 is not a batch start within the 896 training examples'],
    ['a cursor inside a batch', (s) => (s.cursor.position = 250), 'state.json: cursor.position 250 is not a batch start within the 896 training examples'],
    ['a cursor one epoch on', (s) => (s.cursor.epoch = 5), 'state.json: cursor {epoch 5, position 256} does not match step 60'],
    ['another seed', (s) => (s.rng.seed = 3), "state.json: seed 3 is not this run's train.seed 0"],
    ['an rng step apart from the step', (s) => (s.rng.step = 59), 'state.json: rng.step 59 differs from step 60'],
    ['another config hash', (s) => (s.configHash = 'a'.repeat(64)), "state.json: config hash aaaaaaaaaaaa… is not this run's (bbbbbbbbbbbb…): the checkpoint belongs to another run"],
    ['a logged step after the step', (s) => (s.lastLoggedStep = 70), 'state.json: lastLoggedStep 70 is after step 60'],
    ['a missing field', (s) => delete s.totals, 'state.json: totals is missing'],
    ['a missing nested field', (s) => delete s.cursor.position, 'state.json: cursor.position is missing'],
    ['an unknown field', (s) => (s.stepp = 60), 'state.json: stepp is not a checkpoint field'],
    ['another format', (s) => (s.format = 2), 'state.json: format must be equal to constant'],
    ['a checksum that is not sha256', (s) => (s.checksums['model.safetensors'] = 'abc'), 'state.json: checksums.model.safetensors must match pattern "^[0-9a-f]{64}$"'],
    ['negative examples', (s) => (s.totals.examples = -1), 'state.json: totals.examples must be >= 0'],
    ['a best value that is not a number', (s) => (s.best.value = 'low'), 'state.json: best.value must be number'],
    ['an array for a state', (s) => (s.cursor = [4, 256]), 'state.json: cursor must be object'],
    ['early-stopping counters of the wrong type', (s) => (s.earlyStopping = { best: 0.3, badEvaluations: -1 }), 'state.json: earlyStopping.badEvaluations must be >= 0'],
    ['no early-stopping and no best (both null)', (s) => ((s.earlyStopping = null), (s.best = null)), 'accepted'],
  ])('refuses %s', (_name, edit, reason) => {
    expect(reasonFor(edit)).toBe(reason);
  });

  it('refuses a state that is not an object', () => {
    expect(() => checkStateSchema(null)).toThrow('state.json: state.json must be object');
    expect(() => checkStateSchema([])).toThrow('state.json: state.json must be object');
  });
});

describe('tensors are checked against the model and optimizer', () => {
  const good = () => [{ name: 'head.bias', shape: [4], data: new Float32Array(4) }];
  it('accepts the expected tensors', () => {
    expect(() => checkTensors('model.safetensors', good(), run.model)).not.toThrow();
  });
  it.each<[string, { name: string; shape: number[]; data: Float32Array | Int32Array }[], string]>([
    ['a missing tensor', [], 'model.safetensors: tensor head.bias is missing'],
    ['an extra tensor', [...good(), { name: 'extra', shape: [1], data: new Float32Array(1) }], 'model.safetensors: tensor extra is not part of this run'],
    ['another shape', [{ name: 'head.bias', shape: [2, 2], data: new Float32Array(4) }], 'model.safetensors: tensor head.bias has shape [2,2], expected [4]'],
    ['int32 values', [{ name: 'head.bias', shape: [4], data: new Int32Array(4) }], 'model.safetensors: tensor head.bias is I32, expected F32'],
    ['too few values for its shape', [{ name: 'head.bias', shape: [4], data: new Float32Array(3) }], 'model.safetensors: tensor head.bias holds 3 values, its shape [4] needs 4'],
  ])('refuses %s', (_name, tensors, reason) => {
    expect(() => checkTensors('model.safetensors', tensors, run.model)).toThrow(reason);
  });
  it('checks the optimizer step counter as int32', () => {
    const state = [
      { name: 'iter', shape: [], data: new Float32Array([60]) },
      { name: 'head.bias/m', shape: [4], data: new Float32Array(4) },
    ];
    expect(() => checkTensors('optimizer.safetensors', state, run.optimizer)).toThrow('optimizer.safetensors: tensor iter is F32, expected I32');
  });
});

describe('firstNonFinite', () => {
  it('names the first tensor holding NaN, +Inf or -Inf, and null when all are finite', () => {
    const t = (name: string, values: number[]) => ({ name, shape: [values.length], data: new Float32Array(values) });
    expect(firstNonFinite([t('a', [0, 1e38, -1e38]), t('b', [3])])).toBeNull();
    expect(firstNonFinite([t('a', [0, 1]), t('b', [1, NaN]), t('c', [Infinity])])).toBe('b');
    expect(firstNonFinite([t('a', [-Infinity])])).toBe('a');
    expect(firstNonFinite([t('a', [Infinity])])).toBe('a');
    expect(firstNonFinite([{ name: 'i', shape: [1], data: new Int32Array([7]) }])).toBeNull();
  });
});
