import type { CommandModule } from 'yargs';
import { ConfigError, formatProblem, loadConfig } from '../../config/index.js';
import { EXIT } from '../../errors.js';
import { err, out } from '../output.js';
import type { GlobalArgs } from '../main.js';

interface Args extends GlobalArgs {
  configs: string[];
}

export const validateCommand: CommandModule<GlobalArgs, Args> = {
  command: 'validate <configs..>',
  describe: 'Check config files against the schema; print ok for each valid one, every problem otherwise',
  builder: (y) => y.positional('configs', { type: 'string', array: true, demandOption: true, describe: 'YAML config files' }) as never,
  handler: async (args) => {
    const { staticProblems } = await import('../../train/static-checks.js');
    let failed = false;
    for (const file of args.configs) {
      try {
        const loaded = loadConfig(file, { set: args.set });
        const problems = await staticProblems(loaded);
        if (problems.length > 0) throw new ConfigError(problems);
        if (args.quiet) continue;
        out(`${loaded.file}: ok`);
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
