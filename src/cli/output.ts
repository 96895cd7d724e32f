/** Where the CLI writes: results to stdout, diagnostics to stderr. Kept in one place so tests can read them. */
export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function err(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** `1 run`, `3 runs`: a count and its noun, in the plural unless the count is one. */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}
