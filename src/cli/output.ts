/** Where the CLI writes: results to stdout, diagnostics to stderr. Kept in one place so tests can read them. */
export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function err(line: string): void {
  process.stderr.write(`${line}\n`);
}
