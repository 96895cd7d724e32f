/**
 * The options of a module component (`model: { module: ./resmlp.js, blocks: 2 }` → `{ blocks: 2 }`), checked
 * against the JSON Schema the module exports, with the same located, did-you-mean messages as built-in keys.
 * Defaults in that schema are filled in place, so the run directory's config.yaml shows them.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ConfigProblem, Origin } from './problems.js';
import { whereOf } from './problems.js';
import { describe } from './validate.js';

/**
 * Validates `section` (the config's `model` or `data` mapping, `module` key included) against `schema`.
 * Returns every problem, located in the config; a schema that does not compile is one problem at `<name>.module`.
 */
export function moduleOptionProblems(
  name: 'model' | 'data',
  section: Record<string, unknown>,
  schema: Record<string, unknown>,
  origins: ReadonlyMap<string, Origin>,
  file: string,
): ConfigProblem[] {
  const { module, ...options } = section;
  let validate;
  try {
    const ajv = new Ajv2020({ allErrors: true, useDefaults: true, verbose: true, strict: false, allowUnionTypes: true });
    validate = ajv.compile(schema);
  } catch (error) {
    return [{ where: whereOf([name, 'module'], origins, file), path: `${name}.module`, message: `its options schema is not a valid JSON Schema: ${(error as Error).message}` }];
  }
  if (validate(options)) {
    Object.assign(section, options, { module });
    return [];
  }
  return (validate.errors ?? []).map((error) => describe({ ...error, instancePath: `/${name}${error.instancePath}` }, origins, file));
}
