import { cpSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../../src/safetensors.js';
import { readState, rewriteTensors, snapshot, writeRawTensorFile, writeState, type State } from '../helpers/checkpoints.js';
import { hasStackTrace, runCli, runCliAsync, tempDir } from '../helpers/cli.js';
import { readRun } from '../helpers/runs.js';

const work = tempDir('lion-train-trust-');
afterAll(() => work.cleanup());

const train = (out: string, ...set: string[]) => ['train', 'configs/tiny.yaml', '--set', `output.dir=${join(work.path, out)}`, '--set', 'log.progress=none', ...set.flatMap((s) => ['--set', s])];

/** A finished 60-step run (checkpoints at 20, 40, 60) and another with train.seed 7, copied per test. */
const reference = join(work.path, 'reference');
const otherSeed = join(work.path, 'other-seed');
beforeAll(async () => {
  const [a, b] = await Promise.all([runCliAsync(train('reference')), runCliAsync(train('other-seed', 'train.seed=7'))]);
  expect(a.code, a.stderr).toBe(0);
  expect(b.code, b.stderr).toBe(0);
}, 120_000);

function copyOfReference(name: string): string {
  const dir = join(work.path, name);
  rmSync(dir, { recursive: true, force: true });
  cpSync(reference, dir, { recursive: true });
  return dir;
}

/** Resumes `dir` from its own config.yaml and pauses at once at the checkpoint it chose: the choice is what is tested. */
const resumeAndPause = (dir: string) => runCliAsync(['train', '--resume', dir, '--pause-at', '1', '--set', 'log.progress=none']);

describe('a tampered state.json makes its checkpoint unusable, and the one before it is used', () => {
  const members: [string, (s: State) => void, string][] = [
    ['step as a string', (s) => (s.step = 'forty'), 'state.json: step must be integer'],
    ['step far beyond the run', (s) => (s.step = 1e12), "state.json: step 1000000000000 is outside this run's steps 1…60"],
    ['negative cursor', (s) => ((s.cursor as { position: number }).position = -64), 'state.json: cursor.position must be >= 0'],
    ['cursor that disagrees with the step', (s) => ((s.cursor as { epoch: number }).epoch += 1), 'state.json: cursor {epoch 5, position 256} does not match step 60'],
    ['an unknown field', (s) => (s.stepp = 60), 'state.json: stepp is not a checkpoint field'],
  ];
  it.each(members)('%s', async (_name, tamper, reason) => {
    const dir = copyOfReference(`state-${_name.replace(/\W+/g, '-')}`);
    const state = readState(join(dir, 'checkpoints/step-000060'));
    tamper(state);
    writeState(join(dir, 'checkpoints/step-000060'), state);
    const result = await resumeAndPause(dir);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`checkpoint step-000060 is unusable (${reason}`);
    expect(result.stderr).toContain('resumed from step-000040 (step 40)');
    expect(hasStackTrace(result.stderr)).toBe(false);
    // Logs were cut back to the checkpoint actually used, not to a bogus step.
    expect(Math.max(...readRun(dir).metrics.map((r) => r.step))).toBe(40);
  });

  it('refuses a checkpoint copied from a run with another seed (another config hash)', async () => {
    const dir = copyOfReference('copied-from-other-seed');
    rmSync(join(dir, 'checkpoints/step-000060'), { recursive: true });
    cpSync(join(otherSeed, 'checkpoints/step-000060'), join(dir, 'checkpoints/step-000060'), { recursive: true });
    const result = await resumeAndPause(dir);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/checkpoint step-000060 is unusable \(state\.json: config hash [0-9a-f]{12}… is not this run's \([0-9a-f]{12}…\): the checkpoint belongs to another run\)/);
    expect(result.stderr).toContain('resumed from step-000040 (step 40)');
  });
});

describe('tensors that do not fit the model or optimizer make the checkpoint unusable', () => {
  const ck = (dir: string) => join(dir, 'checkpoints/step-000060');
  const members: [string, (dir: string) => void, string][] = [
    ['a renamed parameter', (d) => rewriteTensors(ck(d), 'model.safetensors', (ts) => ts.map((t) => (t.name === 'head.bias' ? { ...t, name: 'head.bais' } : t))), 'model.safetensors: tensor head.bias is missing'],
    [
      'a parameter of another shape',
      (d) => rewriteTensors(ck(d), 'model.safetensors', (ts) => ts.map((t) => (t.name === 'head.bias' ? { ...t, shape: [2, 2] } : t))),
      'model.safetensors: tensor head.bias has shape [2,2], expected [4]',
    ],
    [
      'a parameter stored as int32',
      (d) => rewriteTensors(ck(d), 'model.safetensors', (ts) => ts.map((t) => (t.name === 'head.bias' ? { ...t, data: new Int32Array(4) } : t))),
      'model.safetensors: tensor head.bias is I32, expected F32',
    ],
    [
      'a shape that disagrees with its byte length',
      (d) => rewriteTensors(ck(d), 'model.safetensors', (ts) => ts.map((t) => (t.name === 'layers.0.kernel' ? { ...t, shape: [16, 31] } : t))),
      'model.safetensors: safetensors tensor "layers.0.kernel": shape [16, 31] of F32 takes 1984 bytes, its data_offsets 2048',
    ],
    [
      'an optimizer step counter that disagrees with the step',
      (d) => rewriteTensors(ck(d), 'optimizer.safetensors', (ts) => ts.map((t) => (t.name === 'iter' ? { ...t, data: new Int32Array([59]) } : t))),
      "optimizer.safetensors: step counter iter 59 differs from state.json's step 60",
    ],
  ];
  it.each(members)('%s', async (name, tamper, reason) => {
    const dir = copyOfReference(`tensor-${name.replace(/\W+/g, '-')}`);
    tamper(dir);
    const result = await resumeAndPause(dir);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`checkpoint step-000060 is unusable (${reason})`);
    expect(result.stderr).toContain('resumed from step-000040 (step 40)');
  });
});

describe('nothing is truncated before a checkpoint has been validated', () => {
  it('refuses the resume (exit 1) and leaves every file as it was when no checkpoint is usable', async () => {
    const dir = copyOfReference('none-usable');
    for (const step of ['000020', '000040', '000060']) {
      const state = readState(join(dir, `checkpoints/step-${step}`));
      state.step = 'forty';
      writeState(join(dir, `checkpoints/step-${step}`), state);
    }
    const before = snapshot(dir);
    const result = await runCliAsync(['train', '--resume', dir, '--set', 'train.steps=80']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`lion-train: cannot resume ${dir}: none of its checkpoints is usable (reasons above); nothing in it was changed`);
    expect(result.stderr).toContain('checkpoint step-000020 is unusable (state.json: step must be integer)');
    expect(snapshot(dir)).toEqual(before);
  });
});

describe('nothing is saved from a non-finite state', () => {
  // lr 1e39 is Inf in float32: AdamW's and Adafactor's first update makes every parameter Inf/NaN while the
  // step-1 loss (computed before the update) is finite; Lion's sign update stays finite but huge, so its
  // validation loss (measured before the checkpoint) is NaN.
  const absurd = (optimizer: string) => [`optimizer.name=${optimizer}`, `optimizer.${optimizer}.learningRate=1e39`, 'schedule.name=constant', 'checkpoint.everySteps=1', 'log.everySteps=1'];

  it.each([
    ['adamw', 'parameter layers.0.kernel is not finite (NaN or Inf) at step 1'],
    ['adafactor', 'parameter layers.0.kernel is not finite (NaN or Inf) at step 1'],
    ['lion', 'validation loss is NaN at step 1'],
  ])('%s: a fresh run ends diverged at step 1 with no checkpoint', async (optimizer, reason) => {
    const dir = join(work.path, `absurd-${optimizer}`);
    const result = await runCliAsync(train(`absurd-${optimizer}`, 'train.steps=5', ...absurd(optimizer)));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`lion-train: training diverged: ${reason}`);
    const run = readRun(dir);
    expect(run.train[0].loss).toBeGreaterThan(0); // the step-1 loss was finite
    expect(run.summary).toMatchObject({ status: 'diverged', steps: 1 });
    expect(run.summary.reason).toContain(reason);
    expect(existsSync(join(dir, 'checkpoints/latest'))).toBe(false);
  });

  it('keeps the previous good checkpoint latest when a resumed run turns non-finite', async () => {
    const dir = join(work.path, 'good-then-absurd');
    const first = await runCliAsync(train('good-then-absurd', 'optimizer.name=adamw', 'train.steps=20', 'schedule.name=constant'));
    expect(first.code, first.stderr).toBe(0);
    const wrecked = await runCliAsync(['train', '--resume', dir, '--set', 'train.steps=30', '--set', 'optimizer.adamw.learningRate=1e39', '--set', 'checkpoint.everySteps=1']);
    expect(wrecked.code).toBe(1);
    expect(wrecked.stderr).toContain('training diverged: parameter layers.0.kernel is not finite (NaN or Inf) at step 21');
    expect(readFileSync(join(dir, 'checkpoints/latest'), 'utf8').trim()).toBe('step-000020');
    expect(existsSync(join(dir, 'checkpoints/step-000021'))).toBe(false);
    expect(readRun(dir).summary.status).toBe('diverged');
  });
});

describe('export never writes an invalid or non-finite file', () => {
  const out = () => join(work.path, 'exported.safetensors');
  const members: [string, (dir: string) => void, string][] = [
    [
      'a shape that disagrees with its byte length',
      (d) => rewriteTensors(d, 'model.safetensors', (ts) => ts.map((t) => (t.name === 'layers.0.kernel' ? { ...t, shape: [16, 33] } : t))),
      'model.safetensors: safetensors tensor "layers.0.kernel": shape [16, 33] of F32 takes 2112 bytes, its data_offsets 2048',
    ],
    ['a NaN parameter', (d) => rewriteTensors(d, 'model.safetensors', (ts) => ts.map((t) => (t.name === 'head.bias' ? { ...t, data: new Float32Array([0, NaN, 0, 0]) } : t))), 'parameter head.bias is not finite (NaN or Inf)'],
    ['a tensor that runs past the end', (d) => writeRawTensorFile(d, 'model.safetensors', encodeSafetensors([{ name: 'x', shape: [4], data: new Float32Array(4) }]).subarray(0, 30)), 'model.safetensors:'],
    ['a state.json with step as a string', (d) => writeState(d, { ...readState(d), step: 'forty' }), 'state.json: step must be integer'],
  ];
  it.each(members)('%s: exit 1, nothing written', (name, tamper, reason) => {
    const dir = copyOfReference(`export-${name.replace(/\W+/g, '-')}`);
    tamper(join(dir, 'checkpoints/step-000060'));
    rmSync(out(), { force: true });
    const result = runCli(['export', dir, '--step', '60', '--out', out()]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`lion-train: no usable checkpoint in ${dir} (step-000060: ${reason}`);
    expect(hasStackTrace(result.stderr)).toBe(false);
    expect(existsSync(out())).toBe(false);
  });
});

describe('a best checkpoint is judged on its own weights', () => {
  const checkpointsOf = (dir: string) =>
    readdirSync(join(dir, 'checkpoints'))
      .filter((n) => n.startsWith('step-'))
      .sort()
      .map((name) => ({ name, step: Number(name.slice(5)), metric: readState(join(dir, 'checkpoints', name)).checkpointMetric as number | null }));

  it('validation.loss: every checkpoint is tagged with the loss measured at its own step (evalEvery 20, everySteps 30)', async () => {
    const dir = join(work.path, 'best-validation');
    const result = await runCliAsync(train('best-validation', 'train.steps=90', 'train.evalEvery=20', 'checkpoint.everySteps=30', 'checkpoint.keepLast=10', 'checkpoint.bestMetric=validation.loss'));
    expect(result.code, result.stderr).toBe(0);
    const validation = readRun(dir).validation;
    expect(validation.map((r) => r.step)).toEqual([20, 30, 40, 60, 80, 90]);
    const checkpoints = checkpointsOf(dir);
    expect(checkpoints.map((c) => c.step)).toEqual([30, 60, 90]);
    for (const c of checkpoints) expect(c.metric).toBe(validation.find((r) => r.step === c.step)!.loss);
    const best = checkpoints.reduce((a, b) => (b.metric! < a.metric! ? b : a));
    expect(readFileSync(join(dir, 'checkpoints/best'), 'utf8').trim()).toBe(best.name);
  });

  it('train.loss: only a checkpoint at a log step is tagged; others can never be best', async () => {
    const dir = join(work.path, 'best-train');
    const result = await runCliAsync(train('best-train', 'train.steps=60', 'log.everySteps=20', 'checkpoint.everySteps=30', 'checkpoint.keepLast=10', 'checkpoint.bestMetric=train.loss'));
    expect(result.code, result.stderr).toBe(0);
    const checkpoints = checkpointsOf(dir);
    expect(checkpoints.map((c) => [c.step, c.metric === null])).toEqual([
      [30, true],
      [60, false],
    ]);
    expect(checkpoints[1].metric).toBe(readRun(dir).train.find((r) => r.step === 60)!.loss);
    expect(readFileSync(join(dir, 'checkpoints/best'), 'utf8').trim()).toBe('step-000060');
  });

  it('a checkpoint written on --pause-at is not evaluated and not tagged unless its step was evaluated', async () => {
    const dir = join(work.path, 'best-paused');
    const result = await runCliAsync([...train('best-paused', 'train.evalEvery=10'), '--pause-at', '17']);
    expect(result.code, result.stderr).toBe(0);
    expect(readRun(dir).validation.map((r) => r.step)).toEqual([10]);
    expect(checkpointsOf(dir)).toEqual([{ name: 'step-000017', step: 17, metric: null }]);
  });
});
