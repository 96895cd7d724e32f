/**
 * The optimizer section: shared keys at the top, tuned values in a block named after each optimizer.
 * The named optimizer's block is filled in this order: its own block, then the shared keys it takes,
 * then the schema's defaults. Other blocks stay as written, so swapping `name` keeps their tuning.
 */
import { runSchema, type JsonSchema } from './schema.js';
import type { AdafactorOptions, AdamwOptions, LionOptions, OptimizerConfig } from './types.generated.js';
import { pathKey, type ConfigProblem, type Origin } from './problems.js';
import { fileLocator, inlineLocator, programFilePath, programProblems, readProgramFile } from './program-source.js';

export const OPTIMIZER_NAMES = ['lion', 'adamw', 'adafactor'] as const;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

/** `name: program`: the program text (from `program` or `programFile`) and the `lr` input's peak. */
export interface ProgramOptions {
  learningRate: number;
  /** The text (a `programFile`'s content once resolved). */
  program: string;
}

export type ResolvedOptimizer =
  | { name: 'program'; options: ProgramOptions }
  | { name: 'lion'; options: LionOptions }
  | { name: 'adamw'; options: AdamwOptions }
  | { name: 'adafactor'; options: AdafactorOptions & { relativeStep: boolean } };

function blockSchema(name: OptimizerName): Record<string, JsonSchema> {
  const defs = runSchema().$defs as Record<string, JsonSchema>;
  return defs[`${name}Options`].properties as Record<string, JsonSchema>;
}

/**
 * Fills `section[section.name]` in place with the effective options and returns problems found.
 * ajv has filled every block present with schema defaults; `origins` tells which keys were written,
 * so a default never outranks a shared key. Blocks of other optimizers keep only their written keys.
 */
export function resolveOptimizerSection(section: OptimizerConfig, origins: Map<string, Origin>): ConfigProblem[] {
  const name = section.name;
  const shared = section as unknown as Record<string, unknown>;
  const written = (block: OptimizerName, key: string) => origins.has(pathKey(['optimizer', block, key]));
  for (const other of OPTIMIZER_NAMES) {
    const block = shared[other] as Record<string, unknown> | undefined;
    if (other === name || !block) continue;
    for (const key of Object.keys(block)) if (!written(other, key)) delete block[key];
  }
  if (name === 'program') return programSectionProblems(section, origins);
  const block = (shared[name] ?? {}) as Record<string, unknown>;
  const effective: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(blockSchema(name))) {
    if (key in block && written(name, key)) effective[key] = block[key];
    else if (shared[key] !== undefined) {
      effective[key] = shared[key];
      const origin = origins.get(pathKey(['optimizer', key]));
      if (origin) origins.set(pathKey(['optimizer', name, key]), origin);
    } else effective[key] = schema.default;
  }
  const problems: ConfigProblem[] = [];
  if (name === 'adafactor') {
    const lr = effective.learningRate as number | null;
    if (effective.relativeStep === null) effective.relativeStep = lr === null;
    if (lr !== null && effective.relativeStep === true) {
      problems.push({ where: '', path: 'optimizer.adafactor.relativeStep', message: 'cannot be true when a learningRate is given (set relativeStep: false, or learningRate: null)' });
    }
    if (lr === null && effective.relativeStep === false) {
      problems.push({ where: '', path: 'optimizer.adafactor.learningRate', message: 'is required when relativeStep is false' });
    }
  } else if (typeof effective.learningRate !== 'number') {
    problems.push({ where: '', path: 'optimizer.learningRate', message: `${name} needs a number, got null` });
  }
  shared[name] = effective;
  return problems;
}

/**
 * `name: program`: exactly one of `program` and `programFile`, a readable file, a program that
 * parses and checks. Problems are located in the YAML file or the program file.
 */
function programSectionProblems(section: OptimizerConfig, origins: Map<string, Origin>): ConfigProblem[] {
  const { program, programFile } = section;
  if (program !== undefined && programFile !== undefined) {
    return [{ where: '', path: 'optimizer.programFile', message: 'give optimizer.program or optimizer.programFile, not both' }];
  }
  if (programFile !== undefined) {
    const file = programFilePath(programFile, origins.get('optimizer.programFile'));
    const text = readProgramFile(file);
    if (typeof text !== 'string') return [{ where: '', path: 'optimizer.programFile', message: text.message }];
    const problems = programProblems(text, fileLocator(file));
    // The resolved config holds the text itself, so a run's config.yaml is exactly what ran.
    section.program = text;
    delete section.programFile;
    return problems;
  }
  if (program !== undefined) {
    const origin = origins.get('optimizer.program');
    return programProblems(program, inlineLocator(origin, ''));
  }
  return [{ where: '', path: 'optimizer.name', message: 'program needs optimizer.program (the program text) or optimizer.programFile (a file holding it)' }];
}

/** The named optimizer and its effective options, from a resolved section. */
export function optimizerOptions(section: OptimizerConfig): ResolvedOptimizer {
  if (section.name === 'program') {
    return { name: 'program', options: { learningRate: section.learningRate ?? 1, program: section.program ?? '' } };
  }
  return { name: section.name, options: section[section.name] } as ResolvedOptimizer;
}

/**
 * A one-line hint when Lion gets a learning rate that looks tuned for AdamW: 1e-3 or more, unless the
 * config's own AdamW block already sets one at least 3x larger (then the paper's rule was followed).
 */
export function lionHint(section: OptimizerConfig): string | undefined {
  const resolved = optimizerOptions(section);
  if (resolved.name !== 'lion' || resolved.options.learningRate < 1e-3) return undefined;
  const adamwRate = section.adamw?.learningRate;
  if (adamwRate !== undefined && resolved.options.learningRate * 3 <= adamwRate) return undefined;
  return `hint: Lion's learningRate ${resolved.options.learningRate} looks like an AdamW value; the Lion paper uses a 3-10x smaller learning rate and a 3-10x larger weight decay than AdamW`;
}
