/** Dataset sources by name. Adding a source: one file here, one schema branch, one test. */
import { Registry } from '../registry.js';
import { loadDataComponent } from '../module-component.js';
import type { RunConfig } from '../config/types.generated.js';
import type { DataFamily } from './dataset.js';
import { csv } from './csv.js';
import { fashionMnist } from './fashion-mnist.js';
import { imageFolder } from './image-folder.js';
import { mnist } from './mnist.js';
import { synthetic } from './synthetic.js';
import { text } from './text.js';

const datasets = new Registry<DataFamily>('dataset');
datasets
  .register(synthetic as DataFamily)
  .register(mnist as DataFamily)
  .register(fashionMnist as DataFamily)
  .register(csv as DataFamily)
  .register(text as DataFamily)
  .register(imageFolder as DataFamily);

export function dataFamily(name: string): DataFamily {
  return datasets.get(name);
}

export function dataNames(): string[] {
  return datasets.names();
}

/** The source a config's `data` section names: a built-in by `name`, or the family its `module` exports. */
export async function dataFamilyFor(config: RunConfig['data']): Promise<DataFamily> {
  if ('module' in config) return (await loadDataComponent(config.module)).family;
  return dataFamily(config.name);
}
