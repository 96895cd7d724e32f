/** Model families by name. Adding a family: one file here, one schema branch, one test. */
import { Registry } from '../registry.js';
import type { ModelFamily } from './model.js';

const models = new Registry<ModelFamily>('model');
// Families register here, e.g. models.register(mlp);

export function modelFamily(name: string): ModelFamily {
  return models.get(name);
}

export function modelNames(): string[] {
  return models.names();
}
