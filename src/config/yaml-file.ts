/** Reads one YAML config file into plain data plus the position of every key and value. */
import { closeSync, readFileSync } from 'node:fs';
import { InputFileError, openInputFile } from '../files/input-file.js';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { ConfigError, FORBIDDEN_KEYS, fileWhere, pathKey, type ConfigProblem, type Origin } from './problems.js';

export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Aliases may be expanded at most this many times in total: an alias bomb fails fast. */
export const MAX_ALIAS_EXPANSIONS = 1000;

export interface YamlSource {
  /** The file as the user named it (for messages). */
  file: string;
  data: Record<string, unknown>;
  origins: Map<string, Origin>;
}

export function readYamlFile(absolutePath: string, displayPath: string): YamlSource {
  const text = readConfigText(absolutePath, displayPath);
  return parseYamlText(text, displayPath);
}

function readConfigText(absolutePath: string, file: string): string {
  const fail = (message: string, line?: number, column?: number): never => {
    throw new ConfigError([{ where: fileWhere(file, line, column), path: '', message }]);
  };
  let input: { fd: number; size: number };
  try {
    input = openInputFile(absolutePath);
  } catch (error) {
    if (!(error instanceof InputFileError)) throw error;
    return fail(error.reason === 'no such file' ? 'file not found' : error.reason === 'is a directory, not a regular file' ? 'is a directory, not a config file' : error.reason);
  }
  let bytes: Buffer;
  try {
    if (input.size > MAX_CONFIG_BYTES) fail(`file is ${input.size} bytes; config files are limited to 1 MiB`);
    bytes = readFileSync(input.fd);
  } finally {
    closeSync(input.fd);
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    const { line, column } = lineAndColumn(bytes.subarray(0, nul).toString('utf8'));
    fail('binary file: a config must be UTF-8 text (found a NUL byte)', line, column);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const lenient = bytes.toString('utf8');
    const { line, column } = lineAndColumn(lenient.slice(0, Math.max(0, lenient.indexOf('\uFFFD'))));
    return fail('binary file: a config must be UTF-8 text (invalid UTF-8)', line, column);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function lineAndColumn(prefix: string): { line: number; column: number } {
  const lines = prefix.split('\n');
  return { line: lines.length, column: lines[lines.length - 1].length + 1 };
}

export function parseYamlText(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, version: '1.2' });
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return fileWhere(file, line, col);
  };
  // After the first syntax error the parser's further complaints are mostly its consequences;
  // duplicate keys are independent, so all of them are reported.
  const firstSyntaxError = doc.errors.find((e) => e.code !== 'DUPLICATE_KEY');
  const problems: ConfigProblem[] = doc.errors
    .filter((error) => error.code === 'DUPLICATE_KEY' || error === firstSyntaxError)
    .map((error) => ({
      where: at(error.pos[0]),
      path: error.code === 'DUPLICATE_KEY' ? pathKey(keyPathAt(doc.contents, error.pos[0]) ?? []) : '',
      message: yamlErrorMessage(error.code, error.message),
    }));
  if (problems.length > 0) throw new ConfigError(problems);

  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) {
    throw new ConfigError([{ where: fileWhere(file, 1, 1), path: '', message: 'empty config: expected a mapping with at least model and data' }]);
  }
  if (!isMap(root)) {
    const found = isSeq(root) ? 'a list' : 'a single value';
    throw new ConfigError([{ where: at(root.range?.[0] ?? 0), path: '', message: `expected a mapping of keys to values at the top level, found ${found}` }]);
  }

  const origins = new Map<string, Origin>([[pathKey([]), { kind: 'file', file, line: 1, column: 1, keyLine: 1, keyColumn: 1 }]]);
  walk(root, [], origins, problems, lineCounter, file, { doc, aliasNodes: 0 });
  if (problems.length > 0) throw new ConfigError(problems);

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSIONS });
  } catch (error) {
    if (error instanceof ReferenceError) {
      const bomb = /excessive alias count/i.test(error.message);
      const message = bomb
        ? `YAML aliases expand to too many nodes (more than ${MAX_ALIAS_EXPANSIONS}); refusing a possible alias bomb`
        : `YAML error: ${error.message.split('\n')[0]}`;
      throw new ConfigError([{ where: at(firstAliasOffset(root) ?? 0), path: '', message }]);
    }
    throw error;
  }
  return { file, data: data as Record<string, unknown>, origins };
}

/** The path of the mapping key that starts at `offset` (where the parser reports a duplicate key). */
function keyPathAt(node: unknown, offset: number, path: (string | number)[] = []): (string | number)[] | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = pair.key as Node | null;
      const name = isScalar(key) ? String(key.value) : '?';
      if (key?.range?.[0] === offset) return [...path, name];
      const found = keyPathAt(pair.value, offset, [...path, name]);
      if (found) return found;
    }
  } else if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) {
      const found = keyPathAt(item, offset, [...path, i]);
      if (found) return found;
    }
  }
  return undefined;
}

function yamlErrorMessage(code: string, message: string): string {
  const first = message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  if (code === 'DUPLICATE_KEY') return 'duplicate key: YAML map keys must be unique';
  return `YAML syntax error: ${first}`;
}

/**
 * Records the origin of every key and list item under `node`. Values reached through an alias
 * (`adamw: *common`) are located where the anchored value was written (`common: &common {…}` in the
 * same file): that is the text to edit. The alias itself locates the key that used it.
 */
interface WalkContext {
  doc: Document;
  /** Nodes visited through aliases so far: an alias bomb stops being walked here (toJS refuses it). */
  aliasNodes: number;
}

function walk(node: Node, path: (string | number)[], origins: Map<string, Origin>, problems: ConfigProblem[], lc: LineCounter, file: string, ctx: WalkContext): void {
  const pos = (offset: number | undefined) => lc.linePos(offset ?? 0);
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const keyNode = pair.key as Node | null;
      const keyPos = pos(keyNode?.range?.[0]);
      if (!isScalar(keyNode) || (typeof keyNode.value !== 'string' && typeof keyNode.value !== 'number')) {
        problems.push({ where: fileWhere(file, keyPos.line, keyPos.col), path: pathKey(path), message: 'keys must be plain strings' });
        continue;
      }
      const key = String(keyNode.value);
      const childPath = [...path, key];
      if (FORBIDDEN_KEYS.has(key)) {
        problems.push({ where: fileWhere(file, keyPos.line, keyPos.col), path: pathKey(childPath), message: `forbidden key "${key}"` });
        continue;
      }
      const valueNode = pair.value as Node | null;
      const valuePos = valueNode?.range ? pos(valueNode.range[0]) : keyPos;
      origins.set(pathKey(childPath), { kind: 'file', file, line: valuePos.line, column: valuePos.col, keyLine: keyPos.line, keyColumn: keyPos.col });
      if (valueNode) walk(valueNode, childPath, origins, problems, lc, file, ctx);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => {
      const itemNode = item as Node;
      const itemPos = pos(itemNode?.range?.[0]);
      origins.set(pathKey([...path, index]), { kind: 'file', file, line: itemPos.line, column: itemPos.col, keyLine: itemPos.line, keyColumn: itemPos.col });
      if (itemNode) walk(itemNode, [...path, index], origins, problems, lc, file, ctx);
    });
  } else if (isScalar(node) && typeof node.value === 'number' && !Number.isFinite(node.value)) {
    const p = pos(node.range?.[0]);
    problems.push({ where: fileWhere(file, p.line, p.col), path: pathKey(path), message: `must be a finite number, got ${node.source ?? String(node.value)}` });
  } else if (isAlias(node)) {
    // The anchored node was walked (and its keys checked) where it was written; here its values get
    // their origins under this path too, so a problem inside `adamw: *common` points at the anchor's text.
    ctx.aliasNodes += 1;
    if (ctx.aliasNodes > MAX_ALIAS_EXPANSIONS) return;
    const target = node.resolve(ctx.doc);
    if (target && !isAlias(target)) walk(target, path, origins, [], lc, file, ctx);
  }
}

function firstAliasOffset(node: Node): number | undefined {
  if (isAlias(node)) return node.range?.[0];
  const children: Node[] = isMap(node) ? node.items.flatMap((p) => [p.key as Node, p.value as Node]) : isSeq(node) ? (node.items as Node[]) : [];
  for (const child of children) {
    if (!child) continue;
    const found = firstAliasOffset(child);
    if (found !== undefined) return found;
  }
  return undefined;
}
