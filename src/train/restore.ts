/**
 * A finished (or interrupted) run's model, ready for inference: the model rebuilt from the run's config.yaml,
 * its parameters from a checkpoint (the newest valid one, or a chosen step), and for language models the
 * vocabulary the run stored. For `sample`, `export` and anything else that uses a trained model.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initBackend, type BackendChoice, type BackendRequest } from '../backend.js';
import { loadConfig } from '../config/index.js';
import type { RunConfig } from '../config/types.generated.js';
import { dataFamily } from '../data/registry.js';
import { VOCABULARY_FILE, Vocabulary } from '../data/text.js';
import { EXIT, UserError } from '../errors.js';
import type { InputSpec, Model } from '../models/model.js';
import { modelFamily } from '../models/registry.js';
import { newestValidCheckpoint, readCheckpoint, restoreModel, type LoadedCheckpoint } from './checkpoint.js';
import { checkpointsFor, type CheckpointRef } from './checkpoint-ref.js';
import { runPaths } from './run-dir.js';

export interface RestoredRun {
  dir: string;
  config: RunConfig;
  model: Model;
  /** The checkpoint the parameters came from, e.g. `step-000500`, and its step. */
  checkpoint: { name: string; step: number };
  spec: InputSpec;
  /** For language models: the character vocabulary stored in the run directory. */
  vocabulary?: Vocabulary;
  backend: BackendChoice;
}

export interface RestoreOptions {
  /** A checkpoint's step, `latest` or `best`; the newest valid checkpoint when absent. */
  step?: CheckpointRef;
  /** Refuse a run of another model family (e.g. `sample` needs 'gpt'), before loading anything. */
  family?: RunConfig['model']['name'];
  /** Backend to run on; the run's train.backend when absent. */
  backend?: BackendRequest;
  /** Where notes go (a skipped corrupt checkpoint, say). */
  log?: (line: string) => void;
}

/** The resolved config a run was started with (its config.yaml). */
export function readRunConfig(dir: string): RunConfig {
  const paths = runPaths(resolve(dir));
  if (!existsSync(paths.config)) throw new UserError(`${dir} is not a run directory (it has no config.yaml)`, EXIT.usage);
  return loadConfig(paths.config).config;
}

function chooseCheckpoint(dir: string, step: CheckpointRef | undefined, log: (line: string) => void): LoadedCheckpoint {
  const checkpoints = runPaths(dir).checkpoints;
  if (step === undefined || step === 'latest') {
    const newest = newestValidCheckpoint(checkpoints, log);
    if (!newest) throw new UserError(`${dir} has no usable checkpoint (train it with checkpoint.atEnd: true, or let it reach checkpoint.everySteps)`, EXIT.usage);
    return newest;
  }
  const [name] = checkpointsFor(checkpoints, dir, step);
  try {
    return readCheckpoint(join(checkpoints, name));
  } catch (error) {
    throw new UserError(`checkpoint ${name} of ${dir} is unusable: ${(error as Error).message}`, EXIT.failed);
  }
}

/**
 * The input the model was built for: from the stored vocabulary for language models (the data file may have
 * changed since), otherwise from the dataset itself.
 */
async function inputSpecOf(dir: string, config: RunConfig): Promise<{ spec: InputSpec; vocabulary?: Vocabulary }> {
  if (config.model.name === 'gpt') {
    const file = join(dir, VOCABULARY_FILE);
    if (!existsSync(file)) throw new UserError(`${dir} has no ${VOCABULARY_FILE}: it is not the run directory of a language model`, EXIT.usage);
    const vocabulary = Vocabulary.fromJson(readFileSync(file, 'utf8'), file);
    return { spec: { kind: 'tokens', shape: [config.model.contextLength], classes: vocabulary.size }, vocabulary };
  }
  const dataset = await dataFamily(config.data.name).load(config.data as never, { seed: config.train.seed });
  return { spec: dataset.spec };
}

export async function restoreRun(runDir: string, options: RestoreOptions = {}): Promise<RestoredRun> {
  const dir = resolve(runDir);
  const log = options.log ?? (() => {});
  const config = readRunConfig(dir);
  if (options.family && config.model.name !== options.family) {
    throw new UserError(`${runDir} is a ${config.model.name} run (on ${config.data.name} data); this needs a ${options.family} run`, EXIT.usage);
  }
  const checkpoint = chooseCheckpoint(dir, options.step, log);
  const backend = await initBackend(options.backend ?? config.train.backend);
  const { spec, vocabulary } = await inputSpecOf(dir, config);
  const model = modelFamily(config.model.name).build(config.model as never, spec, 0);
  try {
    restoreModel(model, checkpoint.model);
  } catch (error) {
    model.dispose();
    throw new UserError(`checkpoint ${checkpoint.name} of ${runDir} does not fit the model in its config.yaml: ${(error as Error).message}`, EXIT.failed);
  }
  return { dir, config, model, checkpoint: { name: checkpoint.name, step: checkpoint.state.step }, spec, vocabulary, backend };
}
