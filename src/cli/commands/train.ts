import type { CommandModule } from 'yargs';
import { ConfigError, loadConfig } from '../../config/index.js';
import { EXIT } from '../../errors.js';
import { staticProblems } from '../../train/static-checks.js';
import type { GlobalArgs } from '../main.js';
import { err, out } from '../output.js';

interface Args extends GlobalArgs {
  config: string;
  overwrite: boolean;
}

const builder = (y: import('yargs').Argv<GlobalArgs>) =>
  y
    .positional('config', { type: 'string', demandOption: true, describe: 'YAML config file' })
    .option('overwrite', { type: 'boolean', default: false, describe: 'Replace an existing run directory' }) as never;

async function handler(args: Args): Promise<void> {
  const loaded = loadConfig(args.config, { set: args.set });
  const problems = await staticProblems(loaded);
  if (problems.length > 0) throw new ConfigError(problems);
  for (const hint of loaded.hints) err(hint);
  const { config } = loaded;
  out(`${loaded.file}: ${config.model.name} on ${config.data.name}, ${config.optimizer.name}, ${config.schedule.name} schedule`);
  err('lion-train: the training loop is not built yet; the config is valid');
  process.exitCode = EXIT.failed;
}

export const trainCommand: CommandModule<GlobalArgs, Args> = {
  command: 'train <config>',
  describe: 'Train the run a config declares',
  builder,
  handler,
};

export const defaultTrainCommand: CommandModule<GlobalArgs, Args> = {
  command: '$0 <config>',
  describe: 'Same as train <config>',
  builder,
  handler,
};
