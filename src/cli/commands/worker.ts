import type { CommandModule } from 'yargs';
import { EXIT } from '../../errors.js';
import type { GlobalArgs } from '../main.js';
import { err } from '../output.js';

interface Args extends GlobalArgs {
  queue: string;
  jobs: number;
  runsRoot: string;
  lockSeconds: number;
}

export const workerCommand: CommandModule<GlobalArgs, Args> = {
  command: 'worker',
  describe: 'Take sweep trials and evolve candidates from a Redis work queue and train them, until stopped (Ctrl-C: finish the running jobs and quit)',
  builder: (y) =>
    y
      .option('queue', { type: 'string', demandOption: true, describe: 'redis://[user:password@]host:6379[/db] or rediss://… (TLS)' })
      .option('jobs', { type: 'number', default: 1, describe: 'Jobs at once (candidates run on threads of their own)' })
      .option('runs-root', { type: 'string', default: 'runs', describe: 'Where trials write their run directories (shared storage: a trial taken over from a dead worker resumes from its checkpoint)' })
      .option('lock-seconds', { type: 'number', default: 30, describe: 'A dead worker\'s job goes back to the queue after this many seconds' })
      .check((args) => {
        if (!Number.isInteger(args.jobs) || (args.jobs as number) < 1) throw new Error('--jobs must be a whole number >= 1');
        if (!((args.lockSeconds as number) > 0)) throw new Error('--lock-seconds must be a positive number');
        return true;
      })
      .example('$0 worker --queue redis://queue.internal:6379 --jobs 2 --runs-root /shared/runs', '') as never,
  handler: async (args) => {
    const say = args.quiet ? () => {} : err;
    const { startQueueWorker } = await import('../../queue/worker.js');
    const worker = await startQueueWorker({ url: args.queue, jobs: args.jobs, runsRoot: args.runsRoot, log: say, lockSeconds: args.lockSeconds });
    await new Promise<void>((resolveStop) => {
      let stopping = false;
      const onSignal = (signal: NodeJS.Signals) => {
        if (stopping) process.exit(EXIT.interrupted);
        stopping = true;
        say(`${signal}: finishing the running jobs (send it again to quit at once)`);
        void worker.close().then(resolveStop);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
    process.exitCode = EXIT.ok;
  },
};
