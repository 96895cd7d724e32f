import { describe, expect, it } from 'vitest';
import { learningRateSchedule, multiplierSchedule, scheduleSpec, type ScheduleSpec } from '../../src/optim/schedules.js';

const spec = (over: Partial<ScheduleSpec>): ScheduleSpec => ({ name: 'constant', warmupSteps: 0, endFactor: 0, timescale: 1000, decayFraction: 0.2, ...over });

describe('learning-rate schedules', () => {
  it('warm up linearly to the peak at the last warmup step', () => {
    const m = multiplierSchedule(spec({ name: 'constant', warmupSteps: 4 }), 10);
    expect([0, 1, 2, 3, 4, 9].map(m)).toEqual([0.25, 0.5, 0.75, 1, 1, 1]);
  });

  it('cosine runs from 1 after warmup towards endFactor, reached one step after the last', () => {
    const m = multiplierSchedule(spec({ name: 'cosine', warmupSteps: 2, endFactor: 0.1 }), 12);
    // decay over steps 2..11, progress (step − 2) / 10
    const cosine = (p: number) => 0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * p));
    expect(m(2)).toBeCloseTo(1, 12);
    expect(m(5)).toBeCloseTo(cosine(0.3), 12);
    expect(m(11)).toBeCloseTo(cosine(0.9), 12);
    expect(m(11)).toBeGreaterThan(0.1);
    expect(m(12)).toBeCloseTo(0.1, 12);
    expect(m(20)).toBeCloseTo(0.1, 12);
  });

  it('linear decays in equal steps and never wastes the last step at zero', () => {
    const m = multiplierSchedule(spec({ name: 'linear', endFactor: 0 }), 5);
    expect([0, 1, 2, 3, 4, 5].map(m)).toEqual([1, 0.8, 0.6, 0.4, 0.2, 0].map((v) => expect.closeTo(v, 12)));
  });

  it('rsqrt stays at 1 until the timescale, then falls as 1/sqrt(step)', () => {
    const m = multiplierSchedule(spec({ name: 'rsqrt', warmupSteps: 0, timescale: 100 }), 10_000);
    expect(m(0)).toBe(1);
    expect(m(99)).toBe(1);
    expect(m(399)).toBeCloseTo(0.5, 12);
    expect(m(9999)).toBeCloseTo(0.1, 12);
  });

  it('rsqrt uses the warmup length as its timescale when that is longer', () => {
    const m = multiplierSchedule(spec({ name: 'rsqrt', warmupSteps: 400, timescale: 100 }), 10_000);
    expect(m(199)).toBeCloseTo(0.5, 12);
    expect(m(399)).toBe(1);
    expect(m(1599)).toBeCloseTo(0.5, 12);
  });

  it('warmup-stable-decay holds the peak, then decays over the last fraction', () => {
    const m = multiplierSchedule(spec({ name: 'wsd', warmupSteps: 2, decayFraction: 0.4, endFactor: 0 }), 10);
    // decay over the last 4 steps: 6, 7, 8, 9, reaching endFactor at step 10
    expect([0, 1, 2, 5, 6, 7, 8, 9, 10].map(m)).toEqual([0.5, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0]);
  });

  it('turns warmupFraction into steps and scales by the peak', () => {
    const config = { name: 'linear', warmupSteps: 0, warmupFraction: 0.1, endFactor: 0.5, timescale: 1000, decayFraction: 0.2 } as const;
    expect(scheduleSpec(config, 200).warmupSteps).toBe(20);
    const lr = learningRateSchedule(3e-4, config, 200);
    expect(lr(9)).toBeCloseTo(1.5e-4, 15);
    expect(lr(19)).toBeCloseTo(3e-4, 15);
    expect(lr(110)).toBeCloseTo(3e-4 * (1 - 0.5 * 0.5), 15);
  });
});
