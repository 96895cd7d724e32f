/**
 * The report's charts as vega-lite specs: one series per run, the same colour for a run in every
 * chart. Pure data in, specs out; report.ts renders them to SVG.
 *
 *   loss (log scale) and accuracy  ×  step, wall time, FLOPs    (train solid, validation dashed)
 *   learning rate against step
 *   examples per second against step
 *   optimizer-state memory per run, labelled with its optimizer
 */
import type { TopLevelSpec } from 'vega-lite';
import type { RunData } from './run-reader.js';
import { formatBytes } from './table.js';

export interface Chart {
  id: string;
  title: string;
  spec: TopLevelSpec;
}

interface CurvePoint {
  run: string;
  split: string;
  step: number;
  elapsed: number;
  flops: number;
  loss?: number;
  accuracy?: number;
}

const WIDTH = 420;
const HEIGHT = 230;
const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#eeca3b', '#9d755d', '#ff9da6', '#bab0ac'];

function flopsPerStep(run: RunData): number {
  const logged = run.compute.find((r) => typeof r.flopsPerStep === 'number')?.flopsPerStep as number | undefined;
  if (logged !== undefined) return logged;
  return run.summary.steps > 0 ? run.summary.totals.flops / run.summary.steps : 0;
}

const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

export function buildCharts(runs: readonly RunData[], labels: readonly string[]): Chart[] {
  const points: CurvePoint[] = [];
  const lrPoints: { run: string; step: number; lr: number }[] = [];
  const speedPoints: { run: string; step: number; examplesPerSecond: number }[] = [];
  runs.forEach((run, i) => {
    const perStep = flopsPerStep(run);
    for (const r of run.metrics) {
      if (r.split !== 'train' && r.split !== 'validation') continue;
      const point: CurvePoint = { run: labels[i], split: r.split, step: r.step, elapsed: finite(r.elapsed) ? r.elapsed : NaN, flops: r.step * perStep };
      if (finite(r.loss)) point.loss = r.loss;
      if (finite(r.accuracy)) point.accuracy = r.accuracy;
      if (point.loss !== undefined || point.accuracy !== undefined) points.push(point);
      if (r.split === 'train' && finite(r.lr)) lrPoints.push({ run: labels[i], step: r.step, lr: r.lr });
    }
    for (const r of run.compute) if (finite(r.examplesPerSecond)) speedPoints.push({ run: labels[i], step: r.step, examplesPerSecond: r.examplesPerSecond });
  });

  const color = {
    field: 'run',
    type: 'nominal',
    title: 'run',
    scale: { domain: [...labels], range: labels.map((_, i) => PALETTE[i % PALETTE.length]) },
    legend: { orient: 'bottom', direction: 'vertical', labelLimit: WIDTH, titleFontWeight: 'normal' },
  } as const;
  const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', width: WIDTH, height: HEIGHT, background: 'white', config: { font: 'sans-serif' } } as const;
  const axes = {
    step: { field: 'step', type: 'quantitative', title: 'step' },
    elapsed: { field: 'elapsed', type: 'quantitative', title: 'wall time (s)' },
    flops: { field: 'flops', type: 'quantitative', title: 'FLOPs', axis: { format: '.2s' } },
  } as const;

  const charts: Chart[] = [];
  const curve = (metric: 'loss' | 'accuracy', x: keyof typeof axes, title: string) => {
    const values = points.filter((p) => p[metric] !== undefined && Number.isFinite(p[x]));
    if (values.length === 0) return;
    charts.push({
      id: `${metric}-${x}`,
      title,
      spec: {
        ...base,
        title,
        data: { values },
        mark: { type: 'line', point: { size: 16 }, strokeWidth: 1.5 },
        encoding: {
          x: axes[x],
          // Loss on a log scale: the first steps would otherwise flatten the differences that matter.
          y: metric === 'loss' && values.every((p) => p.loss! > 0) ? { field: 'loss', type: 'quantitative', title: 'loss (log scale)', scale: { type: 'log', nice: false } } : { field: metric, type: 'quantitative', title: metric, scale: { zero: false }, ...(metric === 'accuracy' ? { axis: { format: '.0%' } } : {}) },
          color,
          strokeDash: { field: 'split', type: 'nominal', title: 'split', scale: { domain: ['train', 'validation'], range: [[1, 0], [5, 3]] }, legend: { orient: 'bottom', symbolType: 'stroke', symbolStrokeWidth: 1.5, encode: { symbols: { update: { stroke: { value: '#444' } } } } } },
          tooltip: [{ field: 'run' }, { field: 'split' }, { field: 'step' }, { field: metric, format: '.4f' }],
        },
      } as TopLevelSpec,
    });
  };
  curve('loss', 'step', 'Loss against step');
  curve('loss', 'elapsed', 'Loss against wall time');
  curve('loss', 'flops', 'Loss against FLOPs');
  curve('accuracy', 'step', 'Accuracy against step');
  curve('accuracy', 'elapsed', 'Accuracy against wall time');
  curve('accuracy', 'flops', 'Accuracy against FLOPs');

  /** One line per run of a per-step series (learning rate, throughput). */
  const stepSeries = (id: string, title: string, values: object[], y: Record<string, unknown>) => {
    if (values.length === 0) return;
    charts.push({
      id,
      title,
      spec: {
        ...base,
        title,
        data: { values },
        mark: { type: 'line', point: { size: 16 }, strokeWidth: 1.5 },
        encoding: { x: axes.step, y: { type: 'quantitative', ...y }, color },
      } as TopLevelSpec,
    });
  };
  stepSeries('lr-step', 'Learning rate against step', lrPoints, { field: 'lr', title: 'learning rate', axis: { format: '.1e' } });
  stepSeries('speed-step', 'Examples per second', speedPoints, { field: 'examplesPerSecond', title: 'examples / s' });
  const memory = runs
    .map((run, i) => ({ run: labels[i], optimizer: run.summary.optimizer, bytes: run.summary.optimizerStateBytes, text: `${run.summary.optimizer}: ${formatBytes(run.summary.optimizerStateBytes)}` }))
    .filter((m) => finite(m.bytes));
  if (memory.length > 0) {
    const y = { field: 'run', type: 'nominal', title: null, sort: [...labels], axis: { labelLimit: 600 } } as const;
    charts.push({
      id: 'optimizer-state',
      title: 'Optimizer-state memory',
      spec: {
        ...base,
        height: { step: 24 },
        title: 'Optimizer-state memory',
        data: { values: memory },
        encoding: { y, x: { field: 'bytes', type: 'quantitative', title: 'bytes', axis: { format: '.3s' }, scale: { nice: true } } },
        layer: [
          { mark: { type: 'bar' }, encoding: { color: { ...color, legend: null }, tooltip: [{ field: 'run' }, { field: 'optimizer' }, { field: 'bytes', format: ',' }] } },
          { mark: { type: 'text', align: 'left', dx: 4, fontSize: 11 }, encoding: { text: { field: 'text' } } },
        ],
      } as TopLevelSpec,
    });
  }
  return charts;
}
