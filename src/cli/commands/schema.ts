import type { CommandModule } from 'yargs';
import { runSchema } from '../../config/index.js';
import type { GlobalArgs } from '../main.js';

export const schemaCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'schema',
  describe: 'Print the JSON Schema (draft 2020-12) that run configs are validated against',
  handler: () => {
    process.stdout.write(`${JSON.stringify(runSchema(), null, 2)}\n`);
  },
};
