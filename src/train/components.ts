/**
 * Building the model and loading the data through their families, with a module family's output checked
 * before the loop trusts it: a module that throws or returns the wrong shape is a UserError (exit 2) that
 * names the module and what is wrong. Built-in families pass straight through.
 */
import type { RunConfig } from '../config/types.generated.js';
import { displayPath } from '../config/extends.js';
import type { DataFamily, Dataset, LoadContext } from '../data/dataset.js';
import { EXIT, UserError } from '../errors.js';
import type { InputSpec, Model, ModelFamily } from '../models/model.js';

function moduleOf(section: RunConfig['model'] | RunConfig['data']): string | undefined {
  return 'module' in section ? section.module : undefined;
}

function firstLine(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0] : String(error);
}

/** `family.prepare` then `family.build`, checked: a Model with named tf.Variables, a forward function, and counts. */
export async function buildModel(family: ModelFamily, config: RunConfig['model'], spec: InputSpec, seed: number): Promise<Model> {
  const module = moduleOf(config);
  if (module === undefined) {
    try {
      const prepared = family.prepare ? await family.prepare(config as never, spec) : undefined;
      return family.build(config as never, spec, seed, prepared);
    } catch (error) {
      // A built-in's own refusal (a layers model that does not fit the data, say) is a config problem.
      if (family.prepare) throw new UserError(`model ${family.name}: ${firstLine(error)}`, EXIT.usage);
      throw error;
    }
  }
  const shown = `model module ${displayPath(module)}`;
  let model: Model;
  try {
    const prepared = family.prepare ? await family.prepare(config as never, spec) : undefined;
    model = family.build(config as never, spec, seed, prepared);
  } catch (error) {
    throw new UserError(`${shown}: ${family.prepare ? 'building its model' : 'build()'} threw: ${firstLine(error)}`, EXIT.usage);
  }
  const problems: string[] = [];
  if (!model || typeof model !== 'object') throw new UserError(`${shown}: build() must return a Model, got ${model === null ? 'null' : typeof model}`, EXIT.usage);
  if (!(model.params instanceof Map) || model.params.size === 0) problems.push('params (a non-empty Map of name → tf.Variable)');
  else if ([...model.params.values()].some((v) => !v || typeof (v as { assign?: unknown }).assign !== 'function')) problems.push('params values must be tf.Variable');
  if (typeof model.forward !== 'function') problems.push('forward (function (x, { training, seed }) → logits)');
  if (typeof model.parameterCount !== 'number') problems.push('parameterCount (number)');
  if (model.flopsPerExample !== null && typeof model.flopsPerExample !== 'number') problems.push('flopsPerExample (number, or null when unknown)');
  if (typeof model.dispose !== 'function') problems.push('dispose (function)');
  if (problems.length > 0) throw new UserError(`${shown}: build() returned a Model missing ${problems.join(', ')}`, EXIT.usage);
  return model;
}

/** `family.load`, checked: a Dataset with an input spec and a train split. */
export async function loadDataset(family: DataFamily, config: RunConfig['data'], context: LoadContext): Promise<Dataset> {
  const module = moduleOf(config);
  if (module === undefined) return family.load(config as never, context);
  const shown = `data module ${displayPath(module)}`;
  let dataset: Dataset;
  try {
    dataset = await family.load(config as never, context);
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(`${shown}: load() threw: ${firstLine(error)}`, EXIT.usage);
  }
  if (!dataset || typeof dataset !== 'object') throw new UserError(`${shown}: load() must return a Dataset, got ${dataset === null ? 'null' : typeof dataset}`, EXIT.usage);
  const problems: string[] = [];
  const spec = dataset.spec;
  if (!spec || !['image', 'vector', 'tokens'].includes(spec.kind) || !Array.isArray(spec.shape) || !Number.isInteger(spec.classes) || spec.classes < 1) {
    problems.push("spec ({ kind: 'image' | 'vector' | 'tokens', shape: number[], classes: integer >= 1 })");
  }
  for (const split of ['train', 'validation', 'test'] as const) {
    const s = dataset[split];
    if (s === undefined && split !== 'train') continue;
    if (!s || !Number.isInteger(s.size) || typeof s.gather !== 'function') problems.push(`${split} ({ size: integer, gather(indices) → Batch })`);
  }
  if (problems.length > 0) throw new UserError(`${shown}: load() returned a Dataset missing ${problems.join(', ')}`, EXIT.usage);
  return dataset;
}
