/** Resolves `extends:` chains: bases first (in list order), then the including file, deep-merged. */
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { ConfigError, whereOf, type ConfigProblem, type Origin } from './problems.js';
import { deepMerge, getPath, isPlainObject, type PlainObject } from './merge.js';
import { readYamlFile } from './yaml-file.js';

const MAX_EXTENDS_DEPTH = 32;

export interface MergedSource {
  data: PlainObject;
  origins: Map<string, Origin>;
}

/** Loads `file` and everything it extends. `chain` holds the absolute paths of the including files. */
export function loadWithExtends(file: string, chain: string[] = []): MergedSource {
  const absolute = resolve(file);
  const source = readYamlFile(absolute, displayPath(absolute));
  const { extends: extendsValue, ...own } = source.data;
  if (extendsValue === undefined) return { data: own, origins: source.origins };

  const where = whereOf(['extends'], source.origins, source.file);
  const bases = typeof extendsValue === 'string' ? [extendsValue] : extendsValue;
  if (!Array.isArray(bases) || bases.length === 0 || !bases.every((b) => typeof b === 'string' && b.length > 0)) {
    throw new ConfigError([{ where, path: 'extends', message: 'must be a file path or a non-empty list of file paths' }]);
  }
  if (chain.length >= MAX_EXTENDS_DEPTH) {
    throw new ConfigError([{ where, path: 'extends', message: `extends chain is deeper than ${MAX_EXTENDS_DEPTH} files` }]);
  }

  const problems: ConfigProblem[] = [];
  let data: PlainObject = {};
  const origins = new Map<string, Origin>();
  for (const base of bases as string[]) {
    const basePath = isAbsolute(base) ? base : resolve(dirname(absolute), base);
    const cycle = [...chain, absolute];
    if (cycle.includes(basePath)) {
      const shown = [...cycle.slice(cycle.indexOf(basePath)), basePath].map(displayPath).join(' → ');
      problems.push({ where, path: 'extends', message: `extends cycle: ${shown}` });
      continue;
    }
    try {
      const merged = loadWithExtends(basePath, cycle);
      data = deepMerge(data, merged.data) as PlainObject;
      for (const [key, origin] of merged.origins) origins.set(key, origin);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const missing = error.problems.length === 1 && error.problems[0].message === 'file not found' && error.problems[0].where === displayPath(basePath);
      if (missing) problems.push({ where, path: 'extends', message: `base config not found: ${displayPath(basePath)}` });
      else problems.push(...error.problems);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  // A list or scalar written here replaces the base's value whole: the base's origins inside it go.
  for (const key of source.origins.keys()) {
    if (key === '' || isPlainObject(getPath(own, key.split('.')))) continue;
    for (const inherited of [...origins.keys()]) if (inherited.startsWith(`${key}.`)) origins.delete(inherited);
  }
  for (const [key, origin] of source.origins) if (key !== 'extends' && !key.startsWith('extends.')) origins.set(key, origin);
  return { data: deepMerge(data, own) as PlainObject, origins };
}

/** Paths in messages: relative to the working directory when inside it, else absolute. */
export function displayPath(absolute: string): string {
  const rel = relative(process.cwd(), absolute);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : absolute;
}
