/**
 * YAML file (+ extends, + --set) → validated RunConfig with defaults filled, and where each value came from.
 * The one entry point of config/: everything after it sees a fully resolved config.
 */
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import { crossFieldProblems } from './checks.js';
import { displayPath, loadWithExtends } from './extends.js';
import { isPlainObject } from './merge.js';
import { resolveModulePaths, type ModulePermission } from './modules.js';
import { lionHint, resolveOptimizerSection } from './optimizer-options.js';
import { applyOverrides, parseOverrides } from './overrides.js';
import { ConfigError, pathKey, whereOf, type ConfigProblem, type Origin } from './problems.js';
import type { RunConfig } from './types.generated.js';
import { runSchema } from './schema.js';
import { validateAgainstSchema } from './validate.js';

export interface LoadedConfig {
  config: RunConfig;
  /** The config file as the user named it. */
  file: string;
  /** Where each value came from, by dotted key path; paths not present were filled from defaults. */
  origins: Map<string, Origin>;
  hints: string[];
}

export interface LoadOptions {
  /** `--set key.path=value` arguments, applied in order after the file and its bases. */
  set?: readonly string[];
  /** Folders (besides each config file's own) that `model.module` / `data.module` may load from; `true`: any. */
  allowModule?: ModulePermission;
}

export function loadConfig(file: string, options: LoadOptions = {}): LoadedConfig {
  const shownFile = displayPath(resolve(file));
  const overrides = parseOverrides(options.set ?? []);
  const { data, origins } = loadWithExtends(file);
  applyOverrides(data, overrides, origins);

  const locate = (problems: ConfigProblem[]) =>
    problems.map((p) => (p.where ? p : { ...p, where: whereOf(p.path.split('.'), origins, shownFile) }));

  const schemaProblems = validateAgainstSchema(data, origins, shownFile);
  if (schemaProblems.length > 0) throw new ConfigError(sortProblems(schemaProblems));

  const fromFile = data.name === undefined ? runNameFromFile(file) : undefined;
  const config = { ...(fromFile ? { name: fromFile.name } : {}), ...data } as unknown as RunConfig;
  const problems = [
    ...resolveOptimizerSection(config.optimizer, origins),
    ...crossFieldProblems(config),
    ...resolveModulePaths(config as unknown as Record<string, unknown>, origins, shownFile, options.allowModule),
  ];
  if (problems.length > 0) throw new ConfigError(sortProblems(locate(problems)));
  resolveDataPaths(config, origins, shownFile);

  const hints = [fromFile?.note, lionHint(config.optimizer)].filter((h): h is string => h !== undefined);
  return { config, file: shownFile, origins, hints };
}

/** The rule an explicit `name:` (or --set name=) must meet: the schema's pattern and length. */
function nameRule(): { pattern: RegExp; maxLength: number } {
  const schema = (runSchema().properties as Record<string, { pattern: string; maxLength: number }>).name;
  return { pattern: new RegExp(schema.pattern), maxLength: schema.maxLength };
}

/**
 * The run name taken from the config's file name when the config gives none, made to meet the same
 * rule as an explicit name: each run of other characters becomes one `-`, leading and trailing
 * `-`, `.` and `_` go, and it is cut to the maximum length (`my run (v2).yaml` → `my-run-v2`, with a note).
 */
export function runNameFromFile(file: string): { name: string; note?: string } {
  const stem = basename(file, extname(file));
  const { pattern, maxLength } = nameRule();
  if (pattern.test(stem) && stem.length <= maxLength) return { name: stem };
  const cleaned = stem.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-._]+/, '').slice(0, maxLength).replace(/[-._]+$/, '');
  const name = pattern.test(cleaned) ? cleaned : 'run';
  return { name, note: `note: the run name comes from the file name, and "${stem}" is not a valid name (letters, digits, . _ -; at most ${maxLength}); using "${name}" (set name: to choose one)` };
}

/** Data file paths are relative to the config file that wrote them; the resolved config holds absolute ones. */
function resolveDataPaths(config: RunConfig, origins: Map<string, Origin>, file: string): void {
  const data = config.data as unknown as Record<string, unknown>;
  if (typeof data.path !== 'string' || isAbsolute(data.path)) return;
  const origin = origins.get('data.path');
  const base = origin?.kind === 'file' ? dirname(resolve(origin.file)) : origin?.kind === 'set' ? process.cwd() : dirname(resolve(file));
  data.path = resolve(base, data.path);
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  const rank = (p: ConfigProblem) => {
    const m = /:(\d+):(\d+)$/.exec(p.where);
    return p.where.startsWith('--set') ? [2, 0, 0] : m ? [0, Number(m[1]), Number(m[2])] : [1, 0, 0];
  };
  return [...problems].sort((a, b) => {
    const [ra, rb] = [rank(a), rank(b)];
    return ra[0] - rb[0] || ra[1] - rb[1] || ra[2] - rb[2];
  });
}

/** Every leaf path of the resolved config with its origin (`default` when no file or --set gave it). */
export function leafOrigins(config: unknown, origins: ReadonlyMap<string, Origin>): Map<string, Origin> {
  const out = new Map<string, Origin>();
  const visit = (node: unknown, path: string[]) => {
    if (isPlainObject(node) && Object.keys(node).length > 0) {
      for (const [key, child] of Object.entries(node)) visit(child, [...path, key]);
      return;
    }
    out.set(pathKey(path), origins.get(pathKey(path)) ?? { kind: 'default' });
  };
  visit(config, []);
  return out;
}
