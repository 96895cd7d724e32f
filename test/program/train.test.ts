// Programs that train: the paper's raw program trains the tiny config to the losses of the Lion it
// reduces to; PowerSign, AddSign and Signum take the steps computed by hand here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProgramOptimizer } from '../../src/optim/program.js';
import { ROOT, runCliAsync, tempDir } from '../helpers/cli.js';
import { readRun } from '../helpers/runs.js';
import { useBackend } from '../optim/helpers.js';

const program = (name: string) => readFileSync(join(ROOT, 'programs', `${name}.opt`), 'utf8');

describe('programs/paper-raw.opt', () => {
  const work = tempDir('lion-train-paper-raw-');
  afterAll(() => work.cleanup());

  // The raw program is Lion with β1 = 0.899, β2 = 1 − (−0.109 + 1.109·0.101) = 0.996991, weight decay
  // 0.4602 on every parameter and lr·0.0002, plus clip(g, lr) and arcsin(g), which change little
  // while the gradient is small: its losses stay within 0.5 % of that Lion's at every logged step.
  it('trains the tiny config to the losses of the Lion it simplifies to (within 0.5 %)', async () => {
    const run = (out: string, ...set: string[]) =>
      runCliAsync(['configs/tiny.yaml', '--quiet', '--set', `output.dir=${join(work.path, out)}`, ...set.flatMap((s) => ['--set', s])]);
    const [raw, lion] = await Promise.all([
      run('raw', 'optimizer.name=program', 'optimizer.programFile=programs/paper-raw.opt', 'optimizer.learningRate=1'),
      run('lion', 'optimizer.weightDecayExclude=[]', 'optimizer.lion.learningRate=0.0002', 'optimizer.lion.beta1=0.899',
        'optimizer.lion.beta2=0.996991', 'optimizer.lion.weightDecay=0.4602'),
    ]);
    expect(raw.code, raw.stderr).toBe(0);
    expect(lion.code, lion.stderr).toBe(0);
    const losses = (out: string) => readRun(join(work.path, out)).train.map((r) => r.loss as number);
    const [a, b] = [losses('raw'), losses('lion')];
    expect(a).toHaveLength(6);
    a.forEach((loss, i) => expect(Math.abs(loss - b[i]) / b[i]).toBeLessThan(0.005));
    expect(a[a.length - 1]).toBeLessThan(a[0] * 0.92);
  });
});

describe('PowerSign, AddSign and Signum against steps computed by hand', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  const w0 = [1, 1, 1, 1];
  const grads = [
    [0.5, -2, 0, 1],
    [-1, 1, 3, -1],
  ];
  const lr = 0.1;
  const E = Math.E;
  // m after each step (interp(g, m, 0.9) = 0.1·g + 0.9·m): [0.05, −0.2, 0, 0.1], then
  // [−0.055, −0.08, 0.3, −0.01]; sign(g)·sign(m): [1, 1, 0, 1], then [1, −1, 1, 1].
  const cases: Array<[string, number[][]]> = [
    ['powersign', [
      [E * 0.5 * lr, E * -2 * lr, 0, E * lr],
      [E * -1 * lr, (1 / E) * lr, E * 3 * lr, E * -1 * lr],
    ]],
    ['addsign', [
      [2 * 0.5 * lr, 2 * -2 * lr, 0, 2 * lr],
      [2 * -1 * lr, 0, 2 * 3 * lr, 2 * -1 * lr],
    ]],
    ['signum', [
      [lr, -lr, 0, lr],
      [-lr, -lr, lr, -lr],
    ]],
  ];

  it.each(cases.flatMap(([name, updates]) => [true, false].map((fused) => [name, fused ? 'fused loop' : 'tfjs ops', fused, updates] as const)))(
    '%s (%s)',
    (name, _path, fused, updates) => {
      const w = tf.variable(tf.tensor1d(w0), true, `w-${name}-${fused}`);
      const opt = new ProgramOptimizer({ program: program(name), learningRate: lr, fused });
      try {
        let want = w0.slice();
        grads.forEach((g, k) => {
          opt.applyGradients({ [w.name]: tf.tensor1d(g) });
          want = want.map((x, i) => x - updates[k][i]);
          Array.from(w.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(want[i], 6));
        });
      } finally {
        opt.dispose();
        w.dispose();
      }
    },
  );
});
