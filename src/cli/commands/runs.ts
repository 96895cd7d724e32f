import { relative, resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { EXIT, UserError } from '../../errors.js';
import { findRunDirs, readSummary } from '../../telemetry/run-reader.js';
import type { RunSummary } from '../../telemetry/summary.js';
import { formatNumber, formatPercent, formatSeconds, textTable } from '../../telemetry/table.js';
import { holderState, readLock } from '../../train/run-lock.js';
import type { GlobalArgs } from '../main.js';
import { out } from '../output.js';

interface Args extends GlobalArgs {
  dir: string;
}

/**
 * A summary that still says running is believed only while its lock's holder lives (or runs on another
 * host, where it cannot be checked); otherwise the process was killed: `stopped`.
 */
function displayStatus(dir: string, summary: RunSummary): string {
  if (summary.status !== 'running') return summary.status;
  const holder = readLock(dir);
  return holder && holderState(holder) !== 'gone' ? 'running' : 'stopped';
}

export const runsCommand: CommandModule<GlobalArgs, Args> = {
  command: 'runs [dir]',
  describe: 'List the runs under a directory (default runs/, sweep directories included): status, steps, best metric, test accuracy, wall time',
  builder: (y) => y.positional('dir', { type: 'string', default: 'runs', describe: 'Folder of runs, a sweep directory or a run directory' }) as never,
  handler: (args) => {
    const root = resolve(args.dir);
    const dirs = findRunDirs([root]);
    if (dirs.length === 0) throw new UserError(`no runs found under ${args.dir}`, EXIT.usage);
    const rows: string[][] = [];
    for (const dir of dirs) {
      let summary: RunSummary;
      try {
        summary = readSummary(dir);
      } catch {
        rows.push([relative(root, dir) || '.', '?', 'unreadable', '-', '-', '-', '-']);
        continue;
      }
      const best = summary.best ? `${summary.best.metric} ${formatNumber(summary.best.value)} @${summary.best.step}` : '-';
      rows.push([relative(root, dir) || '.', summary.name, displayStatus(dir, summary), `${summary.steps}/${summary.totalSteps}`, best, formatPercent(summary.final.test?.accuracy), formatSeconds(summary.totals?.wallSeconds)]);
    }
    out(
      textTable({
        headers: ['run', 'name', 'status', 'steps', 'best', 'test accuracy', 'wall time'],
        rows,
        align: ['left', 'left', 'left', 'right', 'left', 'right', 'right'],
      }),
    );
    process.exitCode = EXIT.ok;
  },
};
