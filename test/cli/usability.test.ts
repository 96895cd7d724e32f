// The small things a new user meets: the backend line, --quiet, counts, the summary line of a language
// model, --set where it cannot act, mistyped commands, checkpoints named by `latest` and `best`, the
// export layout, and README's example of a broken config.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBackend, initBackend } from '../../src/backend.js';
import { toLayout } from '../../src/export-layout.js';
import { decodeSafetensors } from '../../src/safetensors.js';
import { ROOT, runCli, runCliAsync, tempDir, type CliResult } from '../helpers/cli.js';
import { readRun } from '../helpers/runs.js';

const work = tempDir('lion-train-usability-');
afterAll(() => work.cleanup());
const sets = (settings: string[]) => settings.flatMap((s) => ['--set', s]);

const tinyDir = join(work.path, 'tiny');
const gptDir = join(work.path, 'gpt');
const TINY = ['train.steps=40', 'train.evalEvery=10', 'checkpoint.everySteps=10', 'checkpoint.keepLast=10', 'train.backend=auto', `output.dir=${tinyDir}`];
const GPT = ['train.steps=4', 'train.evalEvery=2', 'log.everySteps=2', 'checkpoint.everySteps=2', 'train.backend=cpu', 'model.depth=1', 'model.width=32', 'model.mlpWidth=64', 'model.contextLength=16', 'data.evalWindows=8', `output.dir=${gptDir}`];
let tiny: CliResult;
let gpt: CliResult;

beforeAll(async () => {
  [tiny, gpt] = await Promise.all([runCliAsync(['train', 'configs/tiny.yaml', ...sets(TINY)]), runCliAsync(['train', 'configs/char-gpt.yaml', ...sets(GPT)])]);
  expect(tiny.code, tiny.stderr).toBe(0);
  expect(gpt.code, gpt.stderr).toBe(0);
}, 300_000);

describe('the backend line', () => {
  const missing = async (specifier: string) => {
    if (specifier.startsWith('@tensorflow/tfjs-node') || specifier === 'webgpu') throw new Error(`Cannot find package '${specifier}' imported from ${ROOT}/dist/backend.js`);
    return import(specifier);
  };

  it('summarises a missing package in three words', async () => {
    const choice = await initBackend('auto', { importModule: missing });
    expect(describeBackend(choice)).toBe('wasm (auto; passed over: gpu: @tensorflow/tfjs-node-gpu not installed; webgpu: webgpu not installed; node: @tensorflow/tfjs-node not installed)');
  });

  it('keeps the start of any other failure, cut at 80 characters', async () => {
    const reason = 'libcudart.so.11.0: cannot open shared object file: No such file or directory; also tried /usr/local/cuda/lib64 and more';
    const broken = async (specifier: string) => {
      if (specifier === '@tensorflow/tfjs-node-gpu') throw new Error(reason);
      return missing(specifier);
    };
    const line = describeBackend(await initBackend('auto', { importModule: broken }));
    expect(line).toBe(`wasm (auto; passed over: gpu: @tensorflow/tfjs-node-gpu failed to load: ${reason.slice(0, 79)}…; webgpu: webgpu not installed; node: @tensorflow/tfjs-node not installed)`);
  });

  it('is one short line in a real run', () => {
    const line = tiny.stderr.split('\n').find((l) => l.startsWith('backend: '))!;
    expect(line.length).toBeLessThan(220);
    const passedOver = /passed over: (.*)\)$/.exec(line)?.[1];
    for (const reason of passedOver ? passedOver.split('; ') : []) expect(reason).toMatch(/^\w+: (\S+ (not installed|failed to load: .{1,80})|.{1,80})$/);
  });
});

describe('--quiet', () => {
  it('prints nothing from a run that succeeds, nor from validate, export or report', () => {
    const results = [
      runCli(['train', 'configs/tiny.yaml', '--quiet', ...sets(['train.steps=5', 'checkpoint.everySteps=null', `output.dir=${join(work.path, 'quiet')}`])]),
      runCli(['validate', 'configs/tiny.yaml', '--quiet']),
      runCli(['export', tinyDir, '--out', join(work.path, 'quiet.safetensors'), '--quiet']),
      runCli(['report', tinyDir, '--out', join(work.path, 'quiet-report'), '--quiet']),
    ];
    for (const result of results) expect([result.code, result.stdout, result.stderr]).toEqual([0, '', '']);
  });

  it('still prints errors', () => {
    const result = runCli(['validate', 'configs/examples/broken.yaml', '--quiet']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(3);
  });
});

describe('what a run says at the end', () => {
  it('a language model names its quality: validation bits per character and loss', () => {
    const summary = readRun(gptDir).summary;
    const validation = summary.final.validation!;
    expect(gpt.stdout.split('\n')[0]).toBe(
      `char-gpt: completed 4 steps in ${summary.totals.wallSeconds.toFixed(1)} s (steps); validation bits/char ${validation.bitsPerChar.toFixed(3)}, validation loss ${validation.loss.toFixed(4)}`,
    );
  });

  it('a classifier names its test accuracy and loss', () => {
    const test = readRun(tinyDir).summary.final.test!;
    expect(tiny.stdout.split('\n')[0]).toMatch(new RegExp(`; test accuracy ${(100 * test.accuracy).toFixed(2)}%, test loss ${test.loss.toFixed(4)}$`));
  });

  it('counts in the singular for one: "1 run"', () => {
    const result = runCli(['report', tinyDir, '--out', join(work.path, 'one-report')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^1 run, \d+ charts: /);
    expect(readFileSync(join(work.path, 'one-report', 'report.md'), 'utf8')).toMatch(/^1 run from /m);
  });
});

describe('--set where it cannot act', () => {
  const cases: [string, string[]][] = [
    ['schema', ['schema']],
    ['runs', ['runs', work.path]],
    ['report', ['report', tinyDir, '--out', join(work.path, 'never')]],
    ['export', ['export', tinyDir, '--out', join(work.path, 'never.safetensors')]],
    ['regress', ['regress', tinyDir, '--baseline', join(work.path, 'never.json')]],
    ['sample', ['sample', gptDir, '--prompt', 'a']],
  ];
  for (const [command, args] of cases) {
    it(`is refused by ${command}, which reads no config`, () => {
      const result = runCli([...args, '--set', 'train.steps=5']);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim()).toBe(`lion-train: --set changes a config, and ${command} reads none (--set applies to train, validate, print-config, sweep, evolve, program) (see lion-train --help)`);
    });
  }

  it('is taken by the commands that read a config', () => {
    const printed = runCli(['print-config', 'configs/tiny.yaml', '--set', 'train.steps=7']);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toMatch(/^ {2}steps: 7$/m);
    expect(runCli(['validate', 'configs/tiny.yaml', '--set', 'train.steps=7']).code).toBe(0);
  });
});

describe('a mistyped command', () => {
  for (const [typed, meant] of [
    ['trian', 'train'],
    ['valdiate', 'validate'],
    ['reprot', 'report'],
    ['exprot', 'export'],
    ['smaple', 'sample'],
  ]) {
    it(`${typed} → did you mean ${meant}?`, () => {
      const result = runCli([typed, 'configs/tiny.yaml']);
      expect(result.code).toBe(2);
      expect(result.stderr.trim()).toBe(`lion-train: unknown command ${typed} (did you mean ${meant}?) (see lion-train --help)`);
    });
  }

  it('a word like no command is taken as a config file, and reported missing as one', () => {
    const result = runCli(['elephant']);
    expect(result.code).toBe(2);
    expect(result.stderr).not.toMatch(/did you mean/);
    expect(result.stderr).toMatch(/elephant/);
  });
});

describe('checkpoints named by step, latest or best', () => {
  const exported = (step: string, layout = 'tfjs') => {
    const file = join(work.path, `export-${step}-${layout}.safetensors`);
    const result = runCli(['export', tinyDir, '--step', step, '--layout', layout, '--out', file]);
    return { result, file: result.code === 0 ? decodeSafetensors(readFileSync(file)) : undefined };
  };
  const pointer = (name: string) => readFileSync(join(tinyDir, 'checkpoints', name), 'utf8').trim();

  it('export --step best and latest take the checkpoints their pointers name', () => {
    for (const [step, name] of [
      ['best', pointer('best')],
      ['latest', pointer('latest')],
      ['20', 'step-000020'],
    ]) {
      const { result, file } = exported(step);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.trim()).toMatch(new RegExp(`tensors from ${name} \\(tfjs layout\\)$`));
      expect(file!.metadata.step).toBe(String(Number(name.slice('step-'.length))));
    }
  });

  it('a step that is not a number, latest or best, or has no checkpoint, is a usage error naming what exists', () => {
    for (const [step, message] of [
      ['NaN', /--step must be a step number \(a whole number ≥ 0\), latest or best; got "NaN"/],
      ['-3', /--step must be a step number/],
      ['1.5', /--step must be a step number/],
      ['newest', /--step must be a step number/],
      ['25', /has no checkpoint at step 25 \(checkpoints at steps: 10, 20, 30, 40\); name one of those, latest or best$/m],
    ] as const) {
      const { result } = exported(step);
      expect(result.code, step).toBe(2);
      expect(result.stderr, step).toMatch(message);
    }
  });

  it('sample takes best and latest too', () => {
    for (const step of ['best', 'latest']) {
      const result = runCli(['sample', gptDir, '--prompt', 'a', '--length', '5', '--step', step]);
      expect(result.code, result.stderr).toBe(0);
      const name = readFileSync(join(gptDir, 'checkpoints', step), 'utf8').trim();
      expect(result.stderr).toMatch(new RegExp(`^sampling from ${name} on `, 'm'));
    }
    expect(runCli(['sample', gptDir, '--prompt', 'a', '--step', 'worst']).code).toBe(2);
  });
});

describe('export --layout torch', () => {
  it('writes dense kernels as [out, in], the transpose of the default, and leaves biases alone', () => {
    const file = (layout: string) => {
      const out = join(work.path, `layout-${layout}.safetensors`);
      const result = runCli(['export', tinyDir, '--step', '40', '--layout', layout, '--out', out]);
      expect(result.code, result.stderr).toBe(0);
      return decodeSafetensors(readFileSync(out));
    };
    const tfjs = file('tfjs');
    const torch = file('torch');
    expect(torch.metadata.layout).toBe('torch');
    expect(torch.tensors.map((t) => t.name)).toEqual(tfjs.tensors.map((t) => t.name));
    let kernels = 0;
    for (const [i, a] of tfjs.tensors.entries()) {
      const b = torch.tensors[i];
      if (!a.name.endsWith('.kernel')) {
        expect(b.shape).toEqual(a.shape);
        expect(Array.from(b.data)).toEqual(Array.from(a.data));
        continue;
      }
      kernels += 1;
      const [inputs, outputs] = a.shape;
      expect(b.shape).toEqual([outputs, inputs]);
      for (let r = 0; r < inputs; r++) for (let c = 0; c < outputs; c++) expect(b.data[c * inputs + r]).toBe(a.data[r * outputs + c]);
    }
    expect(kernels).toBe(2);
  });

  it('writes convolution kernels [k, k, in, out] as [out, in, k, k]', () => {
    // A 2×2 kernel from 3 channels to 4: the value at [y, x, i, o] is 1000y + 100x + 10i + o.
    const [k, cin, cout] = [2, 3, 4];
    const data = new Float32Array(k * k * cin * cout);
    for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) data[((y * k + x) * cin + i) * cout + o] = 1000 * y + 100 * x + 10 * i + o;
    const [torch] = toLayout([{ name: 'conv.0.kernel', shape: [k, k, cin, cout], data }], 'torch');
    expect(torch.shape).toEqual([cout, cin, k, k]);
    for (let o = 0; o < cout; o++) for (let i = 0; i < cin; i++) for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) expect(torch.data[((o * cin + i) * k + y) * k + x]).toBe(1000 * y + 100 * x + 10 * i + o);
    const embedding = { name: 'embedding.table', shape: [5, 3], data: new Float32Array(15).map((_, j) => j) };
    expect(toLayout([embedding], 'torch')[0]).toBe(embedding);
  });
});

describe("README's example of a broken config", () => {
  it('is shipped, and validate prints exactly what README shows', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /```\n\$ lion-train (validate \S+)\n([\s\S]*?)```/.exec(readme)!;
    const result = runCli(block[1].split(' '));
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(block[2]);
  });
});
