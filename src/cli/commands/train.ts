import type { Argv, CommandModule } from 'yargs';
import { EXIT } from '../../errors.js';
import { STOP_ON_DISCONNECT } from '../../sweep/runner.js';
import { loadBaseline } from '../../telemetry/baseline.js';
import type { StopRequest } from '../../train/loop.js';
import type { GlobalArgs } from '../main.js';
import { err, out } from '../output.js';
import { qualityHeadline } from '../headline.js';
import { gate, readRunOrFail } from './regress.js';

interface Args extends GlobalArgs {
  config?: string;
  overwrite?: boolean;
  resume?: string | boolean;
  pauseAt?: number;
  check?: string;
}

const builder = (y: Argv<GlobalArgs>) =>
  y
    .positional('config', { type: 'string', describe: 'YAML config file (optional with --resume <run-dir>: the run continues from its own config.yaml)' })
    // No default: yargs counts a defaulted option as given, and --resume would always conflict with it.
    .option('overwrite', { type: 'boolean', describe: 'Replace an existing run directory' })
    .option('resume', {
      describe: "Continue from the newest valid checkpoint of the config's run directory, or of the run directory given (from its own config.yaml; a config file or --set may change only what README lists as safe)",
      coerce: (value: unknown) => (value === '' || value === true ? true : value),
    })
    .option('pause-at', { type: 'number', describe: 'Stop after this step with a checkpoint; continue later with --resume' })
    .option('check', { type: 'string', describe: 'After training, compare the run with this baseline file (as lion-train regress does): exit 3 on a regression' })
    .conflicts('overwrite', 'resume') as never;

/** A word the shell passes through unchanged: bare when it is safe, else single-quoted. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * SIGINT/SIGTERM: finish the step, checkpoint, exit 130. A second signal quits at once. A sweep trial
 * (STOP_ON_DISCONNECT set) also stops so when its controller's IPC channel closes: the controller died.
 */
function wireSignals(stop: StopRequest, say: (line: string) => void): () => void {
  const onSignal = (signal: string) => {
    if (stop.signal) process.exit(EXIT.interrupted);
    stop.signal = signal;
    say(`\n${signal}: finishing the current step and writing a checkpoint (send it again to quit at once)`);
  };
  const onDisconnect = () => onSignal('sweep controller exited');
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (process.env[STOP_ON_DISCONNECT] === '1' && process.channel) {
    // The channel must not keep the process alive once training ends.
    process.channel.unref();
    process.on('disconnect', onDisconnect);
  }
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('disconnect', onDisconnect);
  };
}

async function handler(args: Args): Promise<void> {
  const say = args.quiet ? () => {} : err;
  // Loaded here, not at the top: it brings TensorFlow.js, which commands like --help do not need.
  const { train } = await import('../../train/train.js');
  const stop: StopRequest = { signal: null };
  // A bad baseline fails before training, not after it.
  const baseline = args.check === undefined ? undefined : loadBaseline(args.check);
  const unwire = wireSignals(stop, err);
  try {
    const { summary, runDir, alreadyComplete } = await train(args.config, {
      set: args.set,
      allowModule: args['allow-module'],
      overwrite: args.overwrite,
      resume: args.resume === undefined ? undefined : args.resume === true ? true : String(args.resume),
      progress: args.quiet ? 'none' : undefined,
      log: say,
      stop,
      pauseAtStep: args.pauseAt,
    });
    // The command that continues exactly this run: its own config.yaml holds everything it was started with.
    const resumeHint = `lion-train train --resume ${shellQuote(runDir)}`;
    const headline = qualityHeadline(summary);
    if (alreadyComplete) {
      if (!args.quiet) {
        out(`${summary.name}: completed ${summary.steps} steps earlier (${summary.reason}); already complete, nothing to do`);
        out(`run directory: ${runDir}`);
      }
      process.exitCode = EXIT.ok;
    } else if (summary.status === 'completed') {
      if (!args.quiet) {
        out(`${summary.name}: completed ${summary.steps} steps in ${summary.totals.wallSeconds.toFixed(1)} s (${summary.reason})${headline ? `; ${headline}` : ''}`);
        out(`run directory: ${runDir}`);
      }
      process.exitCode = baseline ? gate(readRunOrFail(runDir), baseline, { quiet: args.quiet }) : EXIT.ok;
    } else if (summary.status === 'interrupted' && !stop.signal) {
      if (!args.quiet) out(`${summary.name}: ${summary.reason}; continue with: ${resumeHint}`);
      process.exitCode = EXIT.ok;
    } else if (summary.status === 'interrupted') {
      err(`lion-train: interrupted by ${summary.reason} at step ${summary.steps}; resume with: ${resumeHint}`);
      process.exitCode = EXIT.interrupted;
    } else {
      err(`lion-train: training ${summary.status}: ${summary.reason} (run directory ${runDir})`);
      process.exitCode = EXIT.failed;
    }
  } finally {
    unwire();
  }
}

export const trainCommand: CommandModule<GlobalArgs, Args> = {
  command: 'train [config]',
  describe: 'Train the run a config declares',
  builder,
  handler,
};

export const defaultTrainCommand: CommandModule<GlobalArgs, Args> = {
  command: '$0 [config]',
  describe: 'Same as train [config]',
  builder,
  handler,
};
