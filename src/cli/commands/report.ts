import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { EXIT, UserError } from '../../errors.js';
import { displayPath, findRunDirs } from '../../telemetry/run-reader.js';
import type { GlobalArgs } from '../main.js';
import { count, out } from '../output.js';

interface Args extends GlobalArgs {
  dirs: string[];
  out: string;
  title?: string;
}

export const reportCommand: CommandModule<GlobalArgs, Args> = {
  command: 'report <dirs..>',
  describe: 'Write report.html (self-contained: charts and final metrics) and report.md for runs, sweep directories or sweep shards',
  builder: (y) =>
    y
      .positional('dirs', { type: 'string', array: true, demandOption: true, describe: 'Run directories, sweep directories, folders of runs (searched recursively), or one search directory of lion-train evolve' })
      .option('out', { type: 'string', default: 'report', describe: 'Directory to write report.html and report.md into' })
      .option('title', { type: 'string', describe: 'Page title (default: the run name, or the number of runs)' })
      .example('$0 report runs/compare-optimizers-sweep --out runs/compare-optimizers-sweep/report', '') as never,
  handler: async (args) => {
    const { isSearchDirectory, writeSearchReport } = await import('../../evolve/report.js');
    if (args.dirs.length === 1 && isSearchDirectory(args.dirs[0])) {
      const report = await writeSearchReport(args.dirs[0], args.out);
      if (!args.quiet) out(`search of ${report.candidates} candidates, ${report.charts} charts: ${join(displayPath(args.out), 'report.html')}, ${join(displayPath(args.out), 'report.md')}`);
      process.exitCode = EXIT.ok;
      return;
    }
    if (findRunDirs(args.dirs).length === 0) throw new UserError(`no run directories (with summary.json) found in ${args.dirs.join(', ')}`, EXIT.usage);
    // vega and vega-lite load only here: other commands start without them.
    const { writeReport } = await import('../../telemetry/report.js');
    const report = await writeReport(args.dirs, args.out, { title: args.title });
    const shown = displayPath(args.out);
    if (!args.quiet) out(`${count(report.runs.length, 'run')}, ${count(report.charts.length, 'chart')}: ${join(shown, 'report.html')}, ${join(shown, 'report.md')}`);
    process.exitCode = EXIT.ok;
  },
};
