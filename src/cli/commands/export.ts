import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { writeFileAtomic } from '../../atomic-write.js';
import { EXIT, UserError } from '../../errors.js';
import { LAYOUTS, toLayout, type Layout } from '../../export-layout.js';
import { encodeSafetensors } from '../../safetensors.js';
import { checkpointsFor, parseCheckpointRef, type CheckpointRef } from '../../train/checkpoint-ref.js';
import { runPaths } from '../../train/run-dir.js';
import type { GlobalArgs } from '../main.js';
import { err, out } from '../output.js';

interface Args extends GlobalArgs {
  runDir: string;
  step?: CheckpointRef;
  out: string;
  layout: Layout;
}

export const exportCommand: CommandModule<GlobalArgs, Args> = {
  command: 'export <run-dir>',
  describe: "Write a checkpoint's parameters alone to a safetensors file, named as the model names them",
  builder: (y) =>
    y
      .positional('run-dir', { type: 'string', demandOption: true, describe: 'Run directory' })
      .option('step', { type: 'string', coerce: parseCheckpointRef, describe: 'Checkpoint: a step number, latest (default: the newest that reads back) or best' })
      .option('layout', { choices: LAYOUTS, default: 'tfjs' as Layout, describe: 'Kernel layout: tfjs ([in, out], [k, k, in, out]) or torch ([out, in], [out, in, k, k], as nn.Linear and nn.Conv2d)' })
      .option('out', { type: 'string', demandOption: true, describe: 'Output .safetensors file' }) as never,
  handler: async (args) => {
    const { readCheckpoint } = await import('../../train/checkpoint.js');
    const { firstNonFinite } = await import('../../train/checkpoint-state.js');
    const { checkpoints } = runPaths(resolve(args.runDir));
    if (!existsSync(checkpoints)) throw new UserError(`${args.runDir} is not a run directory (no checkpoints/ folder)`, EXIT.usage);
    const wanted = checkpointsFor(checkpoints, args.runDir, args.step);
    let lastError = 'no checkpoints';
    for (const name of wanted) {
      try {
        const checkpoint = readCheckpoint(join(checkpoints, name));
        // Never export a diverged state: a NaN or Inf weight is refused, naming the tensor.
        const nonFinite = firstNonFinite(checkpoint.model);
        if (nonFinite) throw new Error(`parameter ${nonFinite} is not finite (NaN or Inf); the run diverged before this checkpoint`);
        const metadata = { format: 'pt', producer: 'lion-train', step: String(checkpoint.state.step), layout: args.layout };
        writeFileAtomic(resolve(args.out), encodeSafetensors(toLayout(checkpoint.model, args.layout), metadata));
        if (!args.quiet) out(`${args.out}: ${checkpoint.model.length} tensors from ${name} (${args.layout} layout)`);
        return;
      } catch (error) {
        lastError = `${name}: ${(error as Error).message}`;
        if (name !== wanted[wanted.length - 1]) err(`checkpoint ${name} is unusable (${(error as Error).message}); trying the one before it`);
      }
    }
    throw new UserError(`no usable checkpoint in ${args.runDir} (${lastError})`, EXIT.failed);
  },
};
