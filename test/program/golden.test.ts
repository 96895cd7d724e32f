// The lion program reproduces the built-in Lion, the adamw program the built-in AdamW, on every
// golden trajectory, every step and element, on cpu and wasm, through the fused loop and tfjs ops.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ProgramOptimizer } from '../../src/optim/program.js';
import { parseProgram, programHash } from '../../src/program/index.js';
import { ROOT } from '../helpers/cli.js';
import { applyStep, BACKENDS, caseVariables, disposeAll, firstMismatch, loadGoldenCases, useBackend, type GoldenCase } from '../optim/helpers.js';
import { adamwProgram, lionProgram } from './templates.js';

const cases = loadGoldenCases().filter((c) => c.optimizer === 'lion' || c.optimizer === 'adamw');

const LION_DEFAULTS = { beta1: 0.9, beta2: 0.99, weightDecay: 0 };
const ADAMW_DEFAULTS = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 };

function programFor(c: GoldenCase): { text: string; learningRate: number | ((step: number) => number) } {
  const o = c.options;
  const text =
    c.optimizer === 'lion'
      ? lionProgram({ ...LION_DEFAULTS, ...withoutNull(o) })
      : adamwProgram({ ...ADAMW_DEFAULTS, ...withoutNull(o) });
  const schedule = c.learningRatePerStep;
  const learningRate = schedule ? (step: number) => schedule[step] : (o.learningRate ?? (c.optimizer === 'lion' ? 1e-4 : 1e-3));
  return { text, learningRate };
}

function withoutNull(o: Record<string, unknown>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
}

function runCase(c: GoldenCase, fused: boolean): void {
  const vars = caseVariables(c);
  const { text, learningRate } = programFor(c);
  const opt = new ProgramOptimizer({ program: text, learningRate, fused });
  try {
    expect(opt.usesFusedPath()).toBe(fused);
    c.steps.forEach((step, k) => {
      applyStep(opt, c, vars, k);
      for (const [name, want] of Object.entries(step.expected)) {
        const problem = firstMismatch(vars[name].dataSync(), want);
        if (problem !== null) throw new Error(`${c.file} step ${k} variable '${name}': ${problem}`);
      }
    });
  } finally {
    opt.dispose();
    disposeAll(vars);
  }
}

it('finds golden cases of Lion and AdamW', () => {
  expect(new Set(cases.map((c) => c.optimizer))).toEqual(new Set(['lion', 'adamw']));
});

it('ships programs/lion.opt and programs/adamw.opt as the programs tested here', () => {
  const shipped = (name: string) => programHash(parseProgram(readFileSync(join(ROOT, 'programs', name), 'utf8')));
  expect(shipped('lion.opt')).toBe(programHash(parseProgram(lionProgram({ beta1: 0.9, beta2: 0.99, weightDecay: 0.3 }))));
  expect(shipped('adamw.opt')).toBe(programHash(parseProgram(adamwProgram(ADAMW_DEFAULTS))));
});

describe.each(BACKENDS)('on the %s backend', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });
  describe.each([
    { label: 'fused loop', fused: true },
    { label: 'tfjs ops', fused: false },
  ])('$label', ({ fused }) => {
    it.each(cases.map((c) => [c.file, c] as const))('%s follows the reference trajectory', (_file, c) => {
      runCase(c, fused);
    });
  });
});
