/**
 * What a lion-train run of an image config draws, written out so that bench/torch_vit.py can train on exactly
 * the same draws (`--replay DIR`): is a difference in accuracy the arithmetic, or the random numbers?
 *
 *   node --import tsx bench/draws.ts configs/vit.yaml --seed 2 --out /tmp/draws-2
 *
 * Writes into DIR:
 *   run.json      the config file, seed, steps, batch size and cropPadding the draws are of
 *   params.json   the initial parameters, { name: { shape, values } } (lion-train's names and layouts: a dense
 *                 kernel is [in, out])
 *   indices.i32   each step's example indices into the training split, int32 [steps, batchSize]
 *   shifts.i8     each image's shift (dy, dx): int8 [steps, batchSize, 2], image[r, c] = source[r + dy, c + dx]
 * The draws are the run's own: the plan's model (buildPlan), the run's sampler (EpochSampler) and each step's
 * augmentation stream (augmentStream), its integer draws recorded as the augmentation makes them (per image a
 * row shift, then a column shift: src/data/augment.ts).
 * Exits 2 with one line when the config is bad or its data is not images shifted by cropPadding without flips.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/index.js';
import { ConfigError } from '../src/config/problems.js';
import { UserError } from '../src/errors.js';
import { EpochSampler } from '../src/data/sampler.js';
import { augmentStream } from '../src/train/batch-stream.js';
import { buildPlan } from '../src/train/plan.js';
import type { Rng } from '../src/random.js';

/**
 * `--name value` as `--name=value`, so that a value starting with one dash (`--seed -1`) reaches the option's own
 * check instead of parseArgs's "ambiguous"; `--out --seed 3` stays a missing value.
 */
function joinValues(argv: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [arg, next] = [argv[i], argv[i + 1]];
    const takesNext = arg.startsWith('--') && !arg.includes('=') && next !== undefined && !next.startsWith('--');
    joined.push(takesNext ? `${arg}=${next}` : arg);
    if (takesNext) i++;
  }
  return joined;
}

const USAGE = 'usage: node --import tsx bench/draws.ts CONFIG.yaml [--seed S] --out DIR';

/**
 * The config file and the options (node:util's parseArgs, strict: an unknown option is refused, not ignored).
 * @throws never: a bad command line ends the process with one line and exit 2.
 */
function commandLine(): { file: string; seed?: string; out: string } {
  let parsed;
  try {
    parsed = parseArgs({ args: joinValues(process.argv.slice(2)), options: { seed: { type: 'string' }, out: { type: 'string' } }, allowPositionals: true });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const option = /'(--[\w-]+)/.exec((error as Error).message)?.[1];
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') fail(`${option}: expected a value after it`);
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') fail(`unknown option ${option} (${USAGE})`);
    throw error;
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1 || values.out === undefined) fail(USAGE);
  if (values.seed === '' || values.out === '') fail(`--${values.seed === '' ? 'seed' : 'out'}: expected a value after it`);
  return { file: positionals[0], seed: values.seed, out: values.out };
}

function fail(message: string): never {
  console.error(`bench/draws.ts: ${message}`);
  process.exit(2);
}

/** Writes the draws of the run `argv` names. @throws ConfigError or UserError on a bad config or option. */
async function main(): Promise<void> {
  const { file, seed: seedOption, out } = commandLine();
  const { config } = loadConfig(file);
  if (seedOption !== undefined && !/^\d+$/.test(seedOption)) fail(`--seed: expected a non-negative integer, got '${seedOption}'`);
  const seed = seedOption === undefined ? config.train.seed : Number(seedOption);
  const augment = 'augment' in config.data ? (config.data.augment as { cropPadding: number; flipHorizontal: boolean }) : undefined;
  if (!augment || augment.cropPadding <= 0 || augment.flipHorizontal) fail(`${file}: data.augment must shift (cropPadding) without flips for the replay`);

  const plan = await buildPlan({ ...config, train: { ...config.train, seed, backend: 'cpu' } });
  const { dataset, model, totalSteps } = plan;
  const batchSize = config.train.batchSize;

  const params: Record<string, { shape: number[]; values: number[] }> = {};
  for (const [name, variable] of model.params) params[name] = { shape: variable.shape, values: Array.from(variable.dataSync()) };

  const sampler = new EpochSampler(dataset.train.size, batchSize, seed);
  const indices = new Int32Array(totalSteps * batchSize);
  const shifts = new Int8Array(totalSteps * batchSize * 2);
  const pad = augment.cropPadding;
  for (let step = 0; step < totalSteps; step++) {
    const picked = sampler.next();
    indices.set(picked, step * batchSize);
    const stream = augmentStream(seed, step);
    const draws: number[] = [];
    const recording = {
      int: (n: number) => {
        const draw = stream.int(n);
        draws.push(draw);
        return draw;
      },
      next: () => stream.next(),
    } as unknown as Rng;
    dataset.augment?.(dataset.train.gather(picked), recording);
    if (pad > 0 && draws.length !== 2 * batchSize) fail(`expected 2 draws per image, got ${draws.length} for ${batchSize} images`);
    draws.forEach((d, i) => (shifts[step * batchSize * 2 + i] = d - pad));
  }
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'run.json'), JSON.stringify({ config: file, seed, steps: totalSteps, batchSize, cropPadding: pad }));
  writeFileSync(join(out, 'params.json'), JSON.stringify(params));
  writeFileSync(join(out, 'indices.i32'), Buffer.from(indices.buffer));
  writeFileSync(join(out, 'shifts.i8'), Buffer.from(shifts.buffer));
  console.log(`${out}: ${model.params.size} parameters, ${totalSteps} steps of ${batchSize} (seed ${seed})`);
}

try {
  await main();
} catch (error) {
  // A bad config (its problems, one per line, each with file, line and column) or option: no stack trace.
  if (error instanceof ConfigError || error instanceof UserError) fail(error.message);
  throw error;
}
