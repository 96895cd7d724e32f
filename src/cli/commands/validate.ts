import type { CommandModule } from 'yargs';
import { ConfigError, formatProblem, loadConfig } from '../../config/index.js';
import { displayPath } from '../../config/extends.js';
import { modulesOf } from '../../config/modules.js';
import { EXIT } from '../../errors.js';
import { err, out } from '../output.js';
import type { GlobalArgs } from '../main.js';

interface Args extends GlobalArgs {
  configs: string[];
}

export const validateCommand: CommandModule<GlobalArgs, Args> = {
  command: 'validate <configs..>',
  describe: 'Check config files against the schema; list the modules each would load; print ok for each valid one, every problem otherwise',
  builder: (y) => y.positional('configs', { type: 'string', array: true, demandOption: true, describe: 'YAML config files' }) as never,
  handler: async (args) => {
    const { staticReport } = await import('../../train/static-checks.js');
    let failed = false;
    for (const file of args.configs) {
      try {
        const loaded = loadConfig(file, { set: args.set, allowModule: args['allow-module'] });
        // A module runs code when loaded: say which ones before loading them.
        for (const { section, path } of modulesOf(loaded.config as unknown as Record<string, unknown>)) out(`${loaded.file}: loads ${section} module ${displayPath(path)}`);
        const { problems, notes } = await staticReport(loaded);
        if (problems.length > 0) throw new ConfigError(problems);
        if (args.quiet) continue;
        out(`${loaded.file}: ok`);
        for (const note of notes) err(`${loaded.file}: ${note}`);
        for (const hint of loaded.hints) err(`${loaded.file}: ${hint}`);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        failed = true;
        for (const problem of error.problems) err(formatProblem(problem));
      }
    }
    process.exitCode = failed ? EXIT.usage : EXIT.ok;
  },
};
