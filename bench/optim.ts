/**
 * Optimizer update speed: ms per update and effective memory bandwidth, for each backend (cpu,
 * wasm), optimizer (Lion, AdamW, Adafactor) and path, at 1M and 10M parameters; against
 * STREAM-like probes of the machine's memory bandwidth in this process, from JS and from wasm SIMD.
 *
 *   npm run bench:optim                  (default: 1M and 10M, paths simd, js, op; a few minutes on 2 cores)
 *   npm run bench:optim -- --sizes=1e6 --backends=wasm --optimizers=lion --paths=simd,js --repeats=9
 *   npm run bench:optim -- --sizes=1e7 --backends=wasm --optimizers=lion,lion-program --paths=js,op
 *
 * Optimizers: lion, adamw, adafactor (built in) and lion-program, adamw-program: the same maths as
 * optimizer programs (ProgramOptimizer), whose fused path is the loop generated from the program
 * (no SIMD kernel: the simd path is skipped for them).
 *
 * Paths: `simd` = the fused WebAssembly SIMD kernels (wasm: in place on the backend's heap; cpu: on
 * a private copy); `js` = the fused JS loop over Float32Arrays; `op` = tfjs ops one by one;
 * `fused` = whichever fused implementation `fused: 'auto'` picks (marked * in the table).
 *
 * Byte accounting (effective GB/s = bytes / median time): the traffic the maths needs at least,
 * float32, each full-size tensor read or written once per update:
 *   Lion       read p, g, m;    write p', m'         5 × 4N bytes
 *   AdamW      read p, g, m, v; write p', m', v'     7 × 4N bytes
 *   Adafactor  read p, g;       write p'             3 × 4N bytes
 * Adafactor cannot do it in one pass: the factors need a full pass over g, and the clip needs Σu²
 * of the factored update, a second one, before any p' is known; its kernel reads g three times
 * and p once and writes p' (5 × 4N; 6 × 4N when RMS(p) was not recorded by the previous update),
 * so its fraction of the bandwidth by real traffic is 5/3 of the one shown.
 *
 * Probes (best of their runs, per size; N floats each): JS copy = TypedArray.set (read + write,
 * 2 × 4N); JS triad = a[i] = b[i] + s·c[i] in a JS loop (3 × 4N); wasm copy / triad = the same with
 * 128-bit SIMD in a wasm memory (assembly/optim.ts). "fresh" = allocating a new Float32Array and
 * copying into it: what producing each new output tensor costs at least on the cpu backend, whose
 * tensors are fresh JS arrays (at 10M floats its page faults cost more than the copy).
 *
 * Each case is one variable of shape [N / 1000, 1000] with a fixed gradient; times cover
 * `applyGradients` only (cpu and wasm run kernels synchronously). All cases of one backend and size
 * are timed round-robin (the machine is shared and noisy; the op-by-op cases, whose garbage would
 * put GC pauses on the others, in a round of their own): per round each case runs two updates
 * back to back and the second is timed, so its tensors were just touched, as the probes' buffers
 * are in their repeated runs. Each reports the median of its timed updates after warm-up (fewer
 * where one takes over a second).
 */
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Adafactor, AdamW, Lion, ProgramOptimizer, type OptimizerAdapter } from '../src/optim/index.js';
import { fusedImplementation, setFusedImplementation, type FusedBackend } from '../src/optim/kernel.js';
import { PrivateHeap } from '../src/optim/simd.js';
import { markdownTable } from '../src/telemetry/table.js';

export type BenchOptimizer = 'lion' | 'adamw' | 'adafactor' | 'lion-program' | 'adamw-program';

/** The optimizer-program rows: programs/lion.opt's and programs/adamw.opt's maths as ProgramOptimizer. */
const PROGRAMS: Partial<Record<BenchOptimizer, string>> = {
  'lion-program': 'update = interp(g, m, 0.9)\nupdate = sign(update)\nm = interp(g, m, 0.99)\nupdate = (update + w * decay * 0.1) * lr',
  'adamw-program': readFileSync(new URL('../programs/adamw.opt', import.meta.url), 'utf8'),
};
const isProgram = (kind: BenchOptimizer): boolean => PROGRAMS[kind] !== undefined;
export type BenchPath = 'fused' | 'simd' | 'js' | 'op';

export interface BenchOptimizersOptions {
  sizes?: number[];
  backends?: string[];
  optimizers?: BenchOptimizer[];
  paths?: BenchPath[];
  /** Timed updates per case (default: 9 below 5M parameters, 5 above). */
  repeats?: number;
  /** Untimed updates first (default 2). */
  warmup?: number;
  /** Where progress and the table go (default console.log; pass () => {} for silence). */
  log?: (line: string) => void;
}

export interface BenchRow {
  params: number;
  backend: string;
  optimizer: BenchOptimizer;
  path: BenchPath;
  /** The implementation that ran: simd, js or op. */
  implementation: 'simd' | 'js' | 'op';
  /** Whether this is what `fused: 'auto'` runs for this case. */
  auto: boolean;
  msPerUpdate: number;
  gbPerSecond: number;
  /** gbPerSecond / the JS copy probe's GB/s (at this size). */
  fractionOfCopy: number;
  /** gbPerSecond / the wasm SIMD copy probe's GB/s (at this size). */
  fractionOfWasmCopy: number;
  /** gbPerSecond / the fresh-array copy probe's GB/s (at this size): the cpu backend's bound. */
  fractionOfFreshCopy: number;
  stateBytes: number;
}

export interface BandwidthProbe {
  elements: number;
  /** JS TypedArray.set into an existing array. */
  copyGBs: number;
  /** JS loop a[i] = b[i] + s·c[i]. */
  scaleAddGBs: number;
  /** wasm SIMD copy loop (NaN where wasm SIMD is unavailable). */
  wasmCopyGBs: number;
  /** wasm SIMD triad loop. */
  wasmTriadGBs: number;
  /** new Float32Array(N) then TypedArray.set into it. */
  freshCopyGBs: number;
}

export interface BenchOptimizersResult {
  /** The probe at the largest size (what older callers read). */
  bandwidth: BandwidthProbe;
  /** One probe per size. */
  probes: BandwidthProbe[];
  rows: BenchRow[];
}

/** Timed updates per case are cut to fit about this much time (at least one). */
const TIME_BUDGET_MS = 4000;

export const BYTES_PER_ELEMENT: Record<BenchOptimizer, number> = {
  lion: 5 * 4,
  adamw: 7 * 4,
  adafactor: 3 * 4,
  'lion-program': 5 * 4,
  'adamw-program': 7 * 4,
};

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** STREAM-like copy and triad over `elements` floats, from JS and from wasm SIMD; best of `runs`, interleaved. */
export function probeBandwidth(elements = 10_000_000, runs = 9): BandwidthProbe {
  const a = new Float32Array(elements);
  const b = new Float32Array(elements).fill(1);
  const c = new Float32Array(elements).fill(2);
  const heap = PrivateHeap.create();
  let wa = 0;
  let wb = 0;
  let wc = 0;
  if (heap !== null) {
    wa = heap.alloc(4 * elements);
    wb = heap.put(b);
    wc = heap.put(c);
    heap.kernels.copy(wa, wb, elements); // touch every page once
  }
  const best = { copy: Infinity, triad: Infinity, wasmCopy: Infinity, wasmTriad: Infinity, fresh: Infinity };
  const time = (key: keyof typeof best, fn: () => void): void => {
    const t = performance.now();
    fn();
    best[key] = Math.min(best[key], performance.now() - t);
  };
  let sink = 0;
  for (let r = 0; r < runs; r++) {
    const s = 0.5 + r;
    time('copy', () => a.set(b));
    time('triad', () => {
      for (let i = 0; i < elements; i++) a[i] = b[i] + s * c[i];
    });
    time('fresh', () => {
      const fresh = new Float32Array(elements);
      fresh.set(b);
      sink += fresh[elements - 1];
    });
    if (heap !== null) {
      time('wasmCopy', () => heap.kernels.copy(wa, wb, elements));
      time('wasmTriad', () => heap.kernels.triad(wa, wb, wc, elements, s));
    }
  }
  if (sink === -1) console.log(sink);
  const gbs = (bytesPerElement: number, ms: number): number => (bytesPerElement * elements) / (ms * 1e6);
  return {
    elements,
    copyGBs: gbs(8, best.copy),
    scaleAddGBs: gbs(12, best.triad),
    wasmCopyGBs: gbs(8, best.wasmCopy),
    wasmTriadGBs: gbs(12, best.wasmTriad),
    freshCopyGBs: gbs(8, best.fresh),
  };
}

function makeOptimizer(kind: BenchOptimizer, fused: boolean): OptimizerAdapter<never> {
  const program = PROGRAMS[kind];
  if (program !== undefined) return new ProgramOptimizer({ program, learningRate: 1e-4, fused }) as unknown as OptimizerAdapter<never>;
  const opt =
    kind === 'lion'
      ? new Lion({ learningRate: 1e-4, weightDecay: 0.1, fused })
      : kind === 'adamw'
        ? new AdamW({ fused })
        : new Adafactor({ fused });
  return opt as unknown as OptimizerAdapter<never>;
}

interface Case {
  optimizer: BenchOptimizer;
  path: BenchPath;
  name: string;
  variable: tf.Variable;
  opt: OptimizerAdapter<never>;
  times: number[];
  warmupLeft: number;
  timed: number;
  stateBytes: number;
}

/** The fused implementation a path forces (undefined: the default choice). */
function implementationOf(path: BenchPath): 'simd' | 'js' | undefined {
  return path === 'simd' || path === 'js' ? path : undefined;
}

/** The implementation that `path` runs on `backend`. */
function implementationRun(backend: string, path: BenchPath): 'simd' | 'js' | 'op' {
  if (path === 'op') return 'op';
  const forced = implementationOf(path);
  if (forced !== undefined) setFusedImplementation(backend as FusedBackend, forced);
  try {
    return fusedImplementation(backend);
  } finally {
    setFusedImplementation(backend as FusedBackend, 'auto');
  }
}

function applyOnce(c: Case, grad: tf.Tensor, backend: string): number {
  const impl = implementationOf(c.path);
  if (impl !== undefined) setFusedImplementation(backend as FusedBackend, impl);
  try {
    const t = performance.now();
    c.opt.applyGradients({ [c.name]: grad });
    return performance.now() - t;
  } finally {
    setFusedImplementation(backend as FusedBackend, 'auto');
  }
}

/** Times every (optimizer, path) case of one backend and size, round-robin. */
async function timeCases(
  backend: string,
  params: number,
  optimizers: BenchOptimizer[],
  paths: BenchPath[],
  repeats: number,
  warmup: number,
): Promise<Case[]> {
  const shape = [Math.round(params / 1000), 1000];
  const grad = tf.randomNormal(shape, 0, 1, 'float32', 2);
  const cases: Case[] = [];
  for (const optimizer of optimizers) {
    for (const path of paths) {
      // A program's fused path is its generated JS loop whatever the implementation forced: no simd row.
      if (isProgram(optimizer) && path === 'simd') continue;
      const name = `bench.${backend}.${optimizer}.${path}.${params}`;
      cases.push({
        optimizer,
        path,
        name,
        variable: tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, 0.02, 'float32', 1), true, name)),
        opt: makeOptimizer(optimizer, path !== 'op'),
        times: [],
        warmupLeft: warmup,
        timed: repeats,
        stateBytes: 0,
      });
    }
  }
  try {
    for (let round = 0; cases.some((c) => c.warmupLeft > 0 || c.times.length < c.timed); round++) {
      for (const c of cases) {
        if (c.warmupLeft === 0 && c.times.length >= c.timed) continue;
        // Two updates back to back, the second timed: its tensors were just touched, as the
        // probes' buffers are in their repeated runs (at 1M everything then sits in cache).
        applyOnce(c, grad, backend);
        const ms = applyOnce(c, grad, backend);
        if (c.warmupLeft > 0) {
          c.warmupLeft--;
          // Slow cases (tfjs-cpu op by op at 10M: seconds per update) get fewer timed updates.
          c.timed = Math.max(1, Math.min(repeats, Math.floor(TIME_BUDGET_MS / ms)));
        } else {
          c.times.push(ms);
        }
        // Let the event loop and GC breathe between updates.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    for (const c of cases) c.stateBytes = c.opt.stateBytes();
    return cases;
  } finally {
    for (const c of cases) {
      c.opt.dispose();
      c.variable.dispose();
    }
    grad.dispose();
  }
}

const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : '-');

export function formatBenchTable(result: BenchOptimizersResult): string {
  const { probes, rows } = result;
  const gb = (x: number) => x.toFixed(2);
  const lines = ['memory bandwidth probes (best run, GB/s):', ''];
  lines.push(
    markdownTable({
      headers: ['floats', 'JS copy', 'JS triad', 'wasm copy', 'wasm triad', 'JS fresh copy'],
      rows: probes.map((p) => [`${p.elements / 1e6}M`, gb(p.copyGBs), gb(p.scaleAddGBs), gb(p.wasmCopyGBs), gb(p.wasmTriadGBs), gb(p.freshCopyGBs)]),
      padded: true,
    }),
    '',
    markdownTable({
      headers: ['params', 'backend', 'optimizer', 'path', 'ms/update', 'GB/s', 'of JS copy', 'of wasm copy', 'of fresh copy', 'state MB'],
      align: ['right', 'left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
      rows: rows.map((r) => [
        `${r.params / 1e6}M`,
        r.backend,
        r.optimizer,
        `${r.path === 'fused' ? `fused:${r.implementation}` : r.path}${r.auto ? '*' : ''}`,
        r.msPerUpdate.toFixed(1),
        gb(r.gbPerSecond),
        pct(r.fractionOfCopy),
        pct(r.fractionOfWasmCopy),
        pct(r.fractionOfFreshCopy),
        (r.stateBytes / 1e6).toFixed(2),
      ]),
      padded: true,
    }),
  );
  lines.push("(* = what fused: 'auto' runs; Adafactor's kernel moves 5-6 × 4N bytes, not the 3 × 4N counted)");
  // Lion : AdamW : Adafactor update time, per backend, size and path.
  const ratios: string[] = [];
  const groups = new Map<string, BenchRow[]>();
  for (const r of rows) {
    const key = `${r.backend} ${r.params / 1e6}M ${r.path}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const [key, group] of groups) {
    const lion = group.find((r) => r.optimizer === 'lion');
    if (lion === undefined || group.length < 2) continue;
    const parts = group.map((r) => `${r.optimizer} ${(r.msPerUpdate / lion.msPerUpdate).toFixed(2)}`);
    ratios.push(`  ${key.padEnd(16)} ${parts.join(' : ')}`);
  }
  if (ratios.length > 0) lines.push('', 'update time relative to Lion:', ...ratios);
  return lines.join('\n');
}

/** Runs the benchmark and returns its figures (also printed through `log`). */
export async function benchOptimizers(opts: BenchOptimizersOptions = {}): Promise<BenchOptimizersResult> {
  const sizes = opts.sizes ?? [1_000_000, 10_000_000];
  const backends = opts.backends ?? ['cpu', 'wasm'];
  const optimizers = opts.optimizers ?? ['lion', 'adamw', 'adafactor', 'lion-program', 'adamw-program'];
  const paths = opts.paths ?? ['simd', 'js', 'op'];
  const log = opts.log ?? ((line: string) => console.log(line));
  const startBackend = tf.getBackend();

  const probes = sizes.map((n) => probeBandwidth(n));
  const rows: BenchRow[] = [];
  for (const backend of backends) {
    if (!(await tf.setBackend(backend))) {
      log(`backend ${backend}: tf.setBackend returned false, skipped`);
      continue;
    }
    await tf.ready();
    for (const [s, params] of sizes.entries()) {
      const repeats = opts.repeats ?? (params > 5e6 ? 5 : 9);
      const warmup = opts.warmup ?? 2;
      // tfjs ops leave heaps of garbage (GC pauses that would land on the fused cases): timed apart.
      const fusedPaths = paths.filter((p) => p !== 'op');
      const cases = [
        ...(fusedPaths.length > 0 ? await timeCases(backend, params, optimizers, fusedPaths, repeats, warmup) : []),
        ...(paths.includes('op') ? await timeCases(backend, params, optimizers, ['op'], repeats, warmup) : []),
      ];
      const autoImpl = fusedImplementation(backend);
      for (const c of cases) {
        const ms = median(c.times);
        const gbPerSecond = (BYTES_PER_ELEMENT[c.optimizer] * params) / (ms * 1e6);
        const implementation = isProgram(c.optimizer) && c.path !== 'op' ? 'js' : implementationRun(backend, c.path);
        rows.push({
          params,
          backend,
          optimizer: c.optimizer,
          path: c.path,
          implementation,
          auto: c.path !== 'op' && (isProgram(c.optimizer) || implementation === autoImpl),
          msPerUpdate: ms,
          gbPerSecond,
          fractionOfCopy: gbPerSecond / probes[s].copyGBs,
          fractionOfWasmCopy: gbPerSecond / probes[s].wasmCopyGBs,
          fractionOfFreshCopy: gbPerSecond / probes[s].freshCopyGBs,
          stateBytes: c.stateBytes,
        });
        log(`  ${backend} ${params / 1e6}M ${c.optimizer} ${c.path}: ${ms.toFixed(1)} ms/update`);
      }
    }
  }
  if (startBackend) await tf.setBackend(startBackend);
  const result = { bandwidth: probes[probes.length - 1], probes, rows };
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
