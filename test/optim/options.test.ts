// Constructor options: defaults, RangeErrors naming the option and the allowed range, schedules.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Adafactor, AdamW, Lion } from '../../src/optim/index.js';
import { makeOptimizer, useBackend, type OptimizerKind } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('defaults', () => {
  it('Lion defaults to lr 1e-4, beta1 0.9, beta2 0.99, weightDecay 0', () => {
    expect(new Lion().getConfig()).toEqual({ learningRate: 1e-4, beta1: 0.9, beta2: 0.99, weightDecay: 0 });
  });
  it('AdamW defaults to lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-8, weightDecay 1e-2', () => {
    expect(new AdamW().getConfig()).toEqual({
      learningRate: 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-8,
      weightDecay: 1e-2,
    });
  });
  it('Adafactor defaults to the relative step, as Hugging Face does', () => {
    expect(new Adafactor().getConfig()).toEqual({
      learningRate: null,
      epsilon1: 1e-30,
      epsilon2: 1e-3,
      clipThreshold: 1,
      decayRate: -0.8,
      beta1: null,
      weightDecay: 0,
      scaleParameter: true,
      relativeStep: true,
      warmupInit: false,
    });
  });
  it('Adafactor with a learningRate and no relativeStep turns the relative step off', () => {
    const opt = new Adafactor({ learningRate: 0.01 });
    expect(opt.relativeStep).toBe(false);
    expect(opt.learningRateAt(5)).toBe(0.01);
  });
  it('Adafactor relative step is min(1e-2, 1/sqrt(t)), or min(1e-6 t, 1/sqrt(t)) with warmupInit', () => {
    expect(new Adafactor().learningRateAt(0)).toBe(1e-2);
    expect(new Adafactor().learningRateAt(1e6)).toBeCloseTo(1 / Math.sqrt(1e6 + 1), 12);
    expect(new Adafactor({ warmupInit: true }).learningRateAt(9)).toBeCloseTo(1e-5, 15);
  });
});

describe('RangeErrors name the option and the allowed range', () => {
  const bad: Array<[OptimizerKind, Record<string, unknown>, string]> = [
    ['lion', { beta1: 1.5 }, 'Lion: beta1 must be in [0, 1), got 1.5'],
    ['lion', { beta1: 1 }, 'Lion: beta1 must be in [0, 1), got 1'],
    ['lion', { beta2: -0.1 }, 'Lion: beta2 must be in [0, 1), got -0.1'],
    ['lion', { weightDecay: -1 }, 'Lion: weightDecay must be in [0, inf), got -1'],
    ['lion', { learningRate: -1e-3 }, 'Lion: learningRate must be in [0, inf), got -0.001'],
    ['lion', { learningRate: Number.NaN }, 'Lion: learningRate must be in [0, inf), got NaN'],
    ['lion', { learningRate: Number.POSITIVE_INFINITY }, 'Lion: learningRate must be in [0, inf), got Infinity'],
    ['lion', { beta1: '0.9' }, 'Lion: beta1 must be in [0, 1), got "0.9"'],
    ['lion', { beta3: 0.5 }, "Lion: unknown option 'beta3'; allowed: learningRate, beta1, beta2, weightDecay, weightDecayExclude, fused"],
    ['lion', { fused: 'yes' }, `Lion: fused must be 'auto', true or false, got "yes"`],
    ['adamw', { epsilon: 0 }, 'AdamW: epsilon must be in (0, inf), got 0'],
    ['adamw', { beta2: 1 }, 'AdamW: beta2 must be in [0, 1), got 1'],
    ['adamw', { weight_decay: 0.1 }, "AdamW: unknown option 'weight_decay'"],
    ['adafactor', { clipThreshold: 0 }, 'Adafactor: clipThreshold must be in (0, inf), got 0'],
    ['adafactor', { decayRate: 0.5 }, 'Adafactor: decayRate must be in (-inf, 0], got 0.5'],
    ['adafactor', { epsilon1: -1 }, 'Adafactor: epsilon1 must be in (0, inf), got -1'],
    ['adafactor', { epsilon2: -1 }, 'Adafactor: epsilon2 must be in [0, inf), got -1'],
    ['adafactor', { beta1: 1 }, 'Adafactor: beta1 must be in [0, 1), got 1'],
    ['adafactor', { beta1: 'none' }, 'Adafactor: beta1 must be null or in [0, 1), got "none"'],
    ['adafactor', { scaleParameter: 1 }, 'Adafactor: scaleParameter must be true or false, got 1'],
    ['adafactor', { learningRate: 1e-3, relativeStep: true }, 'Adafactor: a learningRate cannot be combined with relativeStep: true'],
    ['adafactor', { relativeStep: false }, 'Adafactor: relativeStep: false needs a learningRate'],
    ['adafactor', { learningRate: 1e-3, warmupInit: true }, 'Adafactor: warmupInit: true needs relativeStep: true'],
    ['adafactor', { weightDecayExclude: '*.bias' }, 'Adafactor: weightDecayExclude must be an array of name patterns'],
    ['adafactor', { weightDecayExclude: ['*.bias', 3] }, 'Adafactor: weightDecayExclude[1] must be a non-empty string or a RegExp, got 3'],
  ];
  it.each(bad)('%s rejects %j', (kind, options, message) => {
    expect(() => makeOptimizer(kind, options)).toThrow(RangeError);
    expect(() => makeOptimizer(kind, options)).toThrow(message);
  });

  it('a schedule returning a bad value is a RangeError naming the step', () => {
    const v = tf.variable(tf.ones([2]), true, 'sched.bad');
    const opt = new Lion({ learningRate: (step) => (step === 1 ? -1 : 0.1) });
    const g = tf.onesLike(v);
    opt.applyGradients({ 'sched.bad': g });
    expect(() => opt.applyGradients({ 'sched.bad': g })).toThrow('Lion: learningRate(1) must return a number in [0, inf), got -1');
    tf.dispose([g, v]);
    opt.dispose();
  });
});

describe('learning-rate schedules', () => {
  it.each(['lion', 'adamw', 'adafactor'] as const)('%s calls the schedule with the 0-based index of each update', (kind) => {
    const seen: number[] = [];
    const options = kind === 'adafactor' ? { relativeStep: false } : {};
    const opt = makeOptimizer(kind, { ...options, learningRate: (step: number) => (seen.push(step), 1e-3) });
    const v = tf.variable(tf.ones([3, 2]), true, `sched.${kind}`);
    const g = tf.onesLike(v);
    for (let k = 0; k < 4; k++) opt.applyGradients([{ name: v.name, tensor: g }]);
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(opt.learningRateAt(7)).toBe(1e-3);
    tf.dispose([g, v]);
    opt.dispose();
  });

  it('getConfig records a schedule as its value at the current step', () => {
    const opt = new AdamW({ learningRate: (step) => 0.1 * (step + 1) });
    const v = tf.variable(tf.ones([2]), true, 'sched.config');
    const g = tf.onesLike(v);
    opt.applyGradients({ 'sched.config': g });
    opt.applyGradients({ 'sched.config': g });
    expect(opt.getConfig().learningRate).toBeCloseTo(0.3, 12);
    tf.dispose([g, v]);
    opt.dispose();
  });
});
