import type { CommandModule } from 'yargs';
import { configToYaml, loadConfig } from '../../config/index.js';
import type { GlobalArgs } from '../main.js';

interface Args extends GlobalArgs {
  config: string;
  sources: boolean;
}

export const printConfigCommand: CommandModule<GlobalArgs, Args> = {
  command: 'print-config <config>',
  describe: 'Print the fully resolved config (defaults, extends and --set applied) as YAML',
  builder: (y) =>
    y
      .positional('config', { type: 'string', demandOption: true, describe: 'YAML config file' })
      .option('sources', { type: 'boolean', default: false, describe: "Annotate each value with its origin (file:line, --set or default)" }) as never,
  handler: (args) => {
    const loaded = loadConfig(args.config, { set: args.set, allowModule: args['allow-module'] });
    process.stdout.write(configToYaml(loaded.config, args.sources ? loaded.origins : undefined));
  },
};
