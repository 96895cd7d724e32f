// Every golden trajectory, every step, every element, on cpu and wasm, through the SIMD kernels,
// the fused JS loop and op by op.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyStep,
  BACKENDS,
  caseVariables,
  disposeAll,
  firstMismatch,
  loadGoldenCases,
  optimizerForCase,
  PATHS,
  selectImplementation,
  useBackend,
  type GoldenCase,
} from './helpers.js';

const cases = loadGoldenCases();

function runCase(c: GoldenCase, fused: boolean): void {
  const vars = caseVariables(c);
  const opt = optimizerForCase(c, fused);
  try {
    expect(opt.usesFusedPath()).toBe(fused);
    c.steps.forEach((step, k) => {
      applyStep(opt, c, vars, k);
      for (const [name, want] of Object.entries(step.expected)) {
        const problem = firstMismatch(vars[name].dataSync(), want);
        if (problem !== null) throw new Error(`${c.file} step ${k} variable '${name}': ${problem}`);
      }
    });
    expect(opt.iterations).toBe(c.steps.length);
  } finally {
    opt.dispose();
    disposeAll(vars);
  }
}

it('finds the golden cases of every optimizer', () => {
  expect(new Set(cases.map((c) => c.optimizer))).toEqual(new Set(['lion', 'adamw', 'adafactor']));
});

describe.each(BACKENDS)('on the %s backend', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });
  describe.each(PATHS)('$label', ({ fused, implementation }) => {
    beforeAll(() => selectImplementation(implementation));
    afterAll(() => selectImplementation(undefined));
    it.each(cases.map((c) => [c.file, c] as const))('%s follows the reference trajectory', (_file, c) => {
      runCase(c, fused);
    });
  });
});
