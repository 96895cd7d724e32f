/**
 * Your own model or data as a JavaScript module (`model: { module: ./resmlp.js }`): import it once per
 * process, and check that it exports what lion-train needs before anything uses it.
 *
 * Contract: the module's default export (or a named export `family`) is the family object: a `ModelFamily`
 * (`name`, `check`, `build`) or a `DataFamily` (`name`, `describe`, `check`, `load`); for a model, the default
 * export may instead be a function `(options, input) → tf.LayersModel` (models/tfjs-layers.ts). An optional named export
 * `schema` is a JSON Schema (draft 2020-12) for the section's other keys (its options).
 */
import { pathToFileURL } from 'node:url';
import type { DataFamily } from './data/dataset.js';
import type * as tf from './tf.js';
import type { InputSpec, ModelFamily } from './models/model.js';
import { layersModelAsModel } from './models/tfjs-layers.js';
import { displayPath } from './config/extends.js';

export type ComponentKind = 'model' | 'data';

export interface LoadedComponent<F> {
  /** Absolute path of the module file. */
  path: string;
  family: F;
  /** JSON Schema of the options, when the module exports one. */
  schema?: Record<string, unknown>;
}

/** A module that could not be imported or does not export what lion-train needs. The message names the module. */
export class ComponentError extends Error {
  constructor(
    /** The config section that names the module. */
    readonly section: ComponentKind,
    message: string,
  ) {
    super(message);
    this.name = 'ComponentError';
  }
}

const MEMBERS: Record<ComponentKind, { members: Record<string, string>; contract: string }> = {
  model: {
    contract: 'ModelFamily',
    members: { name: 'string', check: 'function (config, input) → issues', build: 'function (config, input, seed) → Model' },
  },
  data: {
    contract: 'DataFamily',
    members: { name: 'string', describe: 'function (config) → input kind', check: 'function (config) → issues', load: 'async function (config, context) → Dataset' },
  },
};

const cache = new Map<string, Promise<LoadedComponent<unknown>>>();

export function loadModelComponent(path: string): Promise<LoadedComponent<ModelFamily>> {
  return loadComponent(path, 'model') as Promise<LoadedComponent<ModelFamily>>;
}

export function loadDataComponent(path: string): Promise<LoadedComponent<DataFamily>> {
  return loadComponent(path, 'data') as Promise<LoadedComponent<DataFamily>>;
}

/** Imports `path` (absolute) and checks its exports. Throws ComponentError naming the module and what is wrong. */
function loadComponent(path: string, kind: ComponentKind): Promise<LoadedComponent<unknown>> {
  const key = `${kind}:${path}`;
  let loaded = cache.get(key);
  if (!loaded) {
    loaded = importAndCheck(path, kind);
    cache.set(key, loaded);
  }
  return loaded;
}

async function importAndCheck(path: string, kind: ComponentKind): Promise<LoadedComponent<unknown>> {
  const shown = displayPath(path);
  let exports: Record<string, unknown>;
  try {
    exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    const hint = /\.m?ts$/.test(path) && /Unknown file extension/.test(message) ? ' (a .ts module needs a TypeScript loader: NODE_OPTIONS="--import tsx")' : '';
    throw new ComponentError(kind, `${kind} module ${shown} failed to load: ${message}${hint}`);
  }
  const { contract, members } = MEMBERS[kind];
  if (kind === 'model' && typeof exports.default === 'function') {
    return { path, family: layersFactoryFamily(exports.default as LayersFactory, path), schema: checkedSchema(exports.schema, kind, shown) };
  }
  const family = (exports.default ?? exports.family) as Record<string, unknown> | undefined;
  if (family === null || typeof family !== 'object') {
    const names = Object.keys(exports);
    throw new ComponentError(
      kind,
      `${kind} module ${shown} exports no ${contract}: expected a default export (or \`export const family\`) with ${describeMembers(members)}; it exports ${names.length > 0 ? names.join(', ') : 'nothing'}`,
    );
  }
  const missing = Object.entries(members).filter(([member, type]) => typeof family[member] !== (type === 'string' ? 'string' : 'function'));
  if (missing.length > 0) {
    throw new ComponentError(kind, `${kind} module ${shown} is not a ${contract}: missing ${missing.map(([member, type]) => `${member} (${type})`).join(', ')}`);
  }
  return { path, family, schema: checkedSchema(exports.schema, kind, shown) };
}

function checkedSchema(schema: unknown, kind: ComponentKind, shown: string): Record<string, unknown> | undefined {
  if (schema !== undefined && (schema === null || typeof schema !== 'object' || Array.isArray(schema))) {
    throw new ComponentError(kind, `${kind} module ${shown} exports a schema that is not a JSON Schema object`);
  }
  return schema as Record<string, unknown> | undefined;
}

/** A model module whose default export is a function: `(options, input) → tf.LayersModel` (or a promise of one). */
type LayersFactory = (options: Record<string, unknown>, input: InputSpec) => tf.LayersModel | Promise<tf.LayersModel>;

function layersFactoryFamily(factory: LayersFactory, path: string): ModelFamily<Record<string, unknown>> {
  const shown = displayPath(path);
  return {
    name: factory.name || 'layers',
    check: () => [],
    async prepare(config, input) {
      const { module: _module, ...options } = config;
      const model = await factory(options, input);
      if (!model || typeof (model as { apply?: unknown }).apply !== 'function' || !Array.isArray((model as { trainableWeights?: unknown }).trainableWeights)) {
        throw new Error(`the function ${shown} exports must return a tf.LayersModel (made with the tf that lion-train exports), got ${model === null ? 'null' : typeof model}`);
      }
      return model;
    },
    build(_config, input, seed, prepared) {
      // The factory's initialisers draw unseeded numbers: parameters are re-drawn from the seed.
      return layersModelAsModel(prepared as tf.LayersModel, input, seed, shown);
    },
  };
}

function describeMembers(members: Record<string, string>): string {
  return Object.entries(members)
    .map(([member, type]) => `${member} (${type})`)
    .join(', ');
}
