/**
 * `lion-train program check|simplify|hash <config-or-file>`: the optimizer-program tools. The input
 * is a YAML config with `optimizer.name: program` (its `program` or `programFile`, `--set`
 * applied) or a program file itself. Problems are printed one per line, located, with exit 2.
 */
import { extname } from 'node:path';
import type { CommandModule } from 'yargs';
import { ConfigError, loadConfig, optimizerOptions } from '../../config/index.js';
import { displayPath } from '../../config/extends.js';
import { fileLocator, programProblems, readProgramFile } from '../../config/program-source.js';
import { EXIT, UserError } from '../../errors.js';
import { checkProgram, liveness, parseProgram, printProgram, programHash, simplifyProgram } from '../../program/index.js';
import { out } from '../output.js';
import type { GlobalArgs } from '../main.js';

type Action = 'check' | 'simplify' | 'hash';

interface Args extends GlobalArgs {
  action: Action;
  input: string;
  canonical: boolean;
}

/** The program text of `input`, checked: a `ConfigError` with every problem, located, if it has any. */
function programText(input: string, set: string[]): { text: string; shown: string } {
  if (['.yaml', '.yml'].includes(extname(input).toLowerCase())) {
    const loaded = loadConfig(input, { set });
    const resolved = optimizerOptions(loaded.config.optimizer);
    if (resolved.name !== 'program') {
      throw new UserError(`${loaded.file}: optimizer.name is ${resolved.name}; lion-train program needs name: program (or a program file)`);
    }
    return { text: resolved.options.program, shown: loaded.file };
  }
  const text = readProgramFile(input);
  if (typeof text !== 'string') throw new UserError(text.message);
  const problems = programProblems(text, fileLocator(input)).map((p) => ({ ...p, path: '' }));
  if (problems.length > 0) throw new ConfigError(problems);
  return { text, shown: displayPath(input) };
}

export const programCommand: CommandModule<GlobalArgs, Args> = {
  command: 'program <action> <input>',
  describe: 'Optimizer programs: check one, print it simplified (dead statements removed, constants folded), or print its hash',
  builder: (y) =>
    y
      .positional('action', { choices: ['check', 'simplify', 'hash'] as const, demandOption: true, describe: 'What to do' })
      .positional('input', { type: 'string', demandOption: true, describe: 'A config with optimizer.name: program, or a program file' })
      .option('canonical', { type: 'boolean', default: false, describe: 'simplify: rename locals t1, t2, … in order of assignment' })
      .example('$0 program check programs/paper-raw.opt', '')
      .example('$0 program simplify configs/vit-program.yaml', '') as never,
  handler: (args) => {
    const { text, shown } = programText(args.input, args.set);
    const program = parseProgram(text);
    switch (args.action) {
      case 'check': {
        const { types } = checkProgram(program);
        const { live, state } = liveness(program);
        const dead = program.statements.filter((_, i) => !live[i]).length;
        out(`${shown}: ok (${program.statements.length} statements, ${dead} dead; state: ${state.length === 0 ? 'none' : state.join(', ')}; update is a ${types[program.statements.map((s) => s.target).lastIndexOf('update')]})`);
        break;
      }
      case 'simplify':
        process.stdout.write(printProgram(simplifyProgram(program), { canonicalNames: args.canonical }));
        break;
      case 'hash':
        out(programHash(program));
        break;
    }
    process.exitCode = EXIT.ok;
  },
};
