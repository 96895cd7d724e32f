import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers/cli.js';

const dir = tempDir('lion-train-locations-');
afterAll(() => dir.cleanup());

const BASE = [
  'model:',
  '  name: mlp',
  '  hidden: [16, 16, 16]',
  'data:',
  '  name: synthetic',
  '  inputShape: [8]',
  'optimizer:',
  '  name: adamw',
  '  adamw:',
  '    learningRate: 1.0e-3',
  '    weightDecay: 0.01',
  'train:',
  '  steps: 10',
  '  batchSize: 32',
  '',
].join('\n');

function write(name: string, text: string): string {
  writeFileSync(join(dir.path, name), text);
  return name;
}

describe('errors and --sources point where the value was written', () => {
  write('base.yaml', BASE);

  it('through an alias in a file that extends another: at the anchored text, never the base', () => {
    const file = write('alias.yaml', ['extends: base.yaml', 'optimizer:', '  lion: &common', '    learningRate: -3.0e-4', '    weightDecay: 0.1', '  adamw: *common', ''].join('\n'));
    const result = runCli(['validate', file], { cwd: dir.path });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('alias.yaml:4:19 optimizer.adamw.learningRate: must be > 0');
    expect(result.stderr).not.toContain('base.yaml');
  });

  it('--sources credits aliased values, replaced lists and --set values to where they were written', () => {
    const file = write('sources.yaml', ['extends: base.yaml', 'model:', '  hidden: [8]', 'optimizer:', '  lion: &common', '    learningRate: 2.0e-4', '    weightDecay: 0.1', '  adamw: *common', ''].join('\n'));
    const result = runCli(['print-config', file, '--sources', '--set', 'train.steps=7'], { cwd: dir.path });
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    const adamw = lines.slice(lines.indexOf('  adamw:'));
    expect(adamw).toContain('    learningRate: 0.0002 # sources.yaml:6:19');
    expect(adamw).toContain('    weightDecay: 0.1 # sources.yaml:7:18');
    expect(lines).toContain('  hidden: [ 8 ] # sources.yaml:3:11');
    expect(lines).toContain('  steps: 7 # --set train.steps=7');
    expect(lines).toContain('  batchSize: 32 # base.yaml:14:14');
  });

  it('a bad value from --set over an extends chain is located at the --set', () => {
    const file = write('child.yaml', 'extends: base.yaml\ntrain:\n  batchSize: 16\n');
    const result = runCli(['validate', file, '--set', 'optimizer.adamw.weightDecay=-1'], { cwd: dir.path });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('--set optimizer.adamw.weightDecay=-1: must be >= 0');
  });
});

describe('a run name taken from the file name', () => {
  it('is made to follow the rule an explicit name follows, with a note', () => {
    const file = write('my run (v2).yaml', BASE);
    const checked = runCli(['validate', file], { cwd: dir.path });
    expect(checked.code).toBe(0);
    expect(checked.stderr).toContain('note: the run name comes from the file name, and "my run (v2)" is not a valid name');
    expect(checked.stderr).toContain('using "my-run-v2"');
    // The same name given explicitly is refused: the file name gets the same rule, sanitised.
    expect(runCli(['validate', write('plain.yaml', BASE), '--set', 'name=my run (v2)'], { cwd: dir.path }).code).toBe(2);

    const trained = runCli(['train', file, '--set', 'train.backend=cpu', '--set', 'output.root=runs', '--quiet'], { cwd: dir.path });
    expect(trained.code, trained.stderr).toBe(0);
    const made = readdirSync(join(dir.path, 'runs'));
    expect(made).toHaveLength(1);
    expect(made[0]).toMatch(/^my-run-v2-/);
    expect(existsSync(join(dir.path, 'runs', made[0], 'summary.json'))).toBe(true);
  });

  it('a valid file name is used as it is, without a note', () => {
    const result = runCli(['print-config', write('run_v2.1.yaml', BASE)], { cwd: dir.path });
    expect(result.stdout.split('\n')[0]).toBe('name: run_v2.1');
    expect(result.stderr).toBe('');
  });
});
