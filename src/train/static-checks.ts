/** Problems a config has with its model and data families, found without loading data or building tensors. */
import type { LoadedConfig } from '../config/index.js';
import { whereOf, type ConfigProblem } from '../config/problems.js';
import { dataFamily } from '../data/registry.js';
import { modelFamily } from '../models/registry.js';
import { ineffectiveSettings } from './ineffective-settings.js';
import { configMetricProblems, runMetrics } from './run-metrics.js';

/**
 * Every problem found from the config alone: the families' own checks, metric names the run would
 * never measure (run-metrics.ts) and written settings it would ignore (ineffective-settings.ts).
 */
export async function staticProblems(loaded: LoadedConfig): Promise<ConfigProblem[]> {
  const { config, origins, file } = loaded;
  const data = dataFamily(config.data.name);
  const model = modelFamily(config.model.name);
  const issues = [...data.check(config.data as never), ...model.check(config.model as never, data.describe(config.data as never))];
  const located = issues.map((issue) => ({ where: whereOf(issue.path.split('.'), origins, file), path: issue.path, message: issue.message }));
  const metrics = runMetrics(config);
  return [...located, ...configMetricProblems(loaded), ...ineffectiveSettings(loaded, metrics)];
}
