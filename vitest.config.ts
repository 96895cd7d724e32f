import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';
import SlowestFirstSequencer from './test/helpers/sequencer.js';

/**
 * Files that must have the machine to themselves: the kill test's kills land mid-checkpoint-write only when
 * nothing else competes for the cores. They run last, one at a time.
 */
const ALONE = ['test/e2e/kill.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    sequence: { sequencer: SlowestFirstSequencer },
    projects: [
      {
        extends: true,
        // Most test files wait on the CLI processes they start: two files at a time keep two cores busy
        // (vitest's default on a 2-core machine is one).
        test: { name: 'shared', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...ALONE], maxWorkers: Math.max(2, availableParallelism() - 1), sequence: { groupOrder: 0 } },
      },
      { extends: true, test: { name: 'alone', include: ALONE, maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
