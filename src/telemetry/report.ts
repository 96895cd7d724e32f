/**
 * `lion-train report`: runs (or sweep directories, or shards of one sweep copied from several
 * machines) → report.html, one self-contained page (inline CSS and SVG, no scripts, nothing fetched),
 * and report.md, the same table of final metrics for a CI comment.
 * Charts are vega-lite specs (charts.ts) rendered to SVG here, in Node.
 */
import { join } from 'node:path';
import { makeDirectory, writeFileAtomic } from '../atomic-write.js';
import { buildCharts, renderSvgs, runColours, type Chart } from './charts.js';
import { displayPath, findRunDirs, readRun, runLabels, type RunData } from './run-reader.js';
import { formatBytes, formatNumber, formatPercent, formatSeconds, markdownTable, type Table } from './table.js';

export interface ReportOptions {
  title?: string;
  /** Where paths in the report are shown relative to (default: the working directory). */
  cwd?: string;
  now?: Date;
}

export interface ReportResult {
  runs: RunData[];
  labels: string[];
  charts: Chart[];
  html: string;
  markdown: string;
}

/**
 * The runs at or under `paths`. A trial found in several copies of a sweep (shards gathered from many
 * machines) counts once: the completed copy, else the newest.
 */
export function gatherRuns(paths: readonly string[]): RunData[] {
  const byKey = new Map<string, RunData>();
  for (const dir of findRunDirs(paths)) {
    let run: RunData;
    try {
      run = readRun(dir);
    } catch {
      continue;
    }
    const key = run.trial ? `trial:${run.trial.name}` : `dir:${run.dir}`;
    const seen = byKey.get(key);
    if (!seen || preferred(run, seen)) byKey.set(key, run);
  }
  return [...byKey.values()];
}

function preferred(a: RunData, b: RunData): boolean {
  const done = (r: RunData) => (r.summary.status === 'completed' ? 1 : 0);
  if (done(a) !== done(b)) return done(a) > done(b);
  return (a.summary.finishedAt ?? a.summary.startedAt ?? '') > (b.summary.finishedAt ?? b.summary.startedAt ?? '');
}

/** Best first: by final test accuracy when every run has one, else test loss, else validation loss, else by label. */
function rank(runs: RunData[], labels: string[]): number[] {
  const order = runs.map((_, i) => i);
  const test = (i: number, key: string) => runs[i].summary.final.test?.[key];
  if (order.every((i) => typeof test(i, 'accuracy') === 'number')) return order.sort((a, b) => test(b, 'accuracy')! - test(a, 'accuracy')! || labels[a].localeCompare(labels[b]));
  if (order.every((i) => typeof test(i, 'loss') === 'number')) return order.sort((a, b) => test(a, 'loss')! - test(b, 'loss')! || labels[a].localeCompare(labels[b]));
  const validation = (i: number) => runs[i].summary.final.validation?.loss;
  if (order.every((i) => typeof validation(i) === 'number')) return order.sort((a, b) => validation(a)! - validation(b)! || labels[a].localeCompare(labels[b]));
  return order.sort((a, b) => labels[a].localeCompare(labels[b]));
}

const TEXT_COLUMNS = ['run', 'optimizer', 'status', 'best', 'backend', 'directory'];
/** Columns whose long values wrap in the HTML table (everything else stays on one line). */
const WRAPPING_COLUMNS = ['run', 'best'];

function metricsTable(runs: RunData[], labels: string[], cwd: string): Table {
  const has = (split: 'train' | 'validation' | 'test', key: string) => runs.some((r) => typeof r.summary.final[split]?.[key] === 'number');
  const columns: { header: string; cell: (run: RunData, label: string) => string }[] = [
    { header: 'run', cell: (_, label) => label },
    { header: 'optimizer', cell: (run) => run.summary.optimizer },
    { header: 'status', cell: (run) => run.summary.status },
    { header: 'steps', cell: (run) => `${run.summary.steps}` },
  ];
  const metric = (split: 'train' | 'validation' | 'test', key: string, header: string, percent = false) => {
    if (has(split, key)) columns.push({ header, cell: (run) => (percent ? formatPercent : formatNumber)(run.summary.final[split]?.[key]) });
  };
  metric('test', 'accuracy', 'test accuracy', true);
  metric('test', 'loss', 'test loss');
  metric('test', 'bitsPerChar', 'test bits/char');
  metric('validation', 'accuracy', 'val accuracy', true);
  metric('validation', 'loss', 'val loss');
  metric('validation', 'bitsPerChar', 'val bits/char');
  metric('train', 'loss', 'train loss');
  metric('train', 'bitsPerChar', 'train bits/char');
  columns.push(
    { header: 'best', cell: (run) => (run.summary.best ? `${run.summary.best.metric} ${formatNumber(run.summary.best.value)} @${run.summary.best.step}` : '-') },
    { header: 'examples/s', cell: (run) => formatNumber(Math.round(run.summary.totals.examplesPerSecond)) },
    { header: 'optimizer state', cell: (run) => formatBytes(run.summary.optimizerStateBytes) },
    { header: 'backend', cell: (run) => run.summary.backend },
    { header: 'wall time', cell: (run) => formatSeconds(run.summary.totals.wallSeconds) },
    { header: 'directory', cell: (run) => displayPath(run.dir, cwd) },
  );
  const order = rank(runs, labels);
  return {
    headers: columns.map((c) => c.header),
    rows: order.map((i) => columns.map((c) => c.cell(runs[i], labels[i]))),
    align: columns.map((c) => (TEXT_COLUMNS.includes(c.header) ? 'left' : 'right')),
  };
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * The final-metrics table as HTML, narrow enough for a laptop screen: the directory column becomes the
 * run cell's tooltip (the page names the folders it read), and trial labels may break after a comma.
 */
function htmlTable(table: Table): string {
  const dirColumn = table.headers.indexOf('directory');
  const shown = table.headers.map((_, i) => i).filter((i) => i !== dirColumn);
  const cls = (i: number) => (table.align?.[i] === 'right' ? ' class="num"' : WRAPPING_COLUMNS.includes(table.headers[i]) ? ' class="wrap"' : '');
  const cell = (row: string[], i: number) => {
    const text = escapeHtml(row[i]);
    if (table.headers[i] !== 'run') return `<td${cls(i)}>${text}</td>`;
    const title = dirColumn >= 0 ? ` title="${escapeHtml(row[dirColumn])}"` : '';
    return `<td${cls(i)}${title}>${text.replace(/,/g, ',<wbr>')}</td>`;
  };
  const head = shown.map((i) => `<th${cls(i)}>${escapeHtml(table.headers[i])}</th>`).join('');
  const body = table.rows.map((row) => `<tr>${shown.map((i) => cell(row, i)).join('')}</tr>`).join('\n');
  return `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #222; background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 10px; }
.meta { color: #666; margin: 0 0 16px; }
table { border-collapse: collapse; background: white; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e3e3e3; text-align: left; white-space: nowrap; vertical-align: top; }
th { background: #f0f0f0; white-space: normal; vertical-align: bottom; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { white-space: normal; overflow-wrap: break-word; min-width: 7em; max-width: 16em; }
.table-wrap { overflow-x: auto; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 0 0 12px; padding: 0; list-style: none; font-size: 13px; }
.legend li { display: flex; align-items: center; gap: 6px; }
.legend .swatch { width: 18px; height: 4px; border-radius: 2px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 560px), 1fr)); gap: 16px; }
figure { margin: 0; padding: 8px; background: white; border: 1px solid #e3e3e3; border-radius: 4px; min-width: 0; }
figure svg { display: block; width: 100%; height: auto; }
`;

export async function buildReport(paths: readonly string[], options: ReportOptions = {}): Promise<ReportResult> {
  const cwd = options.cwd ?? process.cwd();
  const runs = gatherRuns(paths);
  const labels = runLabels(runs);
  const charts = buildCharts(runs, labels);
  const colours = runColours(labels);
  const svgs = await renderSvgs(charts.map((chart) => chart.spec));
  const title = options.title ?? (runs.length === 1 ? `Run ${runs[0].summary.name}` : `${runs.length} runs`);
  const table = metricsTable(runs, labels, cwd);
  const generated = (options.now ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z');
  const sources = paths.map((p) => displayPath(p, cwd)).join(', ');

  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} — lion-train report</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="meta">lion-train report of ${runs.length} run${runs.length === 1 ? '' : 's'} from ${escapeHtml(sources)}, generated ${generated}</p>
<h2>Final metrics</h2>
<div class="table-wrap">
${htmlTable(table)}
</div>
<h2>Charts</h2>
<ul class="legend" aria-label="runs">
${labels.map((label, i) => `<li><span class="swatch" style="background:${colours[i]}"></span>${escapeHtml(label)}</li>`).join('\n')}
</ul>
<div class="charts">
${charts.map((chart, i) => `<figure id="${chart.id}" aria-label="${escapeHtml(chart.title)}">\n${svgs[i]}\n</figure>`).join('\n')}
</div>
</body>
</html>
`;
  const markdown = `# ${title}\n\n${runs.length} run${runs.length === 1 ? '' : 's'} from ${sources}; charts in report.html.\n\n${markdownTable(table)}\n`;
  return { runs, labels, charts, html, markdown };
}

export async function writeReport(paths: readonly string[], outDir: string, options: ReportOptions = {}): Promise<ReportResult> {
  const report = await buildReport(paths, options);
  makeDirectory(outDir);
  writeFileAtomic(join(outDir, 'report.html'), report.html);
  writeFileAtomic(join(outDir, 'report.md'), report.markdown);
  return report;
}
