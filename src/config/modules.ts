/**
 * Components by module path (`model: { module: ./models/unet.js }`, `data: { module: … }`): where the file is,
 * and whether the config may load it. Naming a module runs its code, so a config may only load modules inside
 * the folder tree of the config file that names the module (after following symbolic links); anything else
 * needs `--allow-module <dir>`. A `--set` value is the user's own command line: it resolves from, and may
 * load modules under, the working directory.
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { displayPath } from './extends.js';
import { whereOf, type ConfigProblem, type Origin } from './problems.js';

/** The config sections that may name a module. */
export const MODULE_SECTIONS = ['model', 'data'] as const;
export type ModuleSection = (typeof MODULE_SECTIONS)[number];

/** `true`: any module (a run directory's own config.yaml, whose modules were allowed when the run began). */
export type ModulePermission = readonly string[] | true;

/**
 * Replaces each `<section>.module` path with the absolute real path of the file, checking that it exists and
 * that the config may load it. Returns the problems (located at the `module` key) instead of throwing.
 */
export function resolveModulePaths(config: Record<string, unknown>, origins: ReadonlyMap<string, Origin>, file: string, allowModule: ModulePermission = []): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const section of MODULE_SECTIONS) {
    const node = config[section] as Record<string, unknown> | undefined;
    if (!node || typeof node.module !== 'string') continue;
    const path = `${section}.module`;
    const where = whereOf([section, 'module'], origins, file);
    const origin = origins.get(path);
    const base = origin?.kind === 'file' ? dirname(resolve(origin.file)) : origin?.kind === 'set' ? process.cwd() : dirname(resolve(file));
    const absolute = isAbsolute(node.module) ? node.module : resolve(base, node.module);
    if (!existsSync(absolute)) {
      problems.push({ where, path, message: `module not found: ${displayPath(absolute)}` });
      continue;
    }
    const real = realpathSync(absolute);
    if (allowModule !== true) {
      const roots = [realpathSync(base), ...allowModule.filter((d) => existsSync(d)).map((d) => realpathSync(resolve(d)))];
      if (!roots.some((root) => isInside(real, root))) {
        problems.push({
          where,
          path,
          message: `module ${displayPath(real)} is outside ${displayPath(realpathSync(base))}/ (the folder of the config that names it); a module runs code, so allow its folder with --allow-module ${displayPath(dirname(real))}`,
        });
        continue;
      }
    }
    node.module = real;
  }
  resolveModelPath(config, origins, file);
  return problems;
}

/** `model.path` (a layers model's model.json, or a module's file option) is relative to the config file that wrote it. */
function resolveModelPath(config: Record<string, unknown>, origins: ReadonlyMap<string, Origin>, file: string): void {
  const model = config.model as Record<string, unknown> | undefined;
  if (!model || typeof model.path !== 'string' || isAbsolute(model.path)) return;
  const origin = origins.get('model.path');
  const base = origin?.kind === 'file' ? dirname(resolve(origin.file)) : origin?.kind === 'set' ? process.cwd() : dirname(resolve(file));
  model.path = resolve(base, model.path);
}

function isInside(file: string, root: string): boolean {
  const rel = relative(root, file);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

/** The modules a resolved config would load, by section (absolute paths). */
export function modulesOf(config: Record<string, unknown>): { section: ModuleSection; path: string }[] {
  return MODULE_SECTIONS.flatMap((section) => {
    const node = config[section] as Record<string, unknown> | undefined;
    return node && typeof node.module === 'string' ? [{ section, path: node.module }] : [];
  });
}
