/**
 * The order test files start in (within a vitest project): the slowest first, so that with two workers on two cores neither is left
 * running one long file alone at the end. Measured on 2 cores (seconds, roughly): the queue, kill and
 * one-writer files run many trainings and restarts; the rest follow vitest's own order (longest last run
 * first when it has timings, else largest file first).
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const SLOWEST_FIRST = [
  'test/queue/queue.test.ts',
  'test/e2e/kill.test.ts',
  'test/e2e/one-writer.test.ts',
  'test/e2e/run-dir-safety.test.ts',
  'test/cli/commands.test.ts',
  'test/cli/usability.test.ts',
  'test/e2e/train.test.ts',
  'test/e2e/plugins.test.ts',
  'test/webgpu/cli.test.ts',
  'test/webgpu/training.test.ts',
  'test/evolve/search.test.ts',
  'test/e2e/resume.test.ts',
  'test/cli/report-layout.test.ts',
  'test/e2e/checkpoint-trust.test.ts',
  'test/cli/program.test.ts',
  'test/cli/sweep-checks.test.ts',
];

export default class SlowestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const index = SLOWEST_FIRST.indexOf(relative(spec.project.config.root, spec.moduleId).split('\\').join('/'));
      return index === -1 ? SLOWEST_FIRST.length : index;
    };
    return sorted.map((spec, order) => ({ spec, order })).sort((a, b) => rank(a.spec) - rank(b.spec) || a.order - b.order).map(({ spec }) => spec);
  }
}
