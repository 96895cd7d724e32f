/** Your own model and data as modules, through the real CLI: train, resume, export, sweep, errors, the path rule. */
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { hasStackTrace, ROOT, runCli, runCliAsync, tempDir } from '../helpers/cli.js';
import { readRun } from '../helpers/runs.js';

const work = tempDir('lion-train-plugins-');
afterAll(() => work.cleanup());

const EXAMPLE = 'examples/plugin-model/resmlp.yaml';
const FIXTURES = 'test/fixtures/plugins';
const sets = (...set: string[]) => set.flatMap((s) => ['--set', s]);
const trainArgs = (out: string, ...set: string[]) => ['train', EXAMPLE, '--quiet', ...sets(`output.dir=${join(work.path, out)}`, ...set)];

function trajectory(dir: string) {
  return readRun(dir).metrics.map(({ elapsed: _elapsed, ...rest }) => rest);
}

function latestModelBytes(dir: string): Buffer {
  const name = readFileSync(join(dir, 'checkpoints/latest'), 'utf8').trim();
  return readFileSync(join(dir, 'checkpoints', name, 'model.safetensors'));
}

function safetensorsNames(bytes: Buffer): string[] {
  const length = Number(bytes.readBigUInt64LE(0));
  return Object.keys(JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'))).filter((n) => n !== '__metadata__');
}

describe('model and data modules', () => {
  it('the example trains in under a minute and learns the spirals', async () => {
    const began = performance.now();
    const result = await runCliAsync(['train', EXAMPLE, '--quiet', ...sets(`output.dir=${join(work.path, 'example')}`)]);
    const seconds = (performance.now() - began) / 1000;
    expect(result.code, result.stderr).toBe(0);
    expect(seconds).toBeLessThan(60);
    const run = readRun(join(work.path, 'example'));
    expect(run.summary).toMatchObject({ status: 'completed', model: 'resmlp', dataset: 'spirals', parameterCount: 2 * 64 + 64 + 2 * 2 * (64 * 64 + 64) + 64 * 2 + 2 });
    expect(run.summary.final.test!.accuracy).toBeGreaterThan(0.9);
    // The run directory's config.yaml holds the module's absolute path and its schema's defaults.
    const config = parse(readFileSync(join(work.path, 'example/config.yaml'), 'utf8'));
    expect(config.model).toEqual({ module: join(ROOT, 'examples/plugin-model/resmlp.js'), width: 64, blocks: 2 });
    expect(config.data).toMatchObject({ module: join(ROOT, 'examples/plugin-model/spirals.js'), examples: 2000, testExamples: 500, turns: 1.5 });
  });

  it('resumes bit-exactly and exports parameters under the names the module gave them', async () => {
    const common = ['train.steps=30', 'train.evalEvery=10', 'log.everySteps=5', 'checkpoint.everySteps=15', 'model.width=16'];
    const [straight, paused] = await Promise.all([runCliAsync(trainArgs('straight', ...common)), runCliAsync([...trainArgs('paused', ...common), '--pause-at', '13'])]);
    expect(straight.code, straight.stderr).toBe(0);
    expect(paused.code, paused.stderr).toBe(0);
    const resumed = await runCliAsync([...trainArgs('paused', ...common), '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(trajectory(join(work.path, 'paused'))).toEqual(trajectory(join(work.path, 'straight')));
    expect(latestModelBytes(join(work.path, 'paused')).equals(latestModelBytes(join(work.path, 'straight')))).toBe(true);

    const out = join(work.path, 'resmlp.safetensors');
    const exported = runCli(['export', join(work.path, 'paused'), '--out', out]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(safetensorsNames(readFileSync(out)).sort()).toEqual(
      ['stem', 'blocks.0.fc1', 'blocks.0.fc2', 'blocks.1.fc1', 'blocks.1.fc2', 'head'].flatMap((l) => [`${l}.kernel`, `${l}.bias`]).sort(),
    );
  });

  it('sweeps a module option like any other key', async () => {
    const dir = join(work.path, 'sweep');
    const result = await runCliAsync(['sweep', EXAMPLE, '--grid', 'model.blocks=0,1', '--dir', dir, '--jobs', '2', '--quiet', ...sets('train.steps=20', 'train.evalEvery=10', 'checkpoint.everySteps=20')]);
    expect(result.code, result.stderr).toBe(0);
    for (const [trial, blocks] of [['model.blocks=0', 0], ['model.blocks=1', 1]] as const) {
      const run = readRun(join(dir, trial));
      expect(run.summary.status).toBe('completed');
      expect(parse(readFileSync(join(dir, trial, 'config.yaml'), 'utf8')).model.blocks).toBe(blocks);
      expect(run.summary.parameterCount).toBe(2 * 64 + 64 + blocks * 2 * (64 * 64 + 64) + 64 * 2 + 2);
    }
  });

  it('validate lists the modules a config loads, and says in one line when options go unchecked', () => {
    const ok = runCli(['validate', EXAMPLE]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(
      [`${EXAMPLE}: loads model module examples/plugin-model/resmlp.js`, `${EXAMPLE}: loads data module examples/plugin-model/spirals.js`, `${EXAMPLE}: ok`, ''].join('\n'),
    );
    const unchecked = runCli(['validate', `${FIXTURES}/no-schema.yaml`]);
    expect(unchecked.code).toBe(0);
    expect(unchecked.stderr.trim()).toBe(`${FIXTURES}/no-schema.yaml: model.module ${FIXTURES}/no-schema.js exports no options schema: its options (width) are not checked`);
  });

  it("checks a module's options against its schema, located in the config file", () => {
    const result = runCli(['validate', `${FIXTURES}/bad-options.yaml`]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      `${FIXTURES}/bad-options.yaml:3:3 model.widht: unknown key (did you mean width?)`,
      `${FIXTURES}/bad-options.yaml:4:11 model.blocks: must be >= 0`,
    ]);
    const fromSet = runCli(['validate', EXAMPLE, ...sets('data.turns=-1', 'data.nosie=0.1')]);
    expect(fromSet.code).toBe(2);
    expect(fromSet.stderr).toContain('--set data.turns=-1: must be > 0');
    expect(fromSet.stderr).toContain('--set data.nosie=0.1: unknown key (did you mean noise?)');
  });

  it.each([
    ['throws', 'validate', 'model module test/fixtures/plugins/throws.js failed to load: no GPU driver found'],
    ['missing-build', 'validate', 'model module test/fixtures/plugins/missing-build.js is not a ModelFamily: missing build (function (config, input, seed) → Model)'],
    ['no-family', 'validate', 'model module test/fixtures/plugins/no-family.js exports no ModelFamily: expected a default export (or `export const family`)'],
    ['not-found', 'validate', 'model.module: module not found: test/fixtures/plugins/missing.js'],
    ['build-throws', 'train', 'lion-train: model module test/fixtures/plugins/build-throws.js: build() threw: width must be even'],
    ['bad-dataset', 'train', 'lion-train: data module test/fixtures/plugins/bad-dataset.js: load() returned a Dataset missing train ({ size: integer, gather(indices) → Batch })'],
  ])('a module that is %s: one clear line naming it and what is wrong, exit 2', (name, command, message) => {
    const out = join(work.path, `bad-${name}`);
    const result = runCli([command, `${FIXTURES}/${name}.yaml`, ...(command === 'train' ? ['--quiet', ...sets(`output.dir=${out}`)] : [])]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    if (command === 'validate') expect(result.stderr).toMatch(new RegExp(`^${FIXTURES}/${name}\\.yaml:2:11 model\\.module: `, 'm'));
    expect(hasStackTrace(result.stderr)).toBe(false);
    expect(existsSync(out)).toBe(false);
  });
});

describe('TypeScript modules', () => {
  it('load with a TypeScript loader, and without one fail with a hint', async () => {
    const config = `${FIXTURES}/typed.yaml`;
    const withLoader = await runCliAsync(['train', config, '--quiet', ...sets(`output.dir=${join(work.path, 'typed')}`)], { env: { NODE_OPTIONS: '--import tsx' } });
    expect(withLoader.code, withLoader.stderr).toBe(0);
    expect(readRun(join(work.path, 'typed')).summary).toMatchObject({ status: 'completed', model: 'typed-linear', parameterCount: 2 * 2 + 2 });
    const nativeTypeScript = (process.features as { typescript?: unknown }).typescript;
    if (!nativeTypeScript) {
      const without = runCli(['validate', config], { env: { NODE_OPTIONS: '' } });
      expect(without.code).toBe(2);
      expect(without.stderr).toContain(`${config}:2:11 model.module: model module ${FIXTURES}/typed.ts failed to load: Unknown file extension ".ts"`);
      expect(without.stderr).toContain('(a .ts module needs a TypeScript loader: NODE_OPTIONS="--import tsx")');
    }
  });
});

describe('the module path rule', () => {
  it('refuses a module outside the config file\'s folder tree unless --allow-module names its folder', () => {
    const refused = runCli(['validate', `${FIXTURES}/outside.yaml`]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe(
      `${FIXTURES}/outside.yaml:2:11 model.module: module examples/plugin-model/resmlp.js is outside ${FIXTURES}/ (the folder of the config that names it); a module runs code, so allow its folder with --allow-module examples/plugin-model`,
    );
    expect(refused.stdout).not.toContain('loads');
    const allowed = runCli(['validate', `${FIXTURES}/outside.yaml`, '--allow-module', 'examples/plugin-model']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toContain('loads model module examples/plugin-model/resmlp.js');
    // Allowing another folder does not allow this one.
    expect(runCli(['validate', `${FIXTURES}/outside.yaml`, '--allow-module', 'configs']).code).toBe(2);
  });

  it('passes --allow-module on to the trials of a sweep', async () => {
    const dir = join(work.path, 'outside-sweep');
    const refused = runCli(['sweep', `${FIXTURES}/outside.yaml`, '--grid', 'train.seed=0,1', '--dir', dir, '--dry-run']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--allow-module examples/plugin-model');
    const result = await runCliAsync(['sweep', `${FIXTURES}/outside.yaml`, '--grid', 'train.seed=0,1', '--dir', dir, '--jobs', '2', '--quiet', '--allow-module', 'examples/plugin-model']);
    expect(result.code, result.stderr).toBe(0);
    for (const trial of ['train.seed=0', 'train.seed=1']) expect(readRun(join(dir, trial)).summary).toMatchObject({ status: 'completed', model: 'resmlp' });
  });

  it('follows symbolic links: a link inside the folder to a file outside it is outside', () => {
    const dir = join(work.path, 'linked');
    mkdirSync(dir);
    symlinkSync(join(ROOT, 'examples/plugin-model/resmlp.js'), join(dir, 'model.js'));
    writeFileSync(join(dir, 'run.yaml'), `model:\n  module: ./model.js\ndata:\n  name: synthetic\n  inputShape: [4]\n`);
    const result = runCli(['validate', join(dir, 'run.yaml')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`model.module: module ${join(ROOT, 'examples/plugin-model/resmlp.js').replace(ROOT + '/', '')} is outside`);
  });

  it('resolves a module from a base config relative to that base file, like extends', () => {
    const config = join(work.path, 'child.yaml');
    writeFileSync(config, `extends: ${join(ROOT, EXAMPLE)}\ntrain:\n  steps: 7\n`);
    const result = runCli(['validate', config]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('loads model module examples/plugin-model/resmlp.js');
  });

  it('a --set module path resolves from, and may load under, the working directory', () => {
    const result = runCli(['validate', 'configs/tiny.yaml', ...sets('model={module: examples/plugin-model/resmlp.js, width: 8}')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('configs/tiny.yaml: loads model module examples/plugin-model/resmlp.js');
  });
});
