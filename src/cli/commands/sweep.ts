import { availableParallelism } from 'node:os';
import type { CommandModule } from 'yargs';
import { makeDirectory, writeJsonAtomic } from '../../atomic-write.js';
import { EXIT, UserError } from '../../errors.js';
import { parseShard } from '../../sweep/grid.js';
import { collectResults, resultsText, writeResults } from '../../sweep/results.js';
import { runTrials, type TrialJob, type TrialOutcome } from '../../sweep/runner.js';
import { formatTrialProgress, trialProgress } from '../../sweep/trial-progress.js';
import { displayPath, type TrialManifest } from '../../telemetry/run-reader.js';
import { formatSeconds } from '../../telemetry/table.js';
import type { GlobalArgs } from '../main.js';
import { count, err, out } from '../output.js';

interface Args extends GlobalArgs {
  config: string;
  grid: string[];
  paired: string[];
  dir?: string;
  jobs: number;
  shard?: string;
  metric?: string;
  dryRun: boolean;
  progressEvery: number;
  queue?: string;
}

export const sweepCommand: CommandModule<GlobalArgs, Args> = {
  command: 'sweep <config>',
  describe: "Train every trial of a grid (the config's sweep: section and --grid/--paired), each in <sweep-dir>/<trial>/, and rank them",
  builder: (y) =>
    y
      .positional('config', { type: 'string', demandOption: true, describe: 'YAML config file' })
      .option('grid', { type: 'string', array: true, default: [], describe: 'key.path=v1,v2,… : one grid dimension (repeatable; replaces the config\'s list for that key)' })
      .option('paired', { type: 'string', array: true, default: [], describe: '"k1=a,b;k2=c,d" : lists that move together (repeatable, one group each)' })
      .option('dir', { type: 'string', describe: 'Sweep directory (default <output.root>/<name>-sweep)' })
      .option('jobs', { type: 'number', default: 1, describe: 'Trials run at once, each a child process' })
      .option('shard', { type: 'string', describe: 'i/n: run only the i-th of n slices of the trial list (0 <= i < n), for CI matrices and array jobs' })
      .option('metric', { type: 'string', describe: 'Rank trials by this final metric (default: the sweep section\'s metric, test.accuracy)' })
      .option('queue', { type: 'string', describe: 'redis://host:6379[/db]: trials become jobs for lion-train workers anywhere (re-run the same command to re-attach)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'List the trials (and what a run would do with each) without training' })
      .option('progress-every', { type: 'number', default: 30, describe: 'Seconds between progress lines (step, loss) of each running trial' })
      .check((args) => {
        if (!Number.isInteger(args.jobs) || (args.jobs as number) < 1) throw new Error('--jobs must be a whole number >= 1');
        if (!((args.progressEvery as number) > 0)) throw new Error('--progress-every must be a number of seconds > 0');
        return true;
      })
      .example('$0 sweep configs/tiny.yaml --grid optimizer.name=lion,adamw,adafactor --grid train.seed=0,1 --jobs 2', '') as never,
  handler: async (args) => {
    const { prepareSweep } = await import('../../sweep/prepare.js');
    const shard = args.shard === undefined ? undefined : parseShard(args.shard);
    const sweep = await prepareSweep(args.config, { set: args.set, allowModule: args['allow-module'], grid: args.grid, paired: args.paired, dir: args.dir, shard, metric: args.metric, queue: args.queue !== undefined });
    const say = args.quiet ? () => {} : err;
    const shown = displayPath(sweep.dir);
    const sliceText = shard ? `shard ${shard.index}/${shard.count}: ${sweep.jobs.length + sweep.skipped.length} of ${count(sweep.trials.length, 'trial')}` : count(sweep.trials.length, 'trial');

    // Each trial's worker threads (wasm/cpu; a native backend uses every core itself) times the trials at once.
    const threads = Math.min(args.jobs, sweep.jobs.length) * sweep.workers;
    if (sweep.workers > 1 && args.jobs > 1 && threads > availableParallelism()) {
      say(`note: --jobs ${args.jobs} × train.workers ${sweep.workers} = ${threads} threads on ${availableParallelism()} cores (wasm/cpu backends): trials take turns on the cores; use --jobs ${Math.max(1, Math.floor(availableParallelism() / sweep.workers))} or train.workers 1`);
    }

    if (args.dryRun) {
      const runs = new Set(sweep.jobs.map((j) => j.trial.name));
      out(`${sweep.name}: ${sliceText} into ${shown}/`);
      for (const trial of shard ? sweep.trials.filter((t) => t.index % shard.count === shard.index) : sweep.trials) {
        out(`${String(trial.index).padStart(3)}  ${trial.name}  ${runs.has(trial.name) ? 'to run' : 'completed (skip)'}`);
      }
      process.exitCode = EXIT.ok;
      return;
    }

    makeDirectory(sweep.dir);
    const manifest: TrialManifest = { sweep: sweep.name, config: sweep.configFile, metric: sweep.metric, trials: sweep.trials.map((t) => ({ index: t.index, name: t.name, overrides: t.overrides })) };
    writeJsonAtomic(`${sweep.dir}/trials.json`, manifest);
    say(`${sweep.name}: ${sliceText} into ${shown}/ (${sweep.skipped.length} already completed, ${sweep.jobs.length} to run, ${args.jobs} at a time)`);
    for (const trial of sweep.skipped) say(`  skip ${trial.name}: completed`);

    let finished = 0;
    const total = sweep.jobs.length;
    // Each running trial's latest step, printed every --progress-every seconds when it moved.
    const running = new Map<string, { dir: string; shownStep: number }>();
    const ticker = args.quiet
      ? undefined
      : setInterval(() => {
          for (const [name, trial] of running) {
            const progress = trialProgress(trial.dir);
            if (!progress || progress.step === trial.shownStep) continue;
            trial.shownStep = progress.step;
            say(`  … ${name}: ${formatTrialProgress(progress)}`);
          }
        }, args.progressEvery * 1000);
    ticker?.unref();
    const hooks = {
      jobs: args.jobs,
      onStart: (job: TrialJob) => {
        running.set(job.trial.name, { dir: job.dir, shownStep: -1 });
        say(`  start ${job.trial.name}${job.args.includes('--resume') ? ' (resuming)' : ''}`);
      },
      onFinish: (o: TrialOutcome) => {
        running.delete(o.job.trial.name);
        finished += 1;
        const what = o.status === 'completed' ? 'completed' : `${o.status}: ${o.message} (log: ${displayPath(o.job.log)})`;
        say(`  [${finished}/${total}] ${o.job.trial.name} ${what} in ${formatSeconds(o.seconds)}`);
      },
    };
    const runner = args.queue
      ? (await import('../../queue/sweep.js')).runTrialsOnQueue(args.queue, sweep, args.set ?? [], sweep.jobs, hooks)
      : runTrials(sweep.jobs, hooks);
    let interrupted: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      say(interrupted ? `\n${signal}: killing the running trials` : `\n${signal}: stopping; running trials checkpoint and stop (send it again to kill them; re-run the same command to resume)`);
      interrupted = signal;
      runner.stop(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let outcomes: TrialOutcome[];
    try {
      outcomes = await runner.done;
    } finally {
      if (ticker) clearInterval(ticker);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }

    const results = collectResults(sweep.dir, sweep.trials, sweep.metric);
    writeResults(sweep.dir, results, `Sweep ${sweep.name}`);
    if (!args.quiet) out(resultsText(results));
    out(`results: ${shown}/results.md, ${shown}/results.json`);

    const failed = outcomes.filter((o) => o.status !== 'completed' && o.status !== 'interrupted');
    if (interrupted || outcomes.some((o) => o.status === 'interrupted')) {
      process.exitCode = EXIT.interrupted;
      err(`lion-train: sweep interrupted; re-run the same command to resume`);
    } else if (failed.length > 0) {
      throw new UserError(`${failed.length} of ${count(total, 'trial')} failed: ${failed.map((o) => o.job.trial.name).join(', ')}`, EXIT.failed);
    } else process.exitCode = EXIT.ok;
  },
};

