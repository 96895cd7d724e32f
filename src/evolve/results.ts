/**
 * What a search leaves for a person: summary.json (the figures), best.yaml (an optimizer section ready for
 * `extends:`), top.md (the best programs, simplified, beside the seed and the baselines at every stage).
 */
import { join } from 'node:path';
import { stringify } from 'yaml';
import { writeFileAtomic, writeJsonAtomic } from '../atomic-write.js';
import { parseProgram } from '../program/parse.js';
import { printProgram } from '../program/print.js';
import { simplifyProgram } from '../program/simplify.js';
import type { HistoryRecord } from './history.js';
import type { SearchSettings } from './settings.js';

/** funnel.json: each stage's fitness for the baselines, the seed and the programs promoted into it. */
export interface FunnelTable {
  metric: string;
  stages: Array<{
    name: string;
    baselines: Record<string, number | null>;
    seed: { program: string; fitness: number | null } | null;
    programs: Array<{ hash: string; id: number; program: string; fitness: number | null }>;
  }>;
}

export interface EvolveSummary {
  status: 'completed' | 'interrupted';
  metric: string;
  mode: 'min' | 'max';
  candidates: number;
  /** Candidates trained (the rest were cache hits). */
  evaluated: number;
  cacheHits: number;
  cacheHitRate: number;
  uniquePrograms: number;
  failed: number;
  restarts: number;
  jobs: number;
  /** Trained candidates per minute of search wall time (cache hits not counted). */
  evaluatedPerMinute: number;
  elapsedSeconds: number;
  best: { id: number; stage: string; fitness: number; program: string } | null;
  seed: Record<string, number | null>;
  baselines: Record<string, Record<string, number | null>>;
}

export interface ResultInput {
  status: EvolveSummary['status'];
  settings: SearchSettings;
  records: HistoryRecord[];
  funnel: FunnelTable;
  elapsedMs: number;
  evaluated: number;
  evaluationMs: number;
  restarts: number;
  jobs: number;
}

/** The simplified program (dead statements removed, constants folded, canonical local names). */
export function simplifiedText(program: string): string {
  return printProgram(simplifyProgram(parseProgram(program)), { canonicalNames: true });
}

/** Writes summary.json, best.yaml and top.md into `dir`; returns the summary. */
export function writeResults(dir: string, input: ResultInput): EvolveSummary {
  const { settings, records, funnel } = input;
  const mode = settings.evolution.mode;
  const better = (a: number, b: number) => (mode === 'min' ? a < b : a > b);
  const proxyName = settings.stages[0].name;
  const cacheHits = records.filter((r) => r.cacheHit).length;

  // The best program: the best on the last stage that trained any, else the best proxy candidate.
  let best: EvolveSummary['best'] = null;
  for (const stage of [...funnel.stages].reverse()) {
    for (const p of stage.programs) if (p.fitness !== null && (!best || better(p.fitness, best.fitness))) best = { id: p.id, stage: stage.name, fitness: p.fitness, program: p.program };
    if (best) break;
  }
  if (!best) {
    for (const r of records) {
      const f = r.fitness[proxyName];
      if (f !== null && f !== undefined && (!best || better(f, best.fitness))) best = { id: r.id, stage: proxyName, fitness: f, program: r.program };
    }
  }
  const summary: EvolveSummary = {
    status: input.status,
    metric: settings.metric,
    mode,
    candidates: records.length,
    evaluated: input.evaluated,
    cacheHits,
    cacheHitRate: records.length === 0 ? 0 : cacheHits / records.length,
    uniquePrograms: new Set(records.map((r) => r.hash)).size,
    failed: records.filter((r) => Object.values(r.fitness)[0] === null).length,
    restarts: input.restarts,
    jobs: input.jobs,
    evaluatedPerMinute: input.elapsedMs > 0 ? input.evaluated / (input.elapsedMs / 60_000) : 0,
    elapsedSeconds: input.elapsedMs / 1000,
    best: best ? { ...best, program: simplifiedText(best.program) } : null,
    seed: Object.fromEntries(funnel.stages.map((s) => [s.name, s.seed?.fitness ?? null])),
    baselines: Object.fromEntries(funnel.stages.map((s) => [s.name, s.baselines])),
  };
  writeJsonAtomic(join(dir, 'summary.json'), summary);
  if (best) writeFileAtomic(join(dir, 'best.yaml'), bestYaml(summary));
  writeFileAtomic(join(dir, 'top.md'), topMarkdown(summary, records, funnel, proxyName));
  return summary;
}

function bestYaml(summary: EvolveSummary): string {
  const best = summary.best!;
  const header = [
    `# Found by lion-train evolve: candidate ${best.id}, ${summary.metric} ${best.fitness.toPrecision(5)} on stage ${best.stage}.`,
    '# Use it with `extends: <this file>` in a run config (the program scales lr itself: learningRate stays 1).',
  ];
  return `${header.join('\n')}\n${stringify({ optimizer: { name: 'program', learningRate: 1, program: best.program } })}`;
}

function topMarkdown(summary: EvolveSummary, records: HistoryRecord[], funnel: FunnelTable, proxyName: string): string {
  const lines = [`# Search results: ${summary.metric} (${summary.mode})`, ''];
  lines.push(`${summary.candidates} candidates, ${summary.evaluated} trained, cache hit rate ${(100 * summary.cacheHitRate).toFixed(1)} %, ${summary.restarts} restarts, ${summary.evaluatedPerMinute.toFixed(1)} trained per minute.`, '');
  for (const stage of funnel.stages) {
    lines.push(`## Stage ${stage.name}`, '', '| program | fitness |', '|---|---:|');
    for (const [name, value] of Object.entries(stage.baselines)) lines.push(`| ${name} (built in) | ${fmt(value)} |`);
    if (stage.seed) lines.push(`| seed: ${stage.seed.program} | ${fmt(stage.seed.fitness)} |`);
    for (const p of stage.programs) lines.push(`| candidate ${p.id} | ${fmt(p.fitness)} |`);
    lines.push('');
  }
  const ranked = records
    .filter((r) => !r.cacheHit && r.fitness[proxyName] !== null)
    .sort((a, b) => (summary.mode === 'min' ? a.fitness[proxyName]! - b.fitness[proxyName]! : b.fitness[proxyName]! - a.fitness[proxyName]!));
  const seen = new Set<string>();
  lines.push(`## Best programs on ${proxyName}, simplified`, '');
  for (const r of ranked) {
    if (seen.has(r.hash)) continue;
    seen.add(r.hash);
    lines.push(`### Candidate ${r.id}: ${fmt(r.fitness[proxyName])}`, '', '```', simplifiedText(r.program).trimEnd(), '```', '');
    if (seen.size === 5) break;
  }
  return `${lines.join('\n')}\n`;
}

function fmt(value: number | null | undefined): string {
  return value === null || value === undefined ? 'failed' : value.toPrecision(5);
}
