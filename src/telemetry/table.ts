/** Tables for the terminal (aligned columns) and for Markdown (CI comments), and the number formats they share. */

export type Align = 'left' | 'right';

export interface Table {
  headers: string[];
  rows: string[][];
  /** Per column; default: left for the first column, right for the others. */
  align?: Align[];
  /** Markdown only: pad cells to their column's width, so the source reads as a table too. */
  padded?: boolean;
}

function alignments(table: Table): Align[] {
  return table.headers.map((_, i) => table.align?.[i] ?? (i === 0 ? 'left' : 'right'));
}

/** Columns padded to their widest cell, two spaces apart, a rule under the header. */
export function textTable(table: Table): string {
  const align = alignments(table);
  const widths = table.headers.map((header, i) => Math.max(header.length, ...table.rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (align[i] === 'right' ? (cell ?? '').padStart(widths[i]) : (cell ?? '').padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(table.headers), widths.map((w) => '-'.repeat(w)).join('  '), ...table.rows.map(line)].join('\n');
}

export function markdownTable(table: Table): string {
  const align = alignments(table);
  const escape = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const headers = table.headers.map(escape);
  const rows = table.rows.map((row) => row.map(escape));
  const widths = table.padded ? headers.map((h, i) => Math.max(h.length, 4, ...rows.map((row) => (row[i] ?? '').length))) : headers.map(() => 0);
  const pad = (text: string, i: number) => (align[i] === 'right' ? text.padStart(widths[i]) : text.padEnd(widths[i]));
  const line = (cells: string[]) => `| ${cells.map(pad).join(' | ')} |`;
  const rule = align.map((a, i) => (a === 'right' ? `${'-'.repeat(Math.max(widths[i] - 1, 3))}:` : `:${'-'.repeat(Math.max(widths[i] - 1, 3))}`));
  return [line(headers), `|${rule.map((r) => (table.padded ? ` ${r} ` : r)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** Four significant digits, no exponent for everyday sizes: 0.9219, 12.35, 0.0003, 1.235e+06. */
export function formatNumber(value: number | undefined | null): string {
  if (value === undefined || value === null) return '-';
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e7) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e7)) return value.toExponential(3);
  return String(Number(value.toPrecision(4)));
}

export function formatPercent(fraction: number | undefined | null): string {
  return fraction === undefined || fraction === null ? '-' : `${(100 * fraction).toFixed(2)}%`;
}

export function formatBytes(bytes: number | undefined | null): string {
  if (bytes === undefined || bytes === null) return '-';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatSeconds(seconds: number | undefined | null): string {
  if (seconds === undefined || seconds === null) return '-';
  if (seconds < 59.95) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
