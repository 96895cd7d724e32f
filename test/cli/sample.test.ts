// lion-train sample, end to end: a tiny gpt trained by the real CLI on a small text file, then sampled.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, ROOT, runCli, runCliAsync, tempDir } from '../helpers/cli.js';

const TEXT = 'the cat sat on the mat. the dog sat on the log. a cat and a dog sat on a mat and a log.\n'.repeat(12);

const dir = tempDir('lion-train-sample-');
const runDir = join(dir.path, 'run');

beforeAll(async () => {
  writeFileSync(join(dir.path, 'story.txt'), TEXT);
  writeFileSync(
    join(dir.path, 'tiny-gpt.yaml'),
    [
      'model: { name: gpt, contextLength: 16, width: 16, depth: 1, heads: 2, mlpWidth: 32 }',
      'data: { name: text, path: story.txt, evalWindows: 8 }',
      'optimizer: { name: adamw, learningRate: 1.0e-2 }',
      'train: { steps: 12, batchSize: 8, evalEvery: 0, backend: wasm }',
      'checkpoint: { everySteps: 6 }',
      'log: { everySteps: 6, progress: none }',
      `output: { dir: ${runDir} }`,
    ].join('\n'),
  );
  const trained = await runCliAsync(['train', 'tiny-gpt.yaml', '--quiet'], { cwd: dir.path });
  expect(trained.code, trained.stderr).toBe(0);
});
afterAll(() => dir.cleanup());

describe('lion-train sample', () => {
  it('prints the prompt and as many generated characters as asked, the same for the same seed', () => {
    const first = runCli(['sample', runDir, '--prompt', 'the ', '--length', '40', '--seed', '3']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('sampling from step-000012');
    const text = first.stdout.replace(/\n$/, '');
    expect(text.startsWith('the ')).toBe(true);
    expect([...text].length).toBe(44);
    const vocabulary = new Set(JSON.parse(readFileSync(join(runDir, 'vocab.json'), 'utf8')).characters);
    expect([...text].every((c) => vocabulary.has(c))).toBe(true);
    expect(runCli(['sample', runDir, '--prompt', 'the ', '--length', '40', '--seed', '3', '--quiet']).stdout).toBe(first.stdout);
    expect(runCli(['sample', runDir, '--prompt', 'the ', '--length', '40', '--seed', '4', '--quiet']).stdout).not.toBe(first.stdout);
  });

  it('samples an earlier checkpoint with --step, and refuses a step that has none (exit 2)', () => {
    const early = runCli(['sample', runDir, '--prompt', 'a', '--length', '5', '--step', '6']);
    expect(early.code, early.stderr).toBe(0);
    expect(early.stderr).toContain('sampling from step-000006');
    const missing = runCli(['sample', runDir, '--prompt', 'a', '--step', '7']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('has no checkpoint at step 7 (checkpoints at steps: 6, 12)');
  });

  it('refuses a prompt character outside the vocabulary with exit 2 and no stack trace', () => {
    const result = runCli(['sample', runDir, '--prompt', 'the Zebra', '--length', '5']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('lion-train: character "Z" (U+005A) at position 4 is not in the vocabulary (15 characters)');
    expect(hasStackTrace(result.stderr)).toBe(false);
  });

  it('refuses a run directory that is not a gpt run, or not a run at all (exit 2)', () => {
    const mlpRun = join(dir.path, 'mlp-run');
    mkdirSync(mlpRun);
    copyFileSync(join(ROOT, 'configs/tiny.yaml'), join(mlpRun, 'config.yaml'));
    const notGpt = runCli(['sample', mlpRun, '--prompt', 'a']);
    expect(notGpt.code).toBe(2);
    expect(notGpt.stderr.trim()).toBe(`lion-train: ${mlpRun} is a mlp run (on synthetic data); this needs a gpt run`);
    const notRun = runCli(['sample', dir.path, '--prompt', 'a']);
    expect(notRun.code).toBe(2);
    expect(notRun.stderr.trim()).toBe(`lion-train: ${dir.path} is not a run directory (it has no config.yaml)`);
  });
});
