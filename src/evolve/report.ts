/**
 * `lion-train report <search-dir>`: a self-contained report.html (and report.md) of an evolutionary search:
 * fitness of every trained candidate against its number and against wall time, with the best-so-far line
 * and restarts marked; cache hit rate and speed; the funnel table (each promoted program against the seed
 * and the built-in baselines at each stage); the best programs' text, simplified.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { readInputText } from '../files/input-file.js';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../atomic-write.js';
import { renderSvgs } from '../telemetry/charts.js';
import { EVOLVE_MARKER, readHistory, type HistoryRecord } from './history.js';
import type { EvolveSummary, FunnelTable } from './results.js';
import { simplifiedText } from './results.js';

/** True when `dir` is a search directory of `lion-train evolve`. */
export function isSearchDirectory(dir: string): boolean {
  return existsSync(join(dir, EVOLVE_MARKER)) && existsSync(join(dir, 'history.jsonl'));
}

interface Point {
  id: number;
  minutes: number;
  fitness: number;
  best: number;
}

/** Fitness charts as vega-lite specs: candidates as points, best so far as a line, restarts as rules. */
export function searchCharts(records: HistoryRecord[], summary: Pick<EvolveSummary, 'metric' | 'mode'>): Array<{ id: string; title: string; spec: TopLevelSpec }> {
  const points: Point[] = [];
  let best: number | null = null;
  const restarts: Array<{ id: number; minutes: number }> = [];
  let generation = 0;
  for (const r of records) {
    if (r.generation > generation) {
      generation = r.generation;
      restarts.push({ id: r.id, minutes: r.elapsedMs / 60_000 });
    }
    const f = Object.values(r.fitness)[0];
    if (f === null || f === undefined || r.cacheHit) continue;
    if (best === null || (summary.mode === 'min' ? f < best : f > best)) best = f;
    points.push({ id: r.id, minutes: r.elapsedMs / 60_000, fitness: f, best });
  }
  const positive = points.every((p) => p.fitness > 0);
  const y = { field: 'fitness', type: 'quantitative', title: summary.metric, scale: positive && summary.mode === 'min' ? { type: 'log', nice: false } : { zero: false } } as const;
  const chart = (x: 'id' | 'minutes', title: string, xTitle: string) => ({
    id: `fitness-${x}`,
    title,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: 520,
      height: 260,
      background: 'white',
      title,
      layer: [
        { data: { values: points }, mark: { type: 'point', filled: true, size: 18, opacity: 0.45, color: '#4c78a8' }, encoding: { x: { field: x, type: 'quantitative', title: xTitle }, y, tooltip: [{ field: 'id', title: 'candidate' }, { field: 'fitness', format: '.5g' }] } },
        { data: { values: points }, mark: { type: 'line', interpolate: 'step-after', color: '#e45756', strokeWidth: 2 }, encoding: { x: { field: x, type: 'quantitative' }, y: { ...y, field: 'best' } } },
        ...(restarts.length > 0 ? [{ data: { values: restarts }, mark: { type: 'rule', color: '#888', strokeDash: [4, 3] }, encoding: { x: { field: x, type: 'quantitative' } } }] : []),
      ],
    } as unknown as TopLevelSpec,
  });
  return [chart('id', 'Fitness against candidate (red: best so far, dashed: restarts)', 'candidate'), chart('minutes', 'Fitness against wall time', 'minutes')];
}

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const fmt = (v: number | null | undefined) => (v === null || v === undefined ? 'failed' : v.toPrecision(5));

/** Funnel rows: stage, each baseline, the seed, each promoted candidate. */
export function funnelRows(funnel: FunnelTable): { headers: string[]; rows: string[][] } {
  const baselines = [...new Set(funnel.stages.flatMap((s) => Object.keys(s.baselines)))];
  const rows: string[][] = [];
  for (const stage of funnel.stages) {
    const fixed = [...baselines.map((b) => fmt(stage.baselines[b])), stage.seed ? fmt(stage.seed.fitness) : '-'];
    if (stage.programs.length === 0) rows.push([stage.name, ...fixed, '-', '-']);
    for (const p of stage.programs) rows.push([stage.name, ...fixed, `#${p.id}`, fmt(p.fitness)]);
  }
  return { headers: ['stage', ...baselines.map((b) => `${b} (built in)`), 'seed program', 'candidate', 'candidate fitness'], rows };
}

/**
 * Writes report.html and report.md for the search in `dir` into `outDir`.
 * @throws Error when `dir` holds no summary.json (a search that never finished a session).
 */
export async function writeSearchReport(dir: string, outDir: string): Promise<{ charts: number; candidates: number }> {
  const summaryPath = join(dir, 'summary.json');
  if (!existsSync(summaryPath)) throw new Error(`${dir} has no summary.json yet (the search has not finished a session)`);
  const summary = JSON.parse(readInputText(summaryPath)) as EvolveSummary;
  const funnel = JSON.parse(readInputText(join(dir, 'funnel.json'))) as FunnelTable;
  const records = readHistory(join(dir, 'history.jsonl'));
  const charts = searchCharts(records, summary);
  const svgs = await renderSvgs(charts.map((chart) => chart.spec));
  const table = funnelRows(funnel);
  const facts = [
    `${summary.candidates} candidates`,
    `${summary.evaluated} trained`,
    `cache hit rate ${(100 * summary.cacheHitRate).toFixed(1)} %`,
    `${summary.uniquePrograms} distinct programs`,
    `${summary.failed} failed or diverged`,
    `${summary.restarts} restarts`,
    `${summary.evaluatedPerMinute.toFixed(1)} trained per minute on ${summary.jobs} job${summary.jobs === 1 ? '' : 's'}`,
    `${(summary.elapsedSeconds / 60).toFixed(1)} minutes`,
  ];
  const best = summary.best;
  const seen = new Set<string>();
  const top = records
    .filter((r) => !r.cacheHit && Object.values(r.fitness)[0] !== null)
    .sort((a, b) => (summary.mode === 'min' ? 1 : -1) * (Object.values(a.fitness)[0]! - Object.values(b.fitness)[0]!))
    .filter((r) => !seen.has(r.hash) && seen.add(r.hash))
    .slice(0, 5);
  const programs = top.map((r) => ({ title: `Candidate ${r.id} (${r.mutation}): ${fmt(Object.values(r.fitness)[0])}`, text: simplifiedText(r.program) }));

  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Optimizer search — lion-train report</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; background: #fafafa; max-width: 1400px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 10px; }
table { border-collapse: collapse; background: white; font-size: 13px; } th, td { padding: 4px 10px; border-bottom: 1px solid #e3e3e3; text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } figure { margin: 0; padding: 8px; background: white; border: 1px solid #e3e3e3; }
figure svg { display: block; max-width: 100%; height: auto; } pre { background: white; border: 1px solid #e3e3e3; padding: 8px; overflow-x: auto; }
</style>
</head>
<body>
<h1>Optimizer search: ${escapeHtml(summary.metric)} (${summary.mode})</h1>
<p>${escapeHtml(facts.join(' · '))}</p>
${best ? `<p>Best: candidate ${best.id}, ${escapeHtml(summary.metric)} ${fmt(best.fitness)} on stage ${escapeHtml(best.stage)}.</p>` : ''}
<h2>Fitness</h2>
<div class="charts">
${charts.map((c, i) => `<figure id="${c.id}" aria-label="${escapeHtml(c.title)}">\n${svgs[i]}\n</figure>`).join('\n')}
</div>
<h2>Funnel</h2>
<table>
<thead><tr>${table.headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>
<tbody>
${table.rows.map((row) => `<tr>${row.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n')}
</tbody>
</table>
<h2>Best programs, simplified</h2>
${programs.map((p) => `<h3>${escapeHtml(p.title)}</h3>\n<pre>${escapeHtml(p.text)}</pre>`).join('\n')}
</body>
</html>
`;
  const md = [
    `# Optimizer search: ${summary.metric} (${summary.mode})`,
    '',
    facts.join(' · '),
    '',
    '## Funnel',
    '',
    `| ${table.headers.join(' | ')} |`,
    `|${table.headers.map(() => '---').join('|')}|`,
    ...table.rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    '## Best programs, simplified',
    '',
    ...programs.flatMap((p) => [`### ${p.title}`, '', '```', p.text.trimEnd(), '```', '']),
  ].join('\n');
  mkdirSync(outDir, { recursive: true });
  writeFileAtomic(join(outDir, 'report.html'), html);
  writeFileAtomic(join(outDir, 'report.md'), `${md}\n`);
  return { charts: charts.length, candidates: records.length };
}
