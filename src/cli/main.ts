/** The lion-train command line: a thin shell over the library. Every error leaves as one clear line and an exit code. */
import { existsSync, readFileSync } from 'node:fs';
import yargs from 'yargs';
import { ConfigError, formatProblem } from '../config/index.js';
import { closest } from '../config/suggest.js';
import { EXIT, UserError } from '../errors.js';
import { fusedKindsFromEnvironment } from '../models/fused-kinds.js';
import { allocationFailure, isAllocationFailure } from '../train/memory.js';
import { evolveCommand } from './commands/evolve.js';
import { exportCommand } from './commands/export.js';
import { printConfigCommand } from './commands/print-config.js';
import { programCommand } from './commands/program.js';
import { regressCommand } from './commands/regress.js';
import { reportCommand } from './commands/report.js';
import { runsCommand } from './commands/runs.js';
import { sampleCommand } from './commands/sample.js';
import { schemaCommand } from './commands/schema.js';
import { sweepCommand } from './commands/sweep.js';
import { trainCommand, defaultTrainCommand } from './commands/train.js';
import { validateCommand } from './commands/validate.js';
import { workerCommand } from './commands/worker.js';
import { err } from './output.js';

export interface GlobalArgs {
  set: string[];
  /** Folders a config may load model/data modules from besides its own folder tree. */
  'allow-module': string[];
  debug: boolean;
  quiet: boolean;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  // `lion-train runs | head`: a reader that goes away is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok);
  });
  const parser = yargs(argv)
    .scriptName('lion-train')
    .usage('$0 <config.yaml> [options]\n\nDeclare a training run in one YAML file and run it.')
    .option('set', { type: 'string', array: true, default: [], describe: 'Override a config value: key.path=value (value parsed as YAML; repeatable)' })
    .option('allow-module', { type: 'string', array: true, default: [], describe: "Let a config load model/data modules from this folder (besides the config's own folder tree; repeatable)" })
    .option('debug', { type: 'boolean', default: false, describe: 'Show stack traces on errors' })
    .option('quiet', { type: 'boolean', default: false, describe: 'Print nothing but errors (commands whose output is what was asked for, as runs, print-config, schema and sample, still print it)' })
    .command(defaultTrainCommand)
    .command(trainCommand)
    .command(validateCommand)
    .command(printConfigCommand)
    .command(schemaCommand)
    .command(exportCommand)
    .command(regressCommand)
    .command(sweepCommand)
    .command(evolveCommand)
    .command(workerCommand)
    .command(reportCommand)
    .command(runsCommand)
    .command(sampleCommand)
    .command(programCommand)
    .middleware((args) => refuseIneffectiveSet(String(args._[0] ?? ''), args.set as string[]))
    // A bad LION_TRAIN_FUSED is refused before any command writes anything (it would fail the first step).
    .middleware(() => void fusedKindsFromEnvironment())
    .demandCommand(1, 'Give a config file (lion-train configs/vit.yaml) or a command; see --help')
    .strict()
    .version(packageVersion())
    .alias('h', 'help')
    .alias('v', 'version')
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((message, error) => {
      // Throwing stops yargs before any handler runs. yargs rethrows an option's coerce error as its own
      // YError (the type lost): every YError is a usage error.
      if (error?.name === 'YError') throw new UsageError(error.message);
      throw error ?? new UsageError(message);
    })
    .exitProcess(false);

  try {
    refuseMistypedCommand(argv);
    await parser.parseAsync();
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    return report(error, debug);
  }
}

class UsageError extends Error {}

const COMMANDS = [trainCommand, validateCommand, printConfigCommand, schemaCommand, exportCommand, regressCommand, sweepCommand, evolveCommand, workerCommand, reportCommand, runsCommand, sampleCommand, programCommand].map((c) => String(c.command).split(' ')[0]);
/** Commands that read a config, and so the only ones `--set` can change. */
const SET_COMMANDS = ['train', 'validate', 'print-config', 'sweep', 'evolve', 'program'];

/**
 * `lion-train trian`: the first word is neither a command nor a file, and it is a command's near miss.
 * (A word that is not close to any command goes on as a config path, and is reported as a missing file.)
 */
function refuseMistypedCommand(argv: string[]): void {
  const word = argv.find((arg, i) => !arg.startsWith('-') && argv[i - 1] !== '--set');
  if (word === undefined || COMMANDS.includes(word) || /[./\\]/.test(word) || existsSync(word)) return;
  const suggestion = closest(word, COMMANDS);
  if (suggestion) throw new UsageError(`unknown command ${word} (did you mean ${suggestion}?)`);
}

/** `--set` given to a command that reads no config would be silently ignored: refused instead. */
function refuseIneffectiveSet(command: string, set: string[]): void {
  // The default command ($0 <config>) is train: its first word is the config file.
  if (set.length === 0 || !COMMANDS.includes(command) || SET_COMMANDS.includes(command)) return;
  throw new UsageError(`--set changes a config, and ${command} reads none (--set applies to ${SET_COMMANDS.join(', ')})`);
}

function report(error: unknown, debug: boolean): number {
  if (error instanceof UsageError) {
    err(`lion-train: ${error.message} (see lion-train --help)`);
    return EXIT.usage;
  }
  if (error instanceof ConfigError) {
    for (const problem of error.problems) err(formatProblem(problem));
    return EXIT.usage;
  }
  if (error instanceof UserError) {
    err(`lion-train: ${error.message}`);
    if (debug && error.stack) err(error.stack);
    return error.exitCode;
  }
  if (isAllocationFailure(error)) {
    err(`lion-train: ${allocationFailure(error).message}`);
    if (debug && error instanceof Error && error.stack) err(error.stack);
    return EXIT.failed;
  }
  const message = error instanceof Error ? error.message : String(error);
  err(`lion-train: ${message.split('\n')[0]}${debug ? '' : ' (run with --debug for details)'}`);
  if (debug && error instanceof Error && error.stack) err(error.stack);
  return EXIT.failed;
}
