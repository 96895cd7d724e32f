import type { CommandModule } from 'yargs';
import { EXIT } from '../../errors.js';
import type { GlobalArgs } from '../main.js';
import { err, out } from '../output.js';

interface Args extends GlobalArgs {
  config?: string;
  jobs: number;
  resume?: string;
  overwrite?: boolean;
  dir?: string;
  queue?: string;
}

export const evolveCommand: CommandModule<GlobalArgs, Args> = {
  command: 'evolve [config]',
  describe: "Search for an optimizer program by regularized evolution on the config's evolve: section (the config is the proxy task)",
  builder: (y) =>
    y
      .positional('config', { type: 'string', describe: 'YAML config with an evolve: section (not needed with --resume)' })
      .option('jobs', { type: 'number', default: 1, describe: 'Candidates trained at once, each on a worker thread of its own' })
      .option('resume', { type: 'string', describe: 'Continue the search in this directory (its evolve.yaml; --set may change the budget)' })
      .option('overwrite', { type: 'boolean', describe: 'Replace an existing search directory (only one lion-train evolve made)' })
      .option('dir', { type: 'string', describe: 'Search directory (default <output.root>/<name>-evolve)' })
      .option('queue', { type: 'string', describe: 'redis://host:6379[/db]: train candidates on lion-train workers anywhere (--jobs: candidates in flight)' })
      .conflicts('overwrite', 'resume')
      .check((args) => {
        if (!Number.isInteger(args.jobs) || (args.jobs as number) < 1) throw new Error('--jobs must be a whole number >= 1');
        if (args.config === undefined && args.resume === undefined) throw new Error('give a config file, or --resume <dir>');
        return true;
      })
      .example('$0 evolve configs/evolve-mlp.yaml --jobs 2', '')
      .example('$0 evolve --resume runs/evolve-mlp-evolve', '') as never,
  handler: async (args) => {
    const say = args.quiet ? () => {} : err;
    const { evolve, formatFitness } = await import('../../evolve/search.js');
    const stop = { signal: null as string | null };
    const onSignal = (signal: NodeJS.Signals) => {
      if (stop.signal) process.exit(EXIT.interrupted);
      stop.signal = signal;
      say(`\n${signal}: finishing the candidates in flight (send it again to quit at once; history.jsonl keeps every finished one)`);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const { dir, summary } = await evolve(args.config, {
        set: args.set,
        jobs: args.jobs,
        resume: args.resume,
        overwrite: args.overwrite,
        dir: args.dir,
        queue: args.queue,
        progress: args.quiet ? 'none' : 'auto',
        log: say,
        stop,
      });
      const best = summary.best;
      out(
        `evolve: ${summary.candidates} candidates (${summary.evaluated} trained, cache hit rate ${(100 * summary.cacheHitRate).toFixed(1)} %), ` +
          `${summary.evaluatedPerMinute.toFixed(1)} trained per minute with ${summary.jobs} job${summary.jobs === 1 ? '' : 's'}`,
      );
      for (const [stage, baselines] of Object.entries(summary.baselines)) {
        const refs = Object.entries(baselines).map(([name, value]) => `${name} ${formatFitness(value)}`);
        out(`${stage} ${summary.metric}: seed ${formatFitness(summary.seed[stage] ?? null)}, ${refs.join(', ')}${best?.stage === stage ? `, best candidate ${best.id} ${formatFitness(best.fitness)}` : ''}`);
      }
      if (best && !Object.keys(summary.baselines).includes(best.stage)) out(`best: candidate ${best.id}, ${summary.metric} ${formatFitness(best.fitness)} on ${best.stage}`);
      out(`search directory: ${dir} (best.yaml, top.md, history.jsonl)`);
      if (summary.status === 'interrupted') {
        err(`lion-train: search interrupted; continue with: lion-train evolve --resume ${dir}`);
        process.exitCode = EXIT.interrupted;
      } else {
        process.exitCode = EXIT.ok;
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
