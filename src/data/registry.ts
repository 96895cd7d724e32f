/** Dataset sources by name. Adding a source: one file here, one schema branch, one test. */
import { Registry } from '../registry.js';
import type { DataFamily } from './dataset.js';

const datasets = new Registry<DataFamily>('dataset');
// Sources register here, e.g. datasets.register(mnist);

export function dataFamily(name: string): DataFamily {
  return datasets.get(name);
}

export function dataNames(): string[] {
  return datasets.names();
}
