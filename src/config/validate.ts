/** Schema validation (ajv) with every error turned into a located, readable problem. */
import { whereOf, pathKey, type ConfigProblem, type Origin } from './problems.js';
import { deref, runSchema, runValidator, unionTags, type JsonSchema, type SchemaError } from './schema.js';
import { closest, didYouMean } from './suggest.js';

const OPTIMIZER_BLOCKS = ['lion', 'adamw', 'adafactor'] as const;

/** Validates `data` against the run schema, filling defaults in place. Returns every problem found. */
export function validateAgainstSchema(data: unknown, origins: ReadonlyMap<string, Origin>, file: string): ConfigProblem[] {
  const validate = runValidator();
  if (validate(data)) return [];
  const errors = validate.errors ?? [];
  const missing = new Set(errors.filter((e) => e.keyword === 'required').map((e) => `${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}`));
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    // A missing discriminator is already reported as a missing required key.
    if (error.keyword === 'discriminator' && (error.params as { error: string }).error === 'tag' && missing.has(`${error.instancePath}/name`)) continue;
    // `model`/`data` choose a module or a built-in with if/then/else; the chosen branch's errors say what is wrong.
    if (error.keyword === 'if') continue;
    const problem = describe(error, origins, file);
    const id = `${problem.where}|${problem.path}|${problem.message}`;
    if (!seen.has(id)) {
      seen.add(id);
      problems.push(problem);
    }
  }
  return problems;
}

function instancePath(error: SchemaError): string[] {
  return error.instancePath === '' ? [] : error.instancePath.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** One ajv error as a located problem (`file:line:col key: message (did you mean …?)`). */
export function describe(error: SchemaError, origins: ReadonlyMap<string, Origin>, file: string): ConfigProblem {
  const path = instancePath(error);
  const at = (p: string[], atKey = false) => whereOf(p, origins, file, atKey);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const keyPath = [...path, key];
      return { where: at(keyPath, true), path: pathKey(keyPath), message: unknownKeyMessage(key, path, error.parentSchema as JsonSchema) };
    }
    case 'required': {
      const key = String(params.missingProperty);
      return { where: at(path, true), path: pathKey([...path, key]), message: 'missing required key' };
    }
    case 'discriminator': {
      const tags = unionTags(error.parentSchema as JsonSchema);
      const namePath = [...path, 'name'];
      if (params.error === 'mapping') {
        const value = String(params.tagValue);
        return { where: at(namePath), path: pathKey(namePath), message: `unknown ${path.join('.') || 'value'} "${value}"${didYouMean(value, tags)}; expected one of ${tags.join(', ')}` };
      }
      return { where: at(namePath), path: pathKey(namePath), message: `must be a string, one of ${tags.join(', ')}` };
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const value = String(error.data);
      return { where: at(path), path: pathKey(path), message: `must be one of ${allowed.join(', ')}, got ${JSON.stringify(error.data)}${didYouMean(value, allowed)}` };
    }
    case 'const':
      return { where: at(path), path: pathKey(path), message: `must be ${JSON.stringify(params.allowedValue)}` };
    case 'type':
      return { where: at(path), path: pathKey(path), message: `must be ${String(params.type).split(',').map(typeWord).join(' or ')}, got ${describeValue(error.data)}` };
    case 'pattern':
      return { where: at(path), path: pathKey(path), message: patternMessage(path, error) };
    case 'propertyNames': {
      const name = String(params.propertyName);
      return { where: at([...path, name], true), path: pathKey([...path, name]), message: 'is not a config key path (expected e.g. optimizer.learningRate)' };
    }
    default:
      return { where: at(path), path: pathKey(path), message: error.message ?? `fails ${error.keyword}` };
  }
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  null: 'null',
};

function typeWord(type: string): string {
  return TYPE_WORDS[type] ?? type;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeWord(typeof value)} ${JSON.stringify(value)}`;
}

function patternMessage(path: string[], error: SchemaError): string {
  const last = path[path.length - 1];
  if (last === 'metric' || last === 'bestMetric') return `must name a metric as <split>.<name> (split: train, validation or test), got ${JSON.stringify(error.data)}`;
  if (last === 'name') return `must start with a letter or digit and use only letters, digits, '.', '_' and '-', got ${JSON.stringify(error.data)}`;
  return error.message ?? 'does not match the expected pattern';
}

function unknownKeyMessage(key: string, parentPath: string[], parentSchema: JsonSchema): string {
  const allowed = Object.keys((deref(parentSchema).properties as Record<string, unknown> | undefined) ?? {});
  const suggestion = closest(key, allowed);
  if (suggestion) return `unknown key (did you mean ${suggestion}?)`;
  // An option of another optimizer, written in the wrong optimizer's block.
  const inBlock = parentPath.length === 2 && parentPath[0] === 'optimizer' ? parentPath[1] : undefined;
  if (inBlock) {
    const owners = OPTIMIZER_BLOCKS.filter((name) => name !== inBlock && optimizerKeys(name).includes(key));
    if (owners.length > 0) return `unknown key: not a ${inBlock} option (${owners.join(' and ')} take${owners.length === 1 ? 's' : ''} it)`;
  }
  if (parentPath.length === 1 && parentPath[0] === 'optimizer') return `unknown key: no optimizer takes it; allowed: ${allowed.join(', ')}`;
  return allowed.length > 0 && allowed.length <= 16 ? `unknown key; allowed: ${allowed.join(', ')}` : 'unknown key';
}

export function optimizerKeys(name: (typeof OPTIMIZER_BLOCKS)[number]): string[] {
  const defs = runSchema().$defs as Record<string, JsonSchema>;
  return Object.keys((defs[`${name}Options`].properties as Record<string, unknown>) ?? {});
}
