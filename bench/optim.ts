/**
 * Optimizer update speed: ms per update and effective memory bandwidth, for each backend (cpu,
 * wasm), optimizer (Lion, AdamW, Adafactor) and path (fused kernel, tfjs op by op), at 1M and 10M
 * parameters; plus a STREAM-like probe of the machine's memory bandwidth from JS.
 *
 *   npm run bench:optim                  (default: 1M and 10M, everything; ~1-2 minutes on 2 cores)
 *   npm run bench:optim -- --sizes=1e6 --backends=wasm --optimizers=lion --paths=fused --repeats=9
 *
 * Byte accounting (effective GB/s = bytes / median time): the traffic the maths needs at least,
 * float32, each full-size tensor read or written once per update:
 *   Lion       read p, g, m;    write p', m'         5 × 4N bytes
 *   AdamW      read p, g, m, v; write p', m', v'     7 × 4N bytes
 *   Adafactor  read p, g;       write p'             3 × 4N bytes (+ m, m' with beta1: 5 × 4N)
 * (Adafactor's factored rows/columns are O(R + C) and left out; its kernel makes several passes,
 * so its real traffic is higher.) The probe: copy = TypedArray.set (read + write, 2 × 4N);
 * scale-add = a[i] = b[i] + s·c[i] in a JS loop (2 reads + 1 write, 3 × 4N). The best of its runs
 * is the machine's bandwidth; each optimizer's GB/s is printed as a fraction of the copy's.
 *
 * Each case is one variable of shape [N / 1000, 1000] with a fixed gradient; times cover
 * `applyGradients` only (cpu and wasm run kernels synchronously), median of the timed updates
 * after warm-up (fewer timed updates where one takes over a second: tfjs-cpu op by op at 10M).
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Adafactor, AdamW, Lion, type OptimizerAdapter } from '../src/optim/index.js';

export type BenchOptimizer = 'lion' | 'adamw' | 'adafactor';
export type BenchPath = 'fused' | 'op';

export interface BenchOptimizersOptions {
  sizes?: number[];
  backends?: string[];
  optimizers?: BenchOptimizer[];
  paths?: BenchPath[];
  /** Timed updates per case (default: 7 below 5M parameters, 3 above). */
  repeats?: number;
  /** Untimed updates first (default 2 below 5M parameters, 1 above). */
  warmup?: number;
  /** Where progress and the table go (default console.log; pass () => {} for silence). */
  log?: (line: string) => void;
}

export interface BenchRow {
  params: number;
  backend: string;
  optimizer: BenchOptimizer;
  path: BenchPath;
  msPerUpdate: number;
  gbPerSecond: number;
  /** gbPerSecond / the copy probe's GB/s. */
  fractionOfCopy: number;
  stateBytes: number;
}

export interface BandwidthProbe {
  elements: number;
  copyGBs: number;
  scaleAddGBs: number;
}

export interface BenchOptimizersResult {
  bandwidth: BandwidthProbe;
  rows: BenchRow[];
}

/** Timed updates per case are cut to fit about this much time (at least one). */
const TIME_BUDGET_MS = 3000;

const BYTES_PER_ELEMENT: Record<BenchOptimizer, number> = { lion: 5 * 4, adamw: 7 * 4, adafactor: 3 * 4 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** STREAM-like copy and scale-add over Float32Arrays of `elements` floats; best of `runs`. */
export function probeBandwidth(elements = 10_000_000, runs = 7): BandwidthProbe {
  const a = new Float32Array(elements);
  const b = new Float32Array(elements).fill(1);
  const c = new Float32Array(elements).fill(2);
  let copy = Infinity;
  let triad = Infinity;
  for (let r = 0; r < runs; r++) {
    let t = performance.now();
    a.set(b);
    copy = Math.min(copy, performance.now() - t);
    const s = 0.5 + r;
    t = performance.now();
    for (let i = 0; i < elements; i++) a[i] = b[i] + s * c[i];
    triad = Math.min(triad, performance.now() - t);
  }
  return {
    elements,
    copyGBs: (2 * 4 * elements) / (copy * 1e6),
    scaleAddGBs: (3 * 4 * elements) / (triad * 1e6),
  };
}

function makeOptimizer(kind: BenchOptimizer, fused: boolean): OptimizerAdapter<never> {
  const opt =
    kind === 'lion'
      ? new Lion({ learningRate: 1e-4, weightDecay: 0.1, fused })
      : kind === 'adamw'
        ? new AdamW({ fused })
        : new Adafactor({ fused });
  return opt as unknown as OptimizerAdapter<never>;
}

async function timeCase(
  params: number,
  kind: BenchOptimizer,
  path: BenchPath,
  repeats: number,
  warmup: number,
): Promise<{ ms: number; stateBytes: number }> {
  const shape = [Math.round(params / 1000), 1000];
  const name = `bench.${kind}.${path}.${params}`;
  const variable = tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, 0.02, 'float32', 1), true, name));
  const grad = tf.randomNormal(shape, 0, 1, 'float32', 2);
  const opt = makeOptimizer(kind, path === 'fused');
  const times: number[] = [];
  try {
    let timed = repeats;
    for (let k = 0; k < warmup + timed; k++) {
      const t = performance.now();
      opt.applyGradients({ [name]: grad });
      const ms = performance.now() - t;
      if (k >= warmup) times.push(ms);
      // Slow cases (tfjs-cpu op by op at 10M: seconds per update) get fewer timed updates.
      else timed = Math.max(1, Math.min(repeats, Math.floor(TIME_BUDGET_MS / ms)));
      // Let the event loop and GC breathe between updates.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return { ms: median(times), stateBytes: opt.stateBytes() };
  } finally {
    opt.dispose();
    tf.dispose([variable, grad]);
  }
}

export function formatBenchTable(result: BenchOptimizersResult): string {
  const { bandwidth, rows } = result;
  const lines = [
    `memory bandwidth (JS, ${(bandwidth.elements / 1e6).toFixed(0)}M floats, best run): ` +
      `copy ${bandwidth.copyGBs.toFixed(2)} GB/s, scale-add ${bandwidth.scaleAddGBs.toFixed(2)} GB/s`,
    '',
    '| params | backend | optimizer | path  | ms/update | GB/s  | of copy | state MB |',
    '|-------:|---------|-----------|-------|----------:|------:|--------:|---------:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${`${r.params / 1e6}M`.padStart(6)} | ${r.backend.padEnd(7)} | ${r.optimizer.padEnd(9)} | ${r.path.padEnd(5)} | ` +
        `${r.msPerUpdate.toFixed(1).padStart(9)} | ${r.gbPerSecond.toFixed(2).padStart(5)} | ` +
        `${`${(100 * r.fractionOfCopy).toFixed(0)}%`.padStart(7)} | ${(r.stateBytes / 1e6).toFixed(2).padStart(8)} |`,
    );
  }
  return lines.join('\n');
}

/** Runs the benchmark and returns its figures (also printed through `log`). */
export async function benchOptimizers(opts: BenchOptimizersOptions = {}): Promise<BenchOptimizersResult> {
  const sizes = opts.sizes ?? [1_000_000, 10_000_000];
  const backends = opts.backends ?? ['cpu', 'wasm'];
  const optimizers = opts.optimizers ?? ['lion', 'adamw', 'adafactor'];
  const paths = opts.paths ?? ['fused', 'op'];
  const log = opts.log ?? ((line: string) => console.log(line));
  const startBackend = tf.getBackend();

  const bandwidth = probeBandwidth(Math.max(...sizes));
  const rows: BenchRow[] = [];
  for (const backend of backends) {
    if (!(await tf.setBackend(backend))) {
      log(`backend ${backend}: tf.setBackend returned false, skipped`);
      continue;
    }
    await tf.ready();
    for (const params of sizes) {
      const repeats = opts.repeats ?? (params > 5e6 ? 3 : 7);
      const warmup = opts.warmup ?? (params > 5e6 ? 1 : 2);
      for (const optimizer of optimizers) {
        for (const path of paths) {
          const { ms, stateBytes } = await timeCase(params, optimizer, path, repeats, warmup);
          const gbPerSecond = (BYTES_PER_ELEMENT[optimizer] * params) / (ms * 1e6);
          const row: BenchRow = {
            params,
            backend,
            optimizer,
            path,
            msPerUpdate: ms,
            gbPerSecond,
            fractionOfCopy: gbPerSecond / bandwidth.copyGBs,
            stateBytes,
          };
          rows.push(row);
          log(`  ${backend} ${params / 1e6}M ${optimizer} ${path}: ${ms.toFixed(1)} ms/update`);
        }
      }
    }
  }
  if (startBackend) await tf.setBackend(startBackend);
  const result = { bandwidth, rows };
  log('');
  log(formatBenchTable(result));
  return result;
}

function parseArgs(argv: string[]): BenchOptimizersOptions {
  const opts: BenchOptimizersOptions = {};
  for (const arg of argv) {
    const [key, value = ''] = arg.replace(/^--/, '').split('=');
    const list = value.split(',').filter(Boolean);
    if (key === 'sizes') opts.sizes = list.map(Number);
    else if (key === 'backends') opts.backends = list;
    else if (key === 'optimizers') opts.optimizers = list as BenchOptimizer[];
    else if (key === 'paths') opts.paths = list as BenchPath[];
    else if (key === 'repeats') opts.repeats = Number(value);
    else if (key === 'warmup') opts.warmup = Number(value);
    else throw new Error(`unknown argument ${arg}`);
  }
  return opts;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchOptimizers(parseArgs(process.argv.slice(2)));
}
