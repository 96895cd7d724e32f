/**
 * Proxy evaluation: trains a resolved config in this process, without a run directory, and returns the
 * metrics a search ranks candidates by. It is the evaluator behind `evolve` (and, later, queue workers):
 * one long-lived trainer per thread keeps its datasets loaded, so a candidate costs its training steps
 * and one evaluation, not a process start and a dataset load.
 *
 * The steps are the runner's own (`trainStep`, the seeded sampler and augmentation), so a candidate
 * trained here reaches the metrics `lion-train train` would reach with the same config.
 */
import type { RunConfig } from '../config/types.generated.js';
import type { Dataset } from '../data/dataset.js';
import { dataFamilyFor } from '../data/registry.js';
import { loadDataset } from '../train/components.js';
import { EpochSampler } from '../data/sampler.js';
import { Rng } from '../random.js';
import { evaluate } from '../train/evaluate.js';
import { buildPlan, disposePlan, type Plan } from '../train/plan.js';
import { readStepResultAsync, trainStepTensors } from '../train/step.js';

export type ProxyStatus = 'completed' | 'diverged' | 'failed' | 'timed-out';

export interface ProxyOutcome {
  status: ProxyStatus;
  /** `validation.loss`, `validation.accuracy`, …, `train.loss` (mean of the last 10 steps); empty unless completed. */
  metrics: Record<string, number>;
  /** Steps taken. */
  steps: number;
  /** Milliseconds from start to result, dataset loading excluded when it was cached. */
  wallMs: number;
  /** Why the candidate did not complete: `loss is NaN at step 12`, an error's first line, the time limit. */
  reason?: string;
}

export interface ProxyOptions {
  /** Stop a candidate after this long (status `timed-out`); null: no limit. */
  timeLimitMs?: number | null;
}

/** Trains configs one after another, keeping every dataset it loaded for the next one. */
export class ProxyTrainer {
  private readonly datasets = new Map<string, Promise<Dataset>>();

  /** Datasets loaded so far (a data config and seed each). */
  get loadedDatasets(): number {
    return this.datasets.size;
  }

  /**
   * Trains `config` for its `train.steps`/`epochs` and evaluates the validation split (all of it).
   * Never throws for a candidate's failure: a non-finite loss is `diverged`, an error `failed`.
   * @throws Error only when the dataset itself cannot be loaded (the search cannot go on without it).
   */
  async evaluate(config: RunConfig, options: ProxyOptions = {}): Promise<ProxyOutcome> {
    const dataset = await this.dataset(config);
    const start = performance.now();
    const elapsed = () => performance.now() - start;
    let plan: Plan | undefined;
    let steps = 0;
    try {
      plan = await buildPlan(config, () => {}, dataset);
      const { train } = config;
      const settings = {
        model: plan.model,
        optimizer: plan.optimizer,
        accumulationSteps: train.accumulationSteps,
        gradClipNorm: train.gradClipNorm,
        labelSmoothing: train.labelSmoothing,
        seed: train.seed,
      };
      const sampler = new EpochSampler(dataset.train.size, train.batchSize, train.seed);
      const recent: number[] = [];
      for (; steps < plan.totalSteps; steps++) {
        // Yield to the event loop between steps: a queue worker renews its job's lock from there.
        if (steps % 8 === 0) await new Promise((resolve) => setImmediate(resolve));
        const batch = dataset.train.gather(sampler.next());
        dataset.augment?.(batch, Rng.derive(train.seed, 'augment', steps));
        const { loss } = await readStepResultAsync(trainStepTensors(settings, batch, steps, false));
        if (!Number.isFinite(loss)) return { status: 'diverged', metrics: {}, steps: steps + 1, wallMs: elapsed(), reason: `loss is ${loss} at step ${steps + 1}` };
        recent.push(loss);
        if (recent.length > 10) recent.shift();
        if (options.timeLimitMs != null && elapsed() > options.timeLimitMs) {
          return { status: 'timed-out', metrics: {}, steps: steps + 1, wallMs: elapsed(), reason: `over the time limit of ${(options.timeLimitMs / 1000).toFixed(1)} s at step ${steps + 1}` };
        }
      }
      const split = dataset.validation ?? dataset.test;
      const splitName = dataset.validation ? 'validation' : 'test';
      const metrics: Record<string, number> = { 'train.loss': recent.reduce((a, b) => a + b, 0) / Math.max(1, recent.length) };
      if (split) {
        const result = (await evaluate(plan.model, split, plan.task, train.evalBatchSize, train.evalExamples))!;
        for (const [name, value] of Object.entries(result)) if (name !== 'examples') metrics[`${splitName}.${name}`] = value;
        if (!Number.isFinite(result.loss)) return { status: 'diverged', metrics: {}, steps, wallMs: elapsed(), reason: `${splitName} loss is ${result.loss}` };
      }
      return { status: 'completed', metrics, steps, wallMs: elapsed() };
    } catch (error) {
      return { status: 'failed', metrics: {}, steps, wallMs: elapsed(), reason: firstLine(error) };
    } finally {
      if (plan) disposePlan(plan);
    }
  }

  private dataset(config: RunConfig): Promise<Dataset> {
    const contextLength = !('module' in config.model) && config.model.name === 'gpt' ? config.model.contextLength : undefined;
    const key = JSON.stringify([config.data, config.train.seed, contextLength]);
    let loading = this.datasets.get(key);
    if (!loading) {
      loading = dataFamilyFor(config.data).then((family) => loadDataset(family, config.data, { seed: config.train.seed, contextLength }));
      this.datasets.set(key, loading);
      loading.catch(() => this.datasets.delete(key));
    }
    return loading;
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0];
}
