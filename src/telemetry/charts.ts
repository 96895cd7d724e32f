/**
 * The report's charts as vega-lite specs: one series per run, the same colour for a run in every
 * chart. Pure data in, specs out; report.ts renders them to SVG.
 *
 *   loss (log scale) and accuracy  ×  step, wall time, FLOPs    (train solid, validation dashed)
 *   learning rate against step (every step, from the run's schedule)
 *   examples per second against step
 *   optimizer-state memory per run, labelled with its optimizer
 */
import type { TopLevelSpec } from 'vega-lite';
import type { ScheduleConfig } from '../config/types.generated.js';
import { multiplierSchedule, scheduleSpec } from '../optim/schedules.js';
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

const WIDTH = 520;
const HEIGHT = 250;
/** Tableau 20: ten distinct hues, then their light pairs, so up to 20 runs each get their own colour. */
const PALETTE = [
  '#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#9d7660', '#499894', '#d37295', '#b6992d', '#79706e',
  '#a0cbe8', '#ffbe7d', '#8cd17d', '#ff9d9a', '#d4a6c8', '#d7b5a6', '#86bcb6', '#fabfd2', '#f1ce63', '#bab0ac',
];
/** At most this many points per run on the learning-rate chart (evenly spaced steps past it). */
const LR_POINTS = 1000;

/** The colour of each run, the same in every chart and in the report's one legend; past 20 runs colours repeat. */
export function runColours(labels: readonly string[]): string[] {
  return labels.map((_, i) => PALETTE[i % PALETTE.length]);
}

/**
 * The learning rate at every step of a run (1-based, as logged), from its schedule in config.yaml:
 * lr(step) = peak · multiplier(step − 1), the peak read off the logged points. Used only when every
 * logged point agrees on one peak (an lr that is not peak · multiplier, as Adafactor's relative step,
 * keeps its logged points). Past LR_POINTS steps, evenly spaced steps plus the logged ones.
 */
function everyStepLearningRate(run: RunData, logged: { step: number; lr: number }[]): { step: number; lr: number }[] {
  const schedule = run.config?.schedule as ScheduleConfig | undefined;
  const total = run.summary.totalSteps;
  if (!schedule || !(total > 0) || logged.length === 0) return logged;
  let multiplier: (step: number) => number;
  try {
    multiplier = multiplierSchedule(scheduleSpec(schedule, total), total);
  } catch {
    return logged;
  }
  const peaks = logged.filter((p) => multiplier(p.step - 1) > 0).map((p) => p.lr / multiplier(p.step - 1));
  if (peaks.length === 0 || peaks.some((peak) => !(Math.abs(peak - peaks[0]) <= 1e-5 * Math.abs(peaks[0])))) return logged;
  const last = Math.max(...logged.map((p) => p.step));
  const stride = Math.max(1, Math.ceil(last / LR_POINTS));
  const steps = new Set(logged.map((p) => p.step));
  for (let step = 1; step <= last; step += stride) steps.add(step);
  return [...steps].sort((a, b) => a - b).map((step) => ({ step, lr: peaks[0] * multiplier(step - 1) }));
}

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
    const logged: { step: number; lr: number }[] = [];
    for (const r of run.metrics) {
      if (r.split !== 'train' && r.split !== 'validation') continue;
      const point: CurvePoint = { run: labels[i], split: r.split, step: r.step, elapsed: finite(r.elapsed) ? r.elapsed : NaN, flops: r.step * perStep };
      if (finite(r.loss)) point.loss = r.loss;
      if (finite(r.accuracy)) point.accuracy = r.accuracy;
      if (point.loss !== undefined || point.accuracy !== undefined) points.push(point);
      if (r.split === 'train' && finite(r.lr)) logged.push({ step: r.step, lr: r.lr });
    }
    for (const p of everyStepLearningRate(run, logged)) lrPoints.push({ run: labels[i], ...p });
    for (const r of run.compute) if (finite(r.examplesPerSecond)) speedPoints.push({ run: labels[i], step: r.step, examplesPerSecond: r.examplesPerSecond });
  });

  const color = {
    field: 'run',
    type: 'nominal',
    title: 'run',
    scale: { domain: [...labels], range: runColours(labels) },
    // One legend of runs for the whole report (report.ts), not one under every chart.
    legend: null,
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
          strokeDash: { field: 'split', type: 'nominal', title: 'split', scale: { domain: ['train', 'validation'], range: [[1, 0], [5, 3]] }, legend: { orient: 'top', direction: 'horizontal', symbolType: 'stroke', symbolStrokeWidth: 1.5, encode: { symbols: { update: { stroke: { value: '#444' } } } } } },
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
  const stepSeries = (id: string, title: string, values: object[], y: Record<string, unknown>, points = true) => {
    if (values.length === 0) return;
    charts.push({
      id,
      title,
      spec: {
        ...base,
        title,
        data: { values },
        mark: { type: 'line', point: points ? { size: 16 } : false, strokeWidth: 1.5 },
        encoding: { x: axes.step, y: { type: 'quantitative', ...y }, color },
      } as TopLevelSpec,
    });
  };
  stepSeries('lr-step', 'Learning rate against step', lrPoints, { field: 'lr', title: 'learning rate', axis: { format: '.1e' } }, false);
  stepSeries('speed-step', 'Examples per second', speedPoints, { field: 'examplesPerSecond', title: 'examples / s' });
  const memory = runs
    .map((run, i) => ({ run: labels[i], optimizer: run.summary.optimizer, bytes: run.summary.optimizerStateBytes, text: `${run.summary.optimizer}: ${formatBytes(run.summary.optimizerStateBytes)}` }))
    .filter((m) => finite(m.bytes));
  if (memory.length > 0) {
    const y = { field: 'run', type: 'nominal', title: null, sort: [...labels], axis: { labelLimit: 260 } } as const;
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

/** Renders vega-lite specs to SVG strings in Node (vega and vega-lite load here, on first use). */
export async function renderSvgs(specs: readonly TopLevelSpec[]): Promise<string[]> {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  const svgs: string[] = [];
  for (const spec of specs) {
    const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
    svgs.push(await view.toSVG());
    view.finalize();
  }
  return svgs;
}
