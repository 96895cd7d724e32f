// The regression gate CI runs: configs/tiny.yaml with each optimizer, trained and checked against the
// committed baselines/tiny-<optimizer>.yaml (cpu backend, deterministic), and a deliberately broken
// run that the gate must catch.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCliAsync, tempDir } from '../helpers/cli.js';

const dir = tempDir('lion-train-ci-');
afterAll(() => dir.cleanup());

describe('committed baselines', () => {
  it.each(['lion', 'adamw', 'adafactor'])('tiny with %s holds its baseline', async (optimizer) => {
    const result = await runCliAsync(['train', 'configs/tiny.yaml', '--set', `optimizer.name=${optimizer}`, '--set', `output.dir=${join(dir.path, optimizer)}`, '--check', `baselines/tiny-${optimizer}.yaml`, '--set', 'log.progress=none']);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^5 of 5 metrics hold \(baselines\/tiny-.+\.yaml\)$/m);
  });

  it('a Lion run with a learning rate too small to learn fails the gate with exit 3', async () => {
    const result = await runCliAsync(['train', 'configs/tiny.yaml', '--set', 'optimizer.lion.learningRate=1e-7', '--set', `output.dir=${join(dir.path, 'worse')}`, '--check', 'baselines/tiny-lion.yaml', '--quiet']);
    expect(result.code).toBe(3);
    // --quiet: nothing but the errors, which here are the regressions.
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^regressed: final\.test\.accuracy /m);
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(/^lion-train: regression: \d of 5 metrics regressed: final\.test\.accuracy, /);
  });
});
