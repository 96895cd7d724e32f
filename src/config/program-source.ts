/**
 * `optimizer.name: program`: where the program text comes from (`optimizer.program` inline, or
 * `optimizer.programFile`, relative to the config file that names it) and its problems, located in
 * the YAML file (`configs/x.yaml:12:14 optimizer.program line 3: …`) or in the program file
 * (`programs/x.opt:3:14 optimizer.programFile: …`).
 */
import { InputFileError, readInputText } from '../files/input-file.js';
import { dirname, resolve } from 'node:path';
import { checkProgram, parseProgram, ProgramError, type ProgramProblem } from '../program/index.js';
import { displayPath } from './extends.js';
import { fileWhere, type ConfigProblem, type Origin } from './problems.js';

export interface ProgramSource {
  text: string;
  /** Absolute path of the program file, when it came from `programFile`. */
  file?: string;
}

/** The absolute path `programFile` names (relative to the config file that wrote it, or the working directory for --set). */
export function programFilePath(programFile: string, origin: Origin | undefined): string {
  const base = origin?.kind === 'file' ? dirname(resolve(origin.file)) : process.cwd();
  return resolve(base, programFile);
}

/** The program's problems (parse, then check), each located in the YAML file or the program file. */
export function programProblems(text: string, locate: (p: ProgramProblem) => ConfigProblem): ConfigProblem[] {
  try {
    return checkProgram(parseProgram(text)).problems.map(locate);
  } catch (error) {
    if (error instanceof ProgramError) return error.problems.map(locate);
    throw error;
  }
}

/** Locates a problem of an inline program in the YAML file (block scalars `|`, `>` and one-line values). */
export function inlineLocator(origin: Origin | undefined, fallback: string): (p: ProgramProblem) => ConfigProblem {
  return (p) => {
    const path = `optimizer.program line ${p.line}`;
    if (origin?.kind === 'set') return { where: `--set ${origin.text}`, path, message: `column ${p.column}: ${p.message}` };
    if (origin?.kind !== 'file') return { where: fallback, path, message: p.message };
    let lines: string[] = [];
    try {
      lines = readInputText(origin.file).split(/\r?\n/);
    } catch {
      return { where: fileWhere(origin.file, origin.line, origin.column), path, message: p.message };
    }
    const head = lines[origin.line - 1] ?? '';
    const indicator = head[origin.column - 1];
    if (indicator === '|' || indicator === '>') {
      const fileLine = origin.line + p.line;
      const indent = (lines[fileLine - 1] ?? '').match(/^ */)![0].length;
      return { where: fileWhere(origin.file, fileLine, indent + p.column), path, message: p.message };
    }
    const quoted = indicator === '"' || indicator === "'" ? 1 : 0;
    return { where: fileWhere(origin.file, origin.line + p.line - 1, origin.column + quoted + p.column - 1), path, message: p.message };
  };
}

/** Locates a problem of a program file in that file. */
export function fileLocator(file: string): (p: ProgramProblem) => ConfigProblem {
  return (p) => ({ where: fileWhere(displayPath(file), p.line, p.column), path: 'optimizer.programFile', message: p.message });
}

/** Reads a program file (a regular file of at most 1 MiB), or a problem naming it. */
export function readProgramFile(file: string): string | { message: string } {
  try {
    return readInputText(file, { what: 'an optimizer program', maxBytes: 1024 * 1024 });
  } catch (error) {
    if (!(error instanceof InputFileError)) throw error;
    return { message: error.reason === 'no such file' ? `no such file: ${displayPath(file)}` : `${displayPath(file)}: ${error.reason}` };
  }
}
