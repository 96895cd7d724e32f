/**
 * The `evolve:` section of a config, turned into what the search needs: the algorithm's settings, the
 * mutation settings, the fitness direction, the seed program and the stages of the funnel.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readInputText } from '../files/input-file.js';
import { dirname, resolve } from 'node:path';
import type { EvolveConfig, RunConfig } from '../config/types.generated.js';
import { EXIT, UserError } from '../errors.js';
import { checkProgram } from '../program/check.js';
import { parseProgram, ProgramError } from '../program/parse.js';
import type { Program } from '../program/ast.js';
import type { EvolutionSettings } from './regularized-evolution.js';
import type { MutationSettings } from './mutate.js';

/** Folder of the shipped programs (`programs/*.opt`), two levels above this file in src/ and dist/ alike. */
export const SHIPPED_PROGRAMS = new URL('../../programs/', import.meta.url);

export interface Stage {
  /** `proxy` for the config itself; the funnel's names after it. */
  name: string;
  /** The stage's config file and overrides: a candidate's config is this plus its program. */
  file: string;
  set: string[];
  /** Programs promoted into this stage (0 for the proxy, which trains every candidate). */
  top: number;
}

export interface SearchSettings {
  evolution: EvolutionSettings;
  mutation: MutationSettings;
  metric: string;
  seedProgram: { name: string; text: string; program: Program };
  stages: Stage[];
  baselines: string[];
  budget: { candidates: number | null; maxMinutes: number | null };
  timeLimitMs: number | null;
}

/** `min` unless the metric is an accuracy (then `max`), when the config does not say. */
export function fitnessMode(metric: string, mode: EvolveConfig['mode']): 'min' | 'max' {
  return mode ?? (/accuracy$/i.test(metric) ? 'max' : 'min');
}

/**
 * Settings of the search declared by `config` (loaded from `file` with `set`).
 * @throws UserError (exit 2) when the config has no evolve section, its budget is unbounded, the
 *   tournament is larger than the population, or the seed program is missing or invalid.
 */
export function searchSettings(config: RunConfig, file: string, set: readonly string[]): SearchSettings {
  const evolve = config.evolve;
  if (!evolve) throw new UserError(`${file}: no evolve: section (see README, "Searching for an optimizer")`, EXIT.usage);
  if (evolve.tournament > evolve.population) {
    throw new UserError(`${file} evolve.tournament: must be at most evolve.population (${evolve.population}), got ${evolve.tournament}`, EXIT.usage);
  }
  if (evolve.budget.candidates === null && evolve.budget.maxMinutes === null) {
    throw new UserError(`${file} evolve.budget: set candidates or maxMinutes (or both); a search without either never ends`, EXIT.usage);
  }
  const base = dirname(resolve(file));
  const stages: Stage[] = [{ name: 'proxy', file, set: [...set], top: 0 }];
  for (const stage of evolve.funnel) {
    if (stages.some((s) => s.name === stage.name)) throw new UserError(`${file} evolve.funnel: two stages are named ${stage.name}`, EXIT.usage);
    stages.push({ name: stage.name, file: stage.config === null ? file : resolve(base, stage.config), set: stage.config === null ? [...set, ...stage.set] : stage.set, top: stage.top });
  }
  return {
    evolution: {
      population: evolve.population,
      tournament: evolve.tournament,
      seed: evolve.seed,
      mode: fitnessMode(evolve.metric, evolve.mode),
      restartAfter: evolve.restartAfter,
    },
    mutation: {
      weights: { insert: evolve.mutation.insert, delete: evolve.mutation.delete, modify: evolve.mutation.modify },
      constantScale: evolve.mutation.constantScale,
      maxStatements: evolve.mutation.maxStatements,
      maxAttempts: 200,
    },
    metric: evolve.metric,
    seedProgram: seedProgram(evolve.seedProgram, base, file),
    stages,
    baselines: [...evolve.baselines],
    budget: { candidates: evolve.budget.candidates, maxMinutes: evolve.budget.maxMinutes },
    timeLimitMs: evolve.timeLimitSeconds === null ? null : evolve.timeLimitSeconds * 1000,
  };
}

/** A shipped program by name, or a program file relative to the config. */
function seedProgram(nameOrPath: string, base: string, file: string): SearchSettings['seedProgram'] {
  const shipped = new URL(`${nameOrPath}.opt`, SHIPPED_PROGRAMS);
  const path = /^[a-z0-9-]+$/.test(nameOrPath) && existsSync(shipped) ? shipped : resolve(base, nameOrPath);
  if (!existsSync(path)) throw new UserError(`${file} evolve.seedProgram: ${nameOrPath} is neither a shipped program nor a file`, EXIT.usage);
  const text = readInputText(typeof path === 'string' ? path : fileURLToPath(path));
  let program: Program;
  try {
    program = parseProgram(text);
  } catch (error) {
    const detail = error instanceof ProgramError ? error.message : String(error);
    throw new UserError(`${file} evolve.seedProgram: ${nameOrPath}: ${detail.split('\n')[0]}`, EXIT.usage);
  }
  const problems = checkProgram(program).problems;
  if (problems.length > 0) throw new UserError(`${file} evolve.seedProgram: ${nameOrPath} line ${problems[0].line}: ${problems[0].message}`, EXIT.usage);
  return { name: nameOrPath, text, program };
}
