/** Problems a config has with its model and data families, found without loading data or building tensors. */
import type { LoadedConfig } from '../config/index.js';
import { moduleOptionProblems } from '../config/module-options.js';
import { modulesOf } from '../config/modules.js';
import { whereOf, type ConfigProblem } from '../config/problems.js';
import { displayPath } from '../config/extends.js';
import { dataFamilyFor } from '../data/registry.js';
import type { SpecIssue } from '../models/model.js';
import { modelFamilyFor } from '../models/registry.js';
import { ComponentError, loadDataComponent, loadModelComponent } from '../module-component.js';

export interface ComponentReport {
  problems: ConfigProblem[];
  /** One line per module without an options schema: its options pass unchecked. */
  notes: string[];
  /** The modules the config loads (absolute paths), by section. */
  modules: { section: 'model' | 'data'; path: string }[];
}
import { ineffectiveSettings } from './ineffective-settings.js';
import { configMetricProblems, runMetrics } from './run-metrics.js';

/**
 * Every problem found from the config alone: the families' own checks, metric names the run would
 * never measure (run-metrics.ts) and written settings it would ignore (ineffective-settings.ts).
 * `resolved`: the config is a run directory's own config.yaml (every default written out, and checked
 * when the run began): only the families' checks apply.
 */
export async function staticProblems(loaded: LoadedConfig, options: { resolved?: boolean } = {}): Promise<ConfigProblem[]> {
  return (await staticReport(loaded, options)).problems;
}

/** staticProblems with the notes and the module list of checkComponents (what `validate` prints). */
export async function staticReport(loaded: LoadedConfig, options: { resolved?: boolean } = {}): Promise<ComponentReport> {
  const report = await checkComponents(loaded);
  if (report.problems.length > 0 || options.resolved) return report;
  const metrics = runMetrics(loaded.config, await dataFamilyFor(loaded.config.data));
  return { ...report, problems: [...configMetricProblems(loaded, metrics), ...ineffectiveSettings(loaded, metrics)] };
}

/**
 * Imports the config's modules (if any), checks their exports and their options (filling the defaults of
 * their schemas in place), then asks the model and data families for problems with this config.
 */
export async function checkComponents(loaded: LoadedConfig): Promise<ComponentReport> {
  const { config, origins, file } = loaded;
  const modules = modulesOf(config as unknown as Record<string, unknown>);
  const problems: ConfigProblem[] = [];
  const notes: string[] = [];
  for (const { section, path } of modules) {
    try {
      const component = section === 'model' ? await loadModelComponent(path) : await loadDataComponent(path);
      const node = config[section] as unknown as Record<string, unknown>;
      if (component.schema) problems.push(...moduleOptionProblems(section, node, component.schema, origins, file));
      else notes.push(`${section}.module ${displayPath(path)} exports no options schema: its options (${Object.keys(node).filter((k) => k !== 'module').join(', ') || 'none'}) are not checked`);
    } catch (error) {
      if (!(error instanceof ComponentError)) throw error;
      problems.push({ where: whereOf([section, 'module'], origins, file), path: `${section}.module`, message: error.message });
    }
  }
  if (problems.length > 0) return { problems, notes, modules };

  const data = await dataFamilyFor(config.data);
  const model = await modelFamilyFor(config.model);
  const dataModule = 'module' in config.data ? config.data.module : undefined;
  const modelModule = 'module' in config.model ? config.model.module : undefined;
  try {
    const input = callFamily('data', dataModule, 'describe', () => data.describe(config.data as never));
    const issues = [
      ...issuesFrom('data', dataModule, () => data.check(config.data as never)),
      ...issuesFrom('model', modelModule, () => model.check(config.model as never, input)),
    ];
    const located = issues.map((issue) => ({ where: whereOf(issue.path.split('.'), origins, file), path: issue.path, message: issue.message }));
    return { problems: located, notes, modules };
  } catch (error) {
    if (!(error instanceof ComponentError)) throw error;
    const { section } = error;
    return { problems: [{ where: whereOf([section, 'module'], origins, file), path: `${section}.module`, message: error.message }], notes, modules };
  }
}

/** Calls a family's method; a module's own failure becomes a ComponentError naming the module and the method. */
export function callFamily<T>(section: 'model' | 'data', module: string | undefined, method: string, call: () => T): T {
  if (module === undefined) return call();
  try {
    return call();
  } catch (error) {
    throw new ComponentError(section, `${section} module ${displayPath(module)}: ${method}() threw: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
  }
}

function issuesFrom(section: 'model' | 'data', module: string | undefined, call: () => SpecIssue[]): SpecIssue[] {
  const issues = callFamily(section, module, 'check', call);
  const valid = Array.isArray(issues) && issues.every((i) => i && typeof i.path === 'string' && typeof i.message === 'string');
  if (!valid) throw new ComponentError(section, `${section} module ${displayPath(module!)}: check() must return a list of { path, message } issues`);
  return issues;
}
