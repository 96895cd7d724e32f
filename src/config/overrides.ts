/** `--set key.path=value` overrides: the value is parsed as YAML, so `1e-4` is a number and `[1,2]` a list. */
import { parse } from 'yaml';
import { ConfigError, FORBIDDEN_KEYS, pathKey, type ConfigProblem, type Origin } from './problems.js';
import { isPlainObject, type PlainObject } from './merge.js';
import { MAX_ALIAS_EXPANSIONS } from './yaml-file.js';

export interface Override {
  path: string[];
  value: unknown;
  /** The argument as given, for messages and `# --set` sources. */
  text: string;
}

export function parseOverrides(args: readonly string[]): Override[] {
  const problems: ConfigProblem[] = [];
  const overrides: Override[] = [];
  for (const text of args) {
    const fail = (message: string) => problems.push({ where: `--set ${text}`, path: '', message });
    const eq = text.indexOf('=');
    if (eq <= 0) {
      fail('expected key.path=value');
      continue;
    }
    const path = text.slice(0, eq).trim().split('.');
    if (path.some((segment) => segment === '')) {
      fail(`"${text.slice(0, eq)}" is not a key path (use dots between keys, e.g. optimizer.learningRate)`);
      continue;
    }
    const forbidden = path.find((segment) => FORBIDDEN_KEYS.has(segment));
    if (forbidden) {
      fail(`forbidden key "${forbidden}"`);
      continue;
    }
    let value: unknown;
    try {
      value = parse(text.slice(eq + 1), { maxAliasCount: MAX_ALIAS_EXPANSIONS, uniqueKeys: true, prettyErrors: false });
    } catch (error) {
      fail(`value is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
      continue;
    }
    const badKey = findForbiddenKey(value);
    if (badKey) {
      fail(`forbidden key "${badKey}"`);
      continue;
    }
    if (typeof value === 'number' && !Number.isFinite(value)) {
      fail(`must be a finite number, got ${text.slice(eq + 1)}`);
      continue;
    }
    overrides.push({ path, value: value ?? null, text });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return overrides;
}

function findForbiddenKey(value: unknown): string | undefined {
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = findForbiddenKey(item);
      if (found) return found;
    }
  } else if (isPlainObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.has(key)) return key;
      const found = findForbiddenKey(child);
      if (found) return found;
    }
  }
  return undefined;
}

/** Applies overrides in order, creating intermediate maps, and records each value's origin. */
export function applyOverrides(data: PlainObject, overrides: readonly Override[], origins: Map<string, Origin>): void {
  const problems: ConfigProblem[] = [];
  for (const override of overrides) {
    let node: PlainObject = data;
    let ok = true;
    for (const [depth, key] of override.path.slice(0, -1).entries()) {
      const next = node[key];
      if (next === undefined || next === null) node[key] = {};
      else if (!isPlainObject(next)) {
        problems.push({ where: `--set ${override.text}`, path: '', message: `${override.path.slice(0, depth + 1).join('.')} is not a mapping, so it has no key "${override.path[depth + 1]}"` });
        ok = false;
        break;
      }
      node = node[key] as PlainObject;
    }
    if (!ok) continue;
    node[override.path[override.path.length - 1]] = structuredClone(override.value);
    recordOrigins(override.path, override.value, { kind: 'set', text: override.text }, origins);
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

function recordOrigins(path: (string | number)[], value: unknown, origin: Origin, origins: Map<string, Origin>): void {
  const prefix = pathKey(path);
  for (const key of [...origins.keys()]) if (key.startsWith(prefix + '.')) origins.delete(key);
  origins.set(prefix, origin);
  if (Array.isArray(value)) value.forEach((item, i) => recordOrigins([...path, i], item, origin, origins));
  else if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) recordOrigins([...path, k], v, origin, origins);
}
