/** Model families by name. Adding a family: one file here, one schema branch, one test. */
import { Registry } from '../registry.js';
import { loadModelComponent } from '../module-component.js';
import type { RunConfig } from '../config/types.generated.js';
import type { ModelFamily } from './model.js';
import { cnn } from './cnn.js';
import { gpt } from './gpt.js';
import { layers } from './tfjs-layers.js';
import { mlp } from './mlp.js';
import { vit } from './vit.js';

const models = new Registry<ModelFamily>('model');
models.register(mlp as ModelFamily).register(vit as ModelFamily).register(cnn as ModelFamily).register(gpt as ModelFamily).register(layers as ModelFamily);

export function modelFamily(name: string): ModelFamily {
  return models.get(name);
}

export function modelNames(): string[] {
  return models.names();
}

/** The family a config's `model` section names: a built-in by `name`, or the family its `module` exports. */
export async function modelFamilyFor(config: RunConfig['model']): Promise<ModelFamily> {
  if ('module' in config) return (await loadModelComponent(config.module)).family;
  return modelFamily(config.name);
}

