import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasStackTrace, runCliAsync, tempDir } from '../helpers/cli.js';

// A config that cannot fit its backend is refused before the model is built: exit 2, the estimate, the limit
// and what to change, in seconds rather than after minutes of work and an out-of-bounds crash.
const dir = tempDir('lion-train-memory-cli-');
afterAll(() => dir.cleanup());

const OPTIMIZER = 'optimizer:\n  name: lion\n  lion: { learningRate: 1.0e-3 }\n';

describe('a config that cannot fit', () => {
  it.each([
    [
      'gpt, model.width 8192 on wasm',
      `model:\n  name: gpt\n  contextLength: 16\n  width: 8192\n  depth: 2\n  heads: 8\n  mlpWidth: 32768\ndata:\n  name: text\n  path: story.txt\n${OPTIMIZER}train:\n  steps: 2\n  batchSize: 4\n  backend: wasm\noutput:\n  dir: out\n`,
      /more than (the wasm backend's 4 GiB address space \(4\.0 GiB\)|the memory available to this process \([\d.]+ \w+\)); make model\.width \(8192\), model\.mlpWidth or model\.depth smaller$/,
    ],
    [
      'vit, model.width 8192 on wasm',
      `model:\n  name: vit\n  patchSize: 7\n  width: 8192\n  depth: 2\n  heads: 8\n  mlpWidth: 8192\ndata:\n  name: synthetic\n  inputShape: [28, 28, 1]\n  classes: 10\n  trainExamples: 64\n  testExamples: 16\n${OPTIMIZER}train:\n  steps: 2\n  batchSize: 8\n  backend: wasm\noutput:\n  dir: out\n`,
      /more than (the wasm backend's 4 GiB address space \(4\.0 GiB\)|the memory available to this process \([\d.]+ \w+\)); make model\.width \(8192\), model\.mlpWidth or model\.depth smaller$/,
    ],
    [
      'an MLP three layers of 65,536 wide on cpu',
      `model:\n  name: mlp\n  hidden: [65536, 65536, 65536]\ndata:\n  name: synthetic\n  inputShape: [16]\n  classes: 4\n  trainExamples: 64\n  testExamples: 16\n${OPTIMIZER}train:\n  steps: 2\n  batchSize: 8\n  backend: cpu\noutput:\n  dir: out\n`,
      /more than the memory available to this process \([\d.]+ \w+\); make model\.hidden \(\[65536,65536,65536\]\) smaller$/,
    ],
  ])('%s: exit 2 with the estimate, the limit and what to change', async (_what, yaml, advice) => {
    writeFileSync(join(dir.path, 'story.txt'), 'It was the best of times, it was the worst of times. '.repeat(20));
    writeFileSync(join(dir.path, 'run.yaml'), yaml);
    const result = await runCliAsync(['train', 'run.yaml'], { cwd: dir.path });
    const last = result.stderr.trim().split('\n').pop()!;
    expect(last).toMatch(/^lion-train: this run needs about [\d.]+ GiB \(parameters [\d.]+ GiB, gradients [\d.]+ GiB, optimizer state [\d.]+ GiB, update buffers [\d.]+ GiB, activations of a \d+-example micro-batch [\d.]+ \w+\), /);
    expect(last).toMatch(advice);
    expect(result.code).toBe(2);
    expect(hasStackTrace(result.stderr)).toBe(false);
    expect(existsSync(join(dir.path, 'out', 'checkpoints'))).toBe(false);
  });
});

describe('an evaluation that cannot fit', () => {
  it('is refused before the run when the model family can estimate it: exit 2, naming train.evalBatchSize', async () => {
    const yaml = `model:\n  name: mlp\n  hidden: [65536]\ndata:\n  name: synthetic\n  inputShape: [2]\n  classes: 2\n  trainExamples: 64\n  testExamples: 20000\n${OPTIMIZER}train:\n  steps: 2\n  batchSize: 8\n  evalBatchSize: 20000\n  backend: wasm\noutput:\n  dir: eval-out\n`;
    writeFileSync(join(dir.path, 'eval.yaml'), yaml);
    const result = await runCliAsync(['train', 'eval.yaml'], { cwd: dir.path });
    const last = result.stderr.trim().split('\n').pop()!;
    expect(last).toMatch(/^lion-train: evaluating this run needs about [\d.]+ GiB \(parameters [\d.]+ MiB, optimizer state [\d.]+ MiB, activations of a 20000-example evaluation batch [\d.]+ GiB\), more than /);
    expect(last).toMatch(/; lower train\.evalBatchSize \(20000\)$/);
    expect(result.code).toBe(2);
    expect(existsSync(join(dir.path, 'eval-out'))).toBe(false);
  });

  it('fails at run time in one line naming the step and the split when nothing could estimate it (a layers model)', async () => {
    const root = join(dir.path, 'runs');
    const result = await runCliAsync(['train', 'test/fixtures/plugins/wide-eval.yaml', '--set', `output.root=${root}`]);
    const last = result.stderr.trim().split('\n').pop()!;
    expect(last).toBe("lion-train: out of memory at step 2 while evaluating the test split: the backend could not allocate a tensor (memory access out of bounds); lower train.evalBatchSize or the model's size");
    expect(result.code).toBe(1);
    expect(hasStackTrace(result.stderr)).toBe(false);
    const [run] = readdirSync(root);
    const summary = JSON.parse(readFileSync(join(root, run, 'summary.json'), 'utf8'));
    expect([summary.status, summary.steps, summary.reason]).toEqual(['failed', 2, last.slice('lion-train: '.length)]);
  });
});
