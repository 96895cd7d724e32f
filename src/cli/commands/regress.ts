import { lstatSync, realpathSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { writeFileAtomic } from '../../atomic-write.js';
import { EXIT, UserError } from '../../errors.js';
import {
  baselineExists,
  compareRun,
  comparisonTable,
  comparisonVerdict,
  loadBaseline,
  newBaselineText,
  parseBaseline,
  updatedBaselineText,
  type Baseline,
} from '../../telemetry/baseline.js';
import { junitXml } from '../../telemetry/junit.js';
import { readRun, type RunData } from '../../telemetry/run-reader.js';
import type { GlobalArgs } from '../main.js';
import { err, out } from '../output.js';

interface Args extends GlobalArgs {
  run: string;
  baseline: string;
  junit?: string;
  update: boolean;
  allowConfigChange: boolean;
}

export function readRunOrFail(dir: string): RunData {
  try {
    return readRun(dir);
  } catch (error) {
    throw new UserError((error as Error).message, EXIT.usage);
  }
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return 'a missing file';
  }
}

export interface GateOptions {
  junit?: string;
  quiet?: boolean;
  allowConfigChange?: boolean;
}

/** Compares a run with a baseline, prints the table and verdict, writes JUnit XML; returns the exit code (0 or 3). */
export function gate(run: RunData, baseline: Baseline, options: GateOptions = {}): number {
  const comparison = compareRun(baseline, run, { allowConfigChange: options.allowConfigChange });
  if (options.junit) writeFileAtomic(options.junit, junitXml([comparison]));
  if (!options.quiet) {
    for (const note of comparison.notes) out(`note: ${note}`);
    out(comparisonTable(comparison));
  }
  if (comparison.regressed) {
    for (const row of comparison.rows.filter((r) => r.verdict === 'regressed')) err(`regressed: ${row.message}`);
    err(`lion-train: ${comparisonVerdict(comparison)}`);
    return EXIT.regression;
  }
  if (!options.quiet) out(comparisonVerdict(comparison));
  return EXIT.ok;
}

export const regressCommand: CommandModule<GlobalArgs, Args> = {
  command: 'regress <run>',
  describe: 'Compare a finished run with a baseline file: exit 0 when every metric holds, 3 on a regression, 2 on a bad or mismatched baseline',
  builder: (y) =>
    y
      .positional('run', { type: 'string', demandOption: true, describe: 'Run directory (with summary.json)' })
      .option('baseline', { type: 'string', demandOption: true, describe: 'Baseline file (YAML or JSON), e.g. baselines/tiny-lion.yaml' })
      .option('junit', { type: 'string', describe: 'Also write the comparison as JUnit XML to this file (one testcase per metric)' })
      .option('update', { type: 'boolean', default: false, describe: "Re-record the baseline's values from the run (metrics, directions and tolerances kept); creates a default baseline if the file does not exist" })
      .option('allow-config-change', { type: 'boolean', default: false, describe: "Compare even if the run's configHash differs from the baseline's" })
      .example('$0 regress runs/tiny-20261125-210000 --baseline baselines/tiny-lion.yaml --junit regress.xml', '') as never,
  handler: (args) => {
    const run = readRunOrFail(args.run);
    if (args.update) {
      // --update replaces the baseline file itself, never what a link points to.
      if (lstatSync(args.baseline, { throwIfNoEntry: false })?.isSymbolicLink()) {
        throw new UserError(`cannot update ${args.baseline}: it is a symbolic link (to ${realpathOr(args.baseline)}); lion-train replaces only a regular file: update that file instead`, EXIT.usage);
      }
      const exists = baselineExists(args.baseline);
      const text = exists ? updatedBaselineText(loadBaseline(args.baseline), run) : newBaselineText(run, args.baseline);
      const written = parseBaseline(text, args.baseline);
      writeFileAtomic(args.baseline, text);
      if (!args.quiet) out(`${exists ? 'updated' : 'created'} ${args.baseline}: ${written.metrics.length} metrics recorded from ${run.dir} (${run.summary.backend} backend)`);
      process.exitCode = EXIT.ok;
      return;
    }
    process.exitCode = gate(run, loadBaseline(args.baseline), { junit: args.junit, quiet: args.quiet, allowConfigChange: args.allowConfigChange });
  },
};
