// ProgramOptimizer as a tf.Optimizer: state saved and restored mid-run continues exactly, no
// tensors leak, getConfig round-trips, and a program the fused loop cannot split takes tfjs ops.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ProgramOptimizer } from '../../src/optim/program.js';
import { BACKENDS, useBackend } from './helpers.js';

const ADAMW = `m = interp(g, m, 0.9)
v = interp(square(g), v, 0.999)
update = m / (1 - power(0.9, step + 1)) / (sqrt(v / (1 - power(0.999, step + 1))) + 1e-8)
update = update * lr + w * decay * lr * 0.01`;
const CLIPPED = 'a = clip(g, 0.5)\nupdate = clip(a, 0.1) * lr';

const grads = (k: number) => ({ 'p.kernel': tf.tensor2d([[0.3 - k, -0.2], [0.1 * k, 0.5]]), 'p.bias': tf.tensor1d([k - 0.5, 0.25]) });

function freshVariables(tag: string) {
  return {
    kernel: tf.variable(tf.tensor2d([[0.5, -0.5], [1, 2]]), true, 'p.kernel'),
    bias: tf.variable(tf.tensor1d([0.1, -0.1]), true, 'p.bias'),
    tag,
  };
}

function step(opt: tf.Optimizer, k: number): void {
  const g = grads(k);
  opt.applyGradients(g);
  tf.dispose(Object.values(g));
}

describe.each(BACKENDS)('on the %s backend', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it.each([
    ['fused loop', true],
    ['tfjs ops', false],
  ])('restored state continues exactly where a run left off (%s)', async (_label, fused) => {
    const options = { program: ADAMW, learningRate: 0.01, fused, weightDecayExclude: ['*.bias'] };
    let vars = freshVariables('a');
    const straight = new ProgramOptimizer(options);
    for (let k = 0; k < 4; k++) step(straight, k);
    const want = [vars.kernel.dataSync().slice(), vars.bias.dataSync().slice()];
    straight.dispose();
    tf.dispose([vars.kernel, vars.bias]);

    vars = freshVariables('b');
    const first = new ProgramOptimizer(options);
    for (let k = 0; k < 2; k++) step(first, k);
    const saved = (await first.getWeights()).map((w) => ({ name: w.name, tensor: w.tensor.clone() }));
    expect(saved.map((w) => w.name)).toEqual(['iter', 'p.kernel/m', 'p.kernel/v', 'p.bias/m', 'p.bias/v']);
    first.dispose();
    const second = new ProgramOptimizer(options);
    await second.setWeights(saved);
    tf.dispose(saved.map((w) => w.tensor));
    for (let k = 2; k < 4; k++) step(second, k);
    expect(Array.from(vars.kernel.dataSync())).toEqual(Array.from(want[0]));
    expect(Array.from(vars.bias.dataSync())).toEqual(Array.from(want[1]));
    expect(second.stateBytes()).toBe(4 * (4 + 4 + 2 + 2));
    second.dispose();
    tf.dispose([vars.kernel, vars.bias]);
  });

  it.each([
    ['fused loop', true],
    ['tfjs ops', false],
  ])('keeps the tensor count flat from step to step (%s)', (_label, fused) => {
    const vars = freshVariables('c');
    const opt = new ProgramOptimizer({ program: ADAMW, learningRate: 0.01, fused });
    step(opt, 0);
    const before = tf.memory().numTensors;
    for (let k = 1; k < 4; k++) step(opt, k);
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    tf.dispose([vars.kernel, vars.bias]);
  });

  it('runs a program whose reduction reads a reduction with tfjs ops under fused: auto, and refuses fused: true', () => {
    const vars = freshVariables('d');
    const opt = new ProgramOptimizer({ program: CLIPPED, learningRate: 0.1 });
    try {
      expect(opt.fusedProgram).toBeNull();
      expect(opt.usesFusedPath()).toBe(false);
      step(opt, 0);
      // ‖g‖ over both parameters at step 0: √(0.09 + 0.04 + 0 + 0.25 + 0.25 + 0.0625); the second clip
      // sees ‖a‖ = min(‖g‖, 0.5).
      const norm = Math.sqrt(0.09 + 0.04 + 0 + 0.25 + 0.25 + 0.0625);
      const scale = Math.min(1, 0.5 / norm) * Math.min(1, 0.1 / Math.min(norm, 0.5));
      const want = [0.5 - 0.1 * 0.3 * scale, -0.5 + 0.1 * 0.2 * scale, 1, 2 - 0.1 * 0.5 * scale];
      Array.from(vars.kernel.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(want[i], 6));
    } finally {
      opt.dispose();
      tf.dispose([vars.kernel, vars.bias]);
    }
    expect(() => new ProgramOptimizer({ program: CLIPPED, fused: true }).usesFusedPath()).toThrow(
      "Program: fused: true is not possible for this program (a reduction reads another reduction's result); use fused: 'auto' or false",
    );
  });
});

it('round-trips through getConfig and fromConfig, underscores in function names included', () => {
  const opt = new ProgramOptimizer({ program: 'update = g * lr / global_norm(g)', learningRate: 0.5, weightDecayExclude: ['*.bias'] });
  const config = opt.getConfig();
  expect(JSON.stringify(config)).not.toContain('_');
  const back = ProgramOptimizer.fromConfig(ProgramOptimizer, config) as ProgramOptimizer;
  expect(back.programText).toBe('update = g * lr / global_norm(g)\n');
  expect(back.getConfig()).toEqual(config);
  opt.dispose();
  back.dispose();
});

it('refuses a program that does not check, naming every problem', () => {
  expect(() => new ProgramOptimizer({ program: 'update = sgn(g)\nm = interp(g, m)' })).toThrow(
    "line 1:10: unknown function 'sgn' (did you mean sign?)\nline 2:5: interp(x, y, a) takes 3 arguments, got 2",
  );
});
