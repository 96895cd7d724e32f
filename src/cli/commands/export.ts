import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { writeFileAtomic } from '../../atomic-write.js';
import { EXIT, UserError } from '../../errors.js';
import { encodeSafetensors } from '../../safetensors.js';
import { runPaths } from '../../train/run-dir.js';
import type { GlobalArgs } from '../main.js';
import { err, out } from '../output.js';

interface Args extends GlobalArgs {
  runDir: string;
  step?: number;
  out: string;
}

export const exportCommand: CommandModule<GlobalArgs, Args> = {
  command: 'export <run-dir>',
  describe: "Write a checkpoint's parameters alone to a safetensors file, named as the model names them",
  builder: (y) =>
    y
      .positional('run-dir', { type: 'string', demandOption: true, describe: 'Run directory' })
      .option('step', { type: 'number', describe: 'Checkpoint step (default: the newest valid checkpoint)' })
      .option('out', { type: 'string', demandOption: true, describe: 'Output .safetensors file' }) as never,
  handler: async (args) => {
    const { checkpointName, listCheckpoints, readCheckpoint } = await import('../../train/checkpoint.js');
    const { firstNonFinite } = await import('../../train/checkpoint-state.js');
    const { checkpoints } = runPaths(resolve(args.runDir));
    if (!existsSync(checkpoints)) throw new UserError(`${args.runDir} is not a run directory (no checkpoints/ folder)`, EXIT.usage);
    const available = listCheckpoints(checkpoints);
    const wanted = args.step === undefined ? available : [checkpointName(args.step)];
    if (args.step !== undefined && !available.includes(wanted[0])) {
      throw new UserError(`no checkpoint for step ${args.step} in ${args.runDir}; available: ${available.join(', ') || 'none'}`, EXIT.usage);
    }
    let lastError = 'no checkpoints';
    for (const name of wanted) {
      try {
        const checkpoint = readCheckpoint(join(checkpoints, name));
        // Never export a diverged state: a NaN or Inf weight is refused, naming the tensor.
        const nonFinite = firstNonFinite(checkpoint.model);
        if (nonFinite) throw new Error(`parameter ${nonFinite} is not finite (NaN or Inf); the run diverged before this checkpoint`);
        writeFileAtomic(resolve(args.out), encodeSafetensors(checkpoint.model, { format: 'pt', producer: 'lion-train', step: String(checkpoint.state.step) }));
        out(`${args.out}: ${checkpoint.model.length} tensors from ${name}`);
        return;
      } catch (error) {
        lastError = `${name}: ${(error as Error).message}`;
        if (name !== wanted[wanted.length - 1]) err(`checkpoint ${name} is unusable (${(error as Error).message}); trying the one before it`);
      }
    }
    throw new UserError(`no usable checkpoint in ${args.runDir} (${lastError})`, EXIT.failed);
  },
};
