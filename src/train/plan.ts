/**
 * RunConfig → Plan: the backend chosen, data loaded, model built, schedule and optimizer made,
 * durations turned into a step count. Nothing here trains; train/loop.ts runs the plan.
 */
import { optimizerOptions, type ResolvedOptimizer } from '../config/optimizer-options.js';
import type { RunConfig } from '../config/types.generated.js';
import { describeBackend, initBackend, type BackendChoice } from '../backend.js';
import type { Dataset } from '../data/dataset.js';
import { dataFamilyFor } from '../data/registry.js';
import type { Model } from '../models/model.js';
import { modelFamilyFor } from '../models/registry.js';
import { buildModel, loadDataset } from './components.js';
import { createOptimizer, type RunOptimizer } from '../optim/factory.js';
import { multiplierSchedule, scheduleSpec, type Schedule } from '../optim/schedules.js';
import { Rng } from '../random.js';
import { UserError, EXIT } from '../errors.js';
import { checkMemory } from './memory.js';
import { taskOf, type TaskKind } from './task.js';

export interface Plan {
  config: RunConfig;
  backend: BackendChoice;
  dataset: Dataset;
  model: Model;
  optimizer: RunOptimizer;
  resolvedOptimizer: ResolvedOptimizer;
  /** Learning-rate multiplier by step; the optimizer applies peak · multiplier. */
  multiplier: Schedule;
  totalSteps: number;
  stepsPerEpoch: number;
  task: TaskKind;
  /** Analytic FLOPs of one step, or null when the model does not know its FLOPs (a module may not). */
  flopsPerStep: number | null;
  /** How logs and the summary name the model and the data: a built-in's name, or a module family's. */
  labels: { model: string; data: string };
}

/** Steps for train.steps and/or train.epochs: whichever ends first. */
export function totalStepsFor(train: RunConfig['train'], stepsPerEpoch: number): number {
  const fromEpochs = train.epochs === null ? Infinity : Math.max(1, Math.ceil(train.epochs * stepsPerEpoch));
  return Math.min(train.steps ?? Infinity, fromEpochs);
}

/**
 * Builds the plan of `config`. `loaded`: a dataset already loaded for this data config and seed (the
 * proxy evaluator keeps them between candidates); otherwise the data family loads it.
 * @throws UserError (exit 2) when the batch is larger than the training split.
 */
export async function buildPlan(config: RunConfig, log: (line: string) => void = () => {}, loaded?: Dataset): Promise<Plan> {
  const backend = await initBackend(config.train.backend);
  log(`backend: ${describeBackend(backend)}`);

  const contextLength = !('module' in config.model) && config.model.name === 'gpt' ? config.model.contextLength : undefined;
  const dataFamily = await dataFamilyFor(config.data);
  const modelFamily = await modelFamilyFor(config.model);
  const dataset = loaded ?? (await loadDataset(dataFamily, config.data, { seed: config.train.seed, contextLength }));
  const { batchSize } = config.train;
  if (batchSize > dataset.train.size) {
    throw new UserError(`train.batchSize ${batchSize} is larger than the training split (${dataset.train.size} examples)`, EXIT.usage);
  }
  const stepsPerEpoch = Math.floor(dataset.train.size / batchSize);
  const totalSteps = totalStepsFor(config.train, stepsPerEpoch);

  // Refuse a run that cannot fit before any parameter is allocated.
  const modelMemory = modelFamily.memory?.(config.model as never, dataset.spec);
  const evaluated = Math.max(dataset.validation?.size ?? 0, dataset.test?.size ?? 0);
  if (modelMemory) checkMemory(config, modelMemory, backend.name, undefined, backend.bufferLimits, Math.min(config.train.evalBatchSize, evaluated));
  const model = await buildModel(modelFamily, config.model, dataset.spec, Rng.derive(config.train.seed, 'init').nextUint32());
  const multiplier = multiplierSchedule(scheduleSpec(config.schedule, totalSteps), totalSteps);
  const resolvedOptimizer = optimizerOptions(config.optimizer);
  const optimizer = createOptimizer({ resolved: resolvedOptimizer, multiplier, weightDecayExclude: config.optimizer.weightDecayExclude });
  return {
    config,
    backend,
    dataset,
    model,
    optimizer,
    resolvedOptimizer,
    multiplier,
    totalSteps,
    stepsPerEpoch,
    task: taskOf(dataset.spec),
    flopsPerStep: model.flopsPerExample === null ? null : model.flopsPerExample * batchSize,
    labels: { model: modelFamily.name, data: dataFamily.name },
  };
}

export function disposePlan(plan: Plan): void {
  plan.optimizer.dispose();
  plan.model.dispose();
}
