import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { hasStackTrace, ROOT, runCli, tempDir } from '../helpers/cli.js';

const shippedConfigs = readdirSync(join(ROOT, 'configs')).filter((f) => f.endsWith('.yaml')).map((f) => `configs/${f}`);

// configs/cnn-fashion.yaml reads Debian's dataset-fashion-mnist. Where it is not installed, validate must report
// exactly that (and the config is otherwise valid); everywhere else every shipped config is ok.
const FASHION_INSTALLED = existsSync('/usr/share/datasets/fashion-mnist');
const needsMissingData = (file: string) => !FASHION_INSTALLED && file.endsWith('cnn-fashion.yaml');
const MISSING_FASHION = /data\.path: Fashion-MNIST not found: .+; install it with: sudo apt-get install dataset-fashion-mnist/;

describe('lion-train validate', () => {
  it('prints ok for every shipped config', () => {
    const result = runCli(['validate', ...shippedConfigs]);
    const problems = result.stderr.split('\n').filter((l) => l && !l.includes('hint:'));
    expect(problems.filter((l) => !(MISSING_FASHION.test(l) && shippedConfigs.some(needsMissingData)))).toEqual([]);
    expect(result.code).toBe(shippedConfigs.some(needsMissingData) ? 2 : 0);
    expect(result.stdout.trim().split('\n')).toEqual(shippedConfigs.filter((f) => !needsMissingData(f)).map((f) => `${f}: ok`));
  });

  it.each(shippedConfigs)('accepts %s with optimizer.name changed to each optimizer', (file) => {
    // One validate of the three copies (it reports each file in turn).
    const copies = ['lion', 'adamw', 'adafactor'].map((name) => {
      const text = readFileSync(join(ROOT, file), 'utf8').replace(/^(\s+name: )(lion|adamw|adafactor|program)\b/m, `$1${name}`);
      expect(text).toContain(`name: ${name}`);
      const copy = join('configs', `.swap-${name}-${file.split('/')[1]}`);
      writeFileSync(join(ROOT, copy), text);
      return copy;
    });
    try {
      const result = runCli(['validate', ...copies]);
      if (needsMissingData(file)) {
        expect(result.stderr.split('\n').filter((l) => MISSING_FASHION.test(l))).toHaveLength(copies.length);
      } else {
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout.trim().split('\n')).toEqual(copies.map((copy) => `${copy}: ok`));
      }
    } finally {
      execFileSync('rm', ['-f', ...copies.map((copy) => join(ROOT, copy))]);
    }
  });

  it('starts every shipped config with the yaml-language-server schema header', () => {
    for (const file of shippedConfigs) {
      expect(readFileSync(join(ROOT, file), 'utf8').split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/run.schema.json');
    }
  });
});

describe('lion-train print-config', () => {
  it('prints the resolved config as YAML that validates again', () => {
    const result = runCli(['print-config', 'configs/tiny.yaml', '--set', 'train.steps=7']);
    expect(result.code).toBe(0);
    const printed = parse(result.stdout);
    expect(printed.train.steps).toBe(7);
    expect(printed.train.batchSize).toBeTypeOf('number');
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, 'again.yaml'), result.stdout);
      expect(runCli(['print-config', join(dir.path, 'again.yaml')]).stdout).toBe(result.stdout.replace(/^name: .*$/m, 'name: tiny'));
    } finally {
      dir.cleanup();
    }
  });

  it('with --sources names the file, line and column, --set or default of each value', () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, 'base.yaml'), 'model:\n  name: mlp\ndata:\n  name: synthetic\ntrain:\n  steps: 5\n');
      writeFileSync(join(dir.path, 'run.yaml'), 'extends: base.yaml\ntrain:\n  batchSize: 8\n');
      const result = runCli(['print-config', 'run.yaml', '--sources', '--set', 'train.seed=9'], { cwd: dir.path });
      expect(result.code).toBe(0);
      const lines = result.stdout.split('\n');
      expect(lines).toContain('  steps: 5 # base.yaml:6:10');
      expect(lines).toContain('  batchSize: 8 # run.yaml:3:14');
      expect(lines).toContain('  seed: 9 # --set train.seed=9');
      expect(lines).toContain('  evalEvery: 500 # default');
    } finally {
      dir.cleanup();
    }
  });
});

describe('lion-train schema, --help, --version', () => {
  it('prints the JSON Schema', () => {
    const result = runCli(['schema']);
    expect(result.code).toBe(0);
    const schema = JSON.parse(result.stdout);
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['model', 'data', 'optimizer', 'schedule', 'train', 'checkpoint', 'log', 'output']));
  });

  it('prints the package version', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const result = runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(pkg.version);
  });

  it('lists the commands in --help', () => {
    const result = runCli(['--help']);
    expect(result.code).toBe(0);
    for (const command of ['train', 'validate', 'print-config', 'schema']) expect(result.stdout).toContain(`lion-train ${command}`);
    expect(result.stdout).toContain('--set');
  });

  it('refuses an unknown option or a missing argument with exit 2 and no stack trace', () => {
    for (const args of [['validate'], ['validate', 'configs/tiny.yaml', '--frobnicate'], []]) {
      const result = runCli(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^lion-train: .+ \(see lion-train --help\)$/m);
      expect(hasStackTrace(result.stderr)).toBe(false);
    }
  });
});

describe('generated config types', () => {
  it('match the schema (npm run gen:types leaves them unchanged)', () => {
    execFileSync(process.execPath, [join(ROOT, 'scripts/gen-types.mjs'), '--check'], { cwd: ROOT });
  });
});
