import { describe, expect, it } from 'vitest';
import { ConfigError, formatProblem } from '../../src/config/index.js';
import { UserError } from '../../src/errors.js';
import { compareRun, comparisonTable, judge, parseBaseline, updatedBaselineText, type BaselineMetric } from '../../src/telemetry/baseline.js';
import { junitXml } from '../../src/telemetry/junit.js';
import { parseMetric } from '../../src/telemetry/metrics.js';
import { findAll, parseXml } from '../helpers/xml.js';
import { fakeMetrics, fakeRun } from '../helpers/runs.js';

function metric(name: string, value: number | 'never', better: 'higher' | 'lower', kind: 'absolute' | 'relative', amount: number): BaselineMetric {
  return { name, spec: parseMetric(name)!, value, better, tolerance: { kind, amount } };
}

function problemsOf(text: string): string[] {
  try {
    parseBaseline(text, 'b.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map(formatProblem);
    throw error;
  }
  return [];
}

const BASELINE = `# kept comment
recorded:
  backend: cpu
  configHash: c0ffee
metrics:
  final.test.accuracy: { value: 0.92, better: higher, absolute: 0.02 }
  final.test.loss: { value: 0.34, better: lower, relative: 0.1 }
  stepsTo(validation.accuracy>=0.9): { value: 40, better: lower, absolute: 20 }
  examplesPerSecond: { value: 9000, better: higher, relative: 0.5 }
`;

describe('baseline tolerances', () => {
  it('holds exactly at an absolute tolerance and regresses just beyond it (higher is better)', () => {
    const m = metric('final.test.accuracy', 0.92, 'higher', 'absolute', 0.02);
    expect(judge(m, 0.9).verdict).toBe('ok'); // 0.92 - 0.02 is 0.9000000000000001 in binary: the slack absorbs it
    expect(judge(m, 0.8999).verdict).toBe('regressed');
    expect(judge(m, 0.94).verdict).toBe('ok');
    expect(judge(m, 0.9401).verdict).toBe('improved');
  });

  it('holds exactly at a relative tolerance and regresses just beyond it (lower is better)', () => {
    const m = metric('final.test.loss', 0.5, 'lower', 'relative', 0.1);
    expect(judge(m, 0.55).verdict).toBe('ok');
    expect(judge(m, 0.5501).verdict).toBe('regressed');
    expect(judge(m, 0.45).verdict).toBe('ok');
    expect(judge(m, 0.4499).verdict).toBe('improved');
  });

  it('reads the direction: the same change regresses one way and improves the other', () => {
    expect(judge(metric('final.test.loss', 1, 'lower', 'absolute', 0), 1.5).verdict).toBe('regressed');
    expect(judge(metric('final.test.loss', 1, 'higher', 'absolute', 0), 1.5).verdict).toBe('improved');
    expect(judge(metric('optimizerStateBytes', 2704, 'lower', 'absolute', 0), 2704).verdict).toBe('ok');
    expect(judge(metric('optimizerStateBytes', 2704, 'lower', 'absolute', 0), 2708).verdict).toBe('regressed');
  });

  it('treats a stepsTo target never reached as infinitely many steps', () => {
    const m = metric('stepsTo(validation.accuracy>=0.9)', 40, 'lower', 'absolute', 20);
    expect(judge(m, 60).verdict).toBe('ok');
    expect(judge(m, 80).verdict).toBe('regressed');
    expect(judge(m, 'never').verdict).toBe('regressed');
    expect(judge(metric('stepsTo(validation.accuracy>=0.9)', 'never', 'lower', 'absolute', 20), 'never').verdict).toBe('ok');
    expect(judge(metric('stepsTo(validation.accuracy>=0.9)', 'never', 'lower', 'absolute', 20), 100).verdict).toBe('improved');
  });
});

describe('baseline files', () => {
  it('parses metrics, directions, tolerances and what was recorded', () => {
    const baseline = parseBaseline(BASELINE, 'b.yaml');
    expect(baseline.recorded).toEqual({ backend: 'cpu', configHash: 'c0ffee' });
    expect(baseline.metrics.map((m) => [m.name, m.value, m.better, m.tolerance.kind, m.tolerance.amount])).toEqual([
      ['final.test.accuracy', 0.92, 'higher', 'absolute', 0.02],
      ['final.test.loss', 0.34, 'lower', 'relative', 0.1],
      ['stepsTo(validation.accuracy>=0.9)', 40, 'lower', 'absolute', 20],
      ['examplesPerSecond', 9000, 'higher', 'relative', 0.5],
    ]);
  });

  it('reports every problem of a malformed baseline together, located, with suggestions', () => {
    const problems = problemsOf(`metrics:
  final.test.acuracy: { value: 0.9, better: higher, absolute: 0.1 }
  test.accuracy: { value: 0.9, better: higher, absolute: 0.1 }
  final.test.loss: { value: 0.3, better: lowr, relative: 0.1 }
  best.validation.loss: { value: 0.3, better: lower }
  steps: { value: 60, better: lower, absolute: 0, relative: 0 }
  optimizerStateBytes: { value: fast, better: lower, absolute: -1 }
extra: 1
`);
    expect(problems).toEqual([
      'b.yaml:3:3 metrics.test.accuracy: unknown metric (did you mean final.test.accuracy or best.test.accuracy?); a metric is one of final.<split>.<name>, best.<split>.<name>, stepsTo(<split>.<name>>=<number>) (or <=), examplesPerSecond, gflopsPerSecond, stepTimeMs, trainSeconds, wallSeconds, optimizerStateBytes, parameterCount, steps, flops; <split> is train, validation or test',
      'b.yaml:4:42 metrics.final.test.loss.better: must be higher or lower (did you mean lower?), got "lowr"',
      'b.yaml:5:25 metrics.best.validation.loss: needs a tolerance: absolute: <amount> or relative: <fraction of the baseline value>',
      'b.yaml:6:10 metrics.steps: give absolute or relative, not both',
      'b.yaml:7:33 metrics.optimizerStateBytes.value: must be a number (or null until recorded), got "fast"',
      'b.yaml:7:64 metrics.optimizerStateBytes.absolute: must be a number >= 0, got -1',
      'b.yaml:8:1 extra: unknown key; a baseline has recorded and metrics',
    ]);
  });

  it('refuses an empty file, a YAML syntax error and a file without metrics', () => {
    expect(problemsOf('# only a comment\n')).toEqual(['b.yaml:1:1 empty baseline: expected a mapping with a metrics section']);
    expect(problemsOf('metrics: {final.test.loss: [\n')[0]).toMatch(/^b\.yaml:\d+:\d+ YAML syntax error/);
    expect(problemsOf('recorded: { backend: cpu }\n')).toEqual([expect.stringMatching(/^b\.yaml:1:1 metrics: a baseline needs a metrics mapping/)]);
  });

  it('--update rewrites the values and what was recorded, keeping comments, metrics, directions and tolerances', () => {
    const run = fakeRun({ backend: 'wasm', configHash: 'beef', final: { test: { loss: 0.3, accuracy: 0.95 } }, totals: { examplesPerSecond: 12345 } }, fakeMetrics([0.8, 0.85, 0.92]));
    const text = updatedBaselineText(parseBaseline(BASELINE, 'b.yaml'), run);
    expect(text).toContain('# kept comment');
    const again = parseBaseline(text, 'b.yaml');
    expect(again.recorded).toMatchObject({ backend: 'wasm', configHash: 'beef', run: 'tiny' });
    expect(again.recorded.versions).toMatchObject({ 'lion-train': expect.any(String), '@tensorflow/tfjs': expect.stringMatching(/^4\./) });
    expect(again.metrics.map((m) => [m.name, m.value, m.better, m.tolerance])).toEqual([
      ['final.test.accuracy', 0.95, 'higher', { kind: 'absolute', amount: 0.02 }],
      ['final.test.loss', 0.3, 'lower', { kind: 'relative', amount: 0.1 }],
      ['stepsTo(validation.accuracy>=0.9)', 60, 'lower', { kind: 'absolute', amount: 20 }],
      ['examplesPerSecond', 12345, 'higher', { kind: 'relative', amount: 0.5 }],
    ]);
  });
});

describe('comparing a run with a baseline', () => {
  const baseline = parseBaseline(BASELINE, 'b.yaml');

  it('passes when every metric holds and fails when one regresses', () => {
    const pass = compareRun(baseline, fakeRun({ totals: { examplesPerSecond: 8000 } }));
    expect(pass.rows.map((r) => r.verdict)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(pass.regressed).toBe(false);
    const fail = compareRun(baseline, fakeRun({ final: { test: { loss: 0.34, accuracy: 0.5 } }, totals: { examplesPerSecond: 8000 } }));
    expect(fail.rows.map((r) => r.verdict)).toEqual(['regressed', 'ok', 'ok', 'ok']);
    expect(fail.regressed).toBe(true);
    expect(comparisonTable(fail).split('\n')[2]).toMatch(/^final\.test\.accuracy\s+0\.92\s+0\.5\s+-0\.42\s+±0\.02\s+REGRESSED$/);
  });

  it('skips speed metrics with a note across backends but still compares quality', () => {
    const result = compareRun(baseline, fakeRun({ backend: 'wasm', final: { test: { loss: 0.34, accuracy: 0.5 } }, totals: { examplesPerSecond: 10 } }));
    expect(result.notes).toEqual(['the baseline was recorded on the cpu backend and the run used wasm: quality metrics compared, speed metrics skipped']);
    expect(result.rows.map((r) => `${r.metric.name} ${r.verdict}`)).toEqual(['final.test.accuracy regressed', 'final.test.loss ok', 'stepsTo(validation.accuracy>=0.9) ok', 'examplesPerSecond skipped']);
  });

  it('refuses a run of another config unless allowed, then says so', () => {
    const other = fakeRun({ configHash: 'decaf', totals: { examplesPerSecond: 8000 } });
    expect(() => compareRun(baseline, other)).toThrow(/mismatched baseline b\.yaml: the run's configHash decaf differs from the baseline's c0ffee.*--allow-config-change/);
    const allowed = compareRun(baseline, other, { allowConfigChange: true });
    expect(allowed.notes[0]).toMatch(/configHash decaf differs.*compared anyway/);
  });

  it('refuses a metric the run does not have, naming the closest one it has', () => {
    const noTest = fakeRun({ final: { validation: { loss: 0.3, accuracy: 0.9 } } });
    expect(() => compareRun(baseline, noTest)).toThrow(UserError);
    expect(() => compareRun(baseline, noTest)).toThrow(/the run has no final\.test\.accuracy \(did you mean final\.validation\.accuracy\?\), no final\.test\.loss/);
  });

  it('refuses an unfinished run and regresses every metric of a diverged one', () => {
    expect(() => compareRun(baseline, fakeRun({ status: 'interrupted', reason: 'SIGINT' }))).toThrow(/is not finished \(status interrupted: SIGINT\)/);
    const diverged = compareRun(baseline, fakeRun({ status: 'diverged', reason: 'loss is NaN at step 3' }));
    expect(diverged.regressed).toBe(true);
    expect(diverged.rows.every((r) => r.verdict === 'regressed' && r.message.includes('the run diverged: loss is NaN at step 3'))).toBe(true);
  });
});

describe('JUnit XML', () => {
  it('is well-formed, one testcase per metric, failures carrying the message, notes in system-out', () => {
    const baseline = parseBaseline(BASELINE.replace('c0ffee', 'c0ffee'), 'b<&>".yaml');
    const comparison = compareRun(baseline, fakeRun({ backend: 'wasm', name: 'tiny & "friends" <3', final: { test: { loss: 0.9, accuracy: 0.92 } } }));
    const root = parseXml(junitXml([comparison]));
    expect(root.name).toBe('testsuites');
    expect(root.attributes).toMatchObject({ tests: '4', failures: '1', skipped: '1', errors: '0' });
    const [suite] = findAll(root, 'testsuite');
    expect(suite.attributes.name).toBe('tiny & "friends" <3 vs b<&>".yaml');
    const cases = findAll(root, 'testcase');
    expect(cases.map((c) => c.attributes.name)).toEqual(['final.test.accuracy', 'final.test.loss', 'stepsTo(validation.accuracy>=0.9)', 'examplesPerSecond']);
    const [failure] = findAll(root, 'failure');
    expect(failure.attributes.message).toMatch(/^final\.test\.loss 0\.9 vs baseline 0\.34 \(lower is better, tolerance ±10%\): worse by 0\.56$/);
    expect(failure.text).toBe(failure.attributes.message);
    expect(findAll(cases[3], 'skipped')).toHaveLength(1);
    expect(suite.children.at(-1)!.name).toBe('system-out');
    expect(suite.children.at(-1)!.text).toMatch(/^note: the baseline was recorded on the cpu backend/);
  });

  it('drops the characters XML 1.0 cannot carry (control characters, lone surrogates) and stays well-formed', () => {
    const baseline = parseBaseline(BASELINE, 'base\u0007line.yaml');
    const comparison = compareRun(baseline, fakeRun({ name: 'bell\u0007nul\u0000half\ud800done ]]> <![CDATA[', final: { test: { loss: 0.9, accuracy: 0.92 } } }));
    const root = parseXml(junitXml([comparison]));
    const [suite] = findAll(root, 'testsuite');
    expect(suite.attributes.name).toBe('bellnulhalfdone ]]> <![CDATA[ vs baseline.yaml');
    expect(findAll(root, 'testcase')[0].attributes.classname).toBe('lion-train.regress.bellnulhalfdone ]]> <![CDATA[');
  });

  it('is checked by a parser that rejects what is not well-formed', () => {
    for (const bad of ['<a><b></a>', '<a x="1" x="2"/>', '<a>1 < 2</a>', '<a>R&D</a>', '<a x=1/>', '<a/><b/>', '<a>&nope;</a>']) expect(() => parseXml(bad), bad).toThrow(/not well-formed/);
    expect(parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<a x="&lt;&amp;">t&#65;</a>\n')).toEqual({ name: 'a', attributes: { x: '<&' }, children: [], text: 'tA' });
  });
});
