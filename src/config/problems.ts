/** Config problems are values: each names where it comes from, the key path and what is wrong. */

/** Where a value came from: a position in a YAML file, a --set argument, or the schema's default. */
export type Origin =
  | { kind: 'file'; file: string; line: number; column: number; keyLine: number; keyColumn: number }
  | { kind: 'set'; text: string }
  | { kind: 'default' };

export interface ConfigProblem {
  /** `configs/vit.yaml:14:5`, `--set optimizer.nmae=3`, or a bare file name when no position is known. */
  where: string;
  /** Dotted key path (`optimizer.beta1`); empty for the document as a whole. */
  path: string;
  message: string;
}

export function formatProblem(problem: ConfigProblem): string {
  const located = /:\d+:\d+$/.test(problem.where);
  const separator = located ? ' ' : ': ';
  const path = problem.path && !problem.where.startsWith(`--set ${problem.path}=`) ? `${problem.path}: ` : '';
  return `${problem.where}${separator}${path}${problem.message}`;
}

/** Thrown with every problem found, so the user sees all of them in one report. */
export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function fileWhere(file: string, line?: number, column?: number): string {
  return line === undefined ? file : `${file}:${line}:${column ?? 1}`;
}

/** The location to report for a problem at `path`, found on the nearest ancestor that has an origin. */
export function whereOf(path: string[], origins: ReadonlyMap<string, Origin>, fallbackFile: string, atKey = false): string {
  for (let depth = path.length; depth >= 0; depth--) {
    const origin = origins.get(pathKey(path.slice(0, depth)));
    if (!origin || origin.kind === 'default') continue;
    if (origin.kind === 'set') return `--set ${origin.text}`;
    const exact = depth === path.length;
    return exact && atKey
      ? fileWhere(origin.file, origin.keyLine, origin.keyColumn)
      : fileWhere(origin.file, origin.line, origin.column);
  }
  return fallbackFile;
}

export function pathKey(path: readonly (string | number)[]): string {
  return path.join('.');
}

/** Keys that would reach Object.prototype when assigned: refused everywhere. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
