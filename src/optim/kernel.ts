/**
 * Update rules and the fused-kernel plumbing that runs them.
 *
 * An `UpdateRule` is an optimizer's maths three times over, as pure functions:
 * - `ops`: tfjs ops, tensors in and tensors out (any backend: webgl, tensorflow, …);
 * - `arrays`: one fused pass over Float32Arrays, writing fresh output arrays (`cpu`, `wasm`);
 * - `simd`: the WebAssembly SIMD kernels of assembly/optim.ts (simd.ts), on byte offsets into one
 *   wasm memory (`wasm`: in place on the backend's heap; `cpu`: JS arrays staged run by run
 *   through a small private memory);
 * - `webgpu`: WGSL compute passes on the GPU's buffers (wgsl.ts), for the `webgpu` backend.
 *
 * `registerRule` turns `simd` / `arrays` into a tfjs kernel for the `cpu` and `wasm` backends, run
 * through `tf.engine().runKernel`, so the engine does the tensor bookkeeping (tidy, memory
 * counts). The kernel never writes into its inputs: it reads the parameter, gradient and state
 * buffers (on wasm straight out of the backend's heap, no copy) and writes NEW output tensors the
 * backend allocated, which the adapter then `assign`s to the variables. Writing new weights in
 * place into a variable's wasm memory would be invisible to later matMuls, which cache packed
 * weights per tensor id (DESIGN.md, Trap).
 *
 * Which fused implementation runs (`fusedImplementation`): the SIMD kernels wherever they can
 * run, the JS loop otherwise (no WebAssembly SIMD, a threaded wasm backend whose heap is shared
 * memory). Measured (bench/optim.ts, 2 cores, 10M parameters): on `wasm` the kernels run at ~90 %
 * of the machine's copy bandwidth, 6-10x the JS loop; on `cpu`, staged through a private memory,
 * still 1.3-2.5x the JS loop (both pay for the page faults of the fresh output arrays).
 * `setFusedImplementation` forces one, for benchmarks and tests.
 *
 * On `webgpu` the fused kernel runs the rule's WGSL passes (one pass per variable for Lion and AdamW, a few for
 * Adafactor's reductions), with every value left on the GPU: nothing is read back.
 */
import * as tf from '../tf.js';
import { gpuRunner, type GpuRunner } from './wgsl.js';
import {
  backendMemory,
  HeapIO,
  PrivateHeap,
  simdOn,
  StagedIO,
  type EmscriptenModule,
  type SimdIO,
  type SimdKernels,
  type SimdMemo,
} from './simd.js';

/** Hyperparameters of one update, passed to kernels as attributes: flat numbers and booleans. */
export type Hyper = Record<string, number | boolean>;

/** One state tensor kept per variable: its name (`m`, `v`, `vRow`, …) and shape. */
export interface StateSpec {
  key: string;
  shape: number[];
}

export interface UpdateRule<H extends Hyper> {
  /** Short name, used in the kernel name (`LionTrainLionUpdate`). */
  readonly name: string;
  /** The state tensors kept for a variable of this shape, in order. */
  state(shape: readonly number[], h: H): StateSpec[];
  /** The update with tfjs ops: returns `[param', ...state']`, state in `state()` order. */
  ops(param: tf.Tensor, grad: tf.Tensor, state: tf.Tensor[], h: H): tf.Tensor[];
  /**
   * The update as one pass over flat row-major arrays: reads `param`, `grad`, `state`, writes
   * `out[0]` = param' and `out[1 + i]` = state'[i]. Outputs never alias inputs.
   */
  arrays(
    shape: readonly number[],
    param: Float32Array,
    grad: Float32Array,
    state: Float32Array[],
    out: Float32Array[],
    h: H,
  ): void;
  /**
   * The update with the SIMD kernels (assembly/optim.ts), reaching param, grad, state and outputs
   * through `io` (simd.ts): in place on the wasm backend's heap, staged from JS arrays on cpu.
   */
  simd(io: SimdIO, shape: readonly number[], h: H): void;
  /**
   * The update as WGSL compute passes (wgsl.ts) on the `webgpu` backend: returns new tensors
   * `[param', ...state']` (state in `state()` order) for float32 inputs of at least one element.
   */
  webgpu(run: GpuRunner, param: tf.TensorInfo, grad: tf.TensorInfo, state: tf.TensorInfo[], h: H): tf.TensorInfo[];
}

/** The backends that get a fused kernel. */
export const FUSED_BACKENDS = ['cpu', 'wasm'] as const;

export function kernelName(rule: UpdateRule<Hyper>): string {
  return `LionTrain${rule.name}Update`;
}

export type FusedBackend = (typeof FUSED_BACKENDS)[number];

/** A fused implementation: the WebAssembly SIMD kernels, or the JS loop over Float32Arrays. */
export type FusedImplementation = 'simd' | 'js';

const override: Partial<Record<FusedBackend, FusedImplementation>> = {};

/**
 * Forces the fused implementation used on `backend` (`'auto'`: the default choice). For
 * benchmarks and tests; `'simd'` still falls back to `'js'` where the kernels cannot run.
 */
export function setFusedImplementation(backend: FusedBackend, implementation: FusedImplementation | 'auto'): void {
  if (implementation === 'auto') delete override[backend];
  else override[backend] = implementation;
}

function preferred(backend: FusedBackend): FusedImplementation {
  return override[backend] ?? 'simd';
}

/** The fused implementation the kernel of `backend` runs now (the current instance of it). */
export function fusedImplementation(backend: string): FusedImplementation {
  if (backend !== 'cpu' && backend !== 'wasm') return 'js';
  if (preferred(backend) === 'js') return 'js';
  return simdKernelsFor(backend) === null ? 'js' : 'simd';
}

// The parts of the cpu and wasm backends the kernels use (no import of the backend packages).
interface CpuBackend {
  readSync(dataId: tf.DataId): unknown;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
}
interface WasmBackend {
  wasm: EmscriptenModule;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  getMemoryOffset(dataId: tf.DataId): number;
}

let cpuHeap: PrivateHeap | null | undefined;

/** Σp² of parameters produced by SIMD kernels, keyed by their tensor data (DataId objects). */
const sumOfSquaresMemo = new WeakMap<object, number>();

function memoFor(param: tf.TensorInfo): SimdMemo {
  return { paramSumOfSquares: sumOfSquaresMemo.get(param.dataId) };
}

function remember(memo: SimdMemo, out: tf.TensorInfo): void {
  if (memo.outSumOfSquares !== undefined) sumOfSquaresMemo.set(out.dataId, memo.outSumOfSquares);
}

/** The SIMD kernels for `backend` (the current instance of it), or null where they cannot run. */
function simdKernelsFor(backend: FusedBackend): SimdKernels | null {
  if (backend === 'cpu') {
    if (cpuHeap === undefined) cpuHeap = PrivateHeap.create();
    return cpuHeap?.kernels ?? null;
  }
  // The registry, not tf.findBackend: that would initialise a backend not yet in use.
  const b = tf.engine().registry.wasm as unknown as WasmBackend | undefined;
  const memory = backendMemory(b?.wasm);
  return memory === null ? null : simdOn(memory);
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function asFloat32(owner: string, a: unknown): Float32Array {
  if (!(a instanceof Float32Array)) throw new Error(`${owner}: the fused kernel needs float32 tensors`);
  return a;
}

function checkFloat32(owner: string, infos: tf.TensorInfo[]): void {
  if (infos.some((t) => t.dtype !== 'float32')) throw new Error(`${owner}: the fused kernel needs float32 tensors`);
}

/** A fused kernel's inputs (param, grad, state s0…), its hyperparameters and state specs, checked float32. */
function kernelInputs<H extends Hyper>(rule: UpdateRule<H>, name: string, inputs: tf.NamedTensorInfoMap, attrs: unknown) {
  const h = attrs as H;
  const param = inputs.param as tf.TensorInfo;
  const grad = inputs.grad as tf.TensorInfo;
  const specs = rule.state(param.shape, h);
  const stateInfos = specs.map((_, i) => inputs[`s${i}`] as tf.TensorInfo);
  checkFloat32(name, [param, grad, ...stateInfos]);
  return { h, param, grad, specs, stateInfos };
}

function makeKernelFunc<H extends Hyper>(rule: UpdateRule<H>, backendName: FusedBackend): tf.KernelFunc {
  const name = kernelName(rule as unknown as UpdateRule<Hyper>);
  return ({ inputs, backend, attrs }) => {
    const { h, param, grad, specs, stateInfos } = kernelInputs(rule, name, inputs, attrs);
    const outShapes = [param.shape.slice(), ...specs.map((s) => s.shape)];
    const simd = preferred(backendName) === 'simd';
    if (backendName === 'wasm') {
      const b = backend as WasmBackend;
      // Allocate every output first: malloc may grow the wasm memory, which detaches views taken
      // earlier (offsets stay valid, so the SIMD path never holds a view).
      const outs = outShapes.map((s) => b.makeOutput(s, 'float32'));
      const memory = simd ? backendMemory(b.wasm) : null;
      const k = memory === null ? null : simdOn(memory);
      if (k !== null) {
        const offset = (t: tf.TensorInfo): number => b.getMemoryOffset(t.dataId);
        const scratch: number[] = [];
        const alloc = (bytes: number): number => {
          const ptr = b.wasm._malloc(bytes) >>> 0;
          if (ptr === 0) throw new Error(`${name}: out of wasm memory (${bytes} bytes of scratch)`);
          scratch.push(ptr);
          return ptr;
        };
        const memo = memoFor(param);
        try {
          const offsets = [param, grad, ...stateInfos, ...outs].map(offset);
          rule.simd(new HeapIO(k, offsets, stateInfos.length, alloc, memo), param.shape, h);
        } finally {
          for (const ptr of scratch) b.wasm._free(ptr);
        }
        remember(memo, outs[0]);
        return outs;
      }
      const view = (t: tf.TensorInfo): Float32Array => asFloat32(name, b.typedArrayFromHeap(t));
      rule.arrays(param.shape, view(param), view(grad), stateInfos.map(view), outs.map(view), h);
      return outs;
    }
    const b = backend as CpuBackend;
    const read = (t: tf.TensorInfo): Float32Array => asFloat32(name, b.readSync(t.dataId));
    const heap = simd && simdKernelsFor('cpu') !== null ? cpuHeap : null;
    const outArrays = outShapes.map((s) => new Float32Array(sizeOf(s)));
    const memo = memoFor(param);
    if (heap) {
      heap.reset();
      const io = new StagedIO(heap, [read(param), read(grad), ...stateInfos.map(read), ...outArrays], stateInfos.length, memo);
      rule.simd(io, param.shape, h);
      io.finish();
    } else {
      rule.arrays(param.shape, read(param), read(grad), stateInfos.map(read), outArrays, h);
    }
    const outs = outShapes.map((s, i) => b.makeTensorInfo(s, 'float32', outArrays[i]));
    remember(memo, outs[0]);
    return outs;
  };
}

/** Bytes held by the private wasm memory of the `cpu` backend's SIMD path (0 before first use). */
export function cpuSimdHeapBytes(): number {
  return cpuHeap?.bytes ?? 0;
}

function makeWebgpuKernelFunc<H extends Hyper>(rule: UpdateRule<H>): tf.KernelFunc {
  const name = kernelName(rule as unknown as UpdateRule<Hyper>);
  return ({ inputs, backend, attrs }) => {
    const { h, param, grad, specs, stateInfos } = kernelInputs(rule, name, inputs, attrs);
    if (sizeOf(param.shape) === 0) {
      const b = backend as unknown as { makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo };
      return [param.shape, ...specs.map((s) => s.shape)].map((s) => b.makeTensorInfo(s.slice(), 'float32', new Float32Array(sizeOf(s))));
    }
    return rule.webgpu(gpuRunner(backend), param, grad, stateInfos, h);
  };
}

/** The backend that runs a rule's WGSL passes. */
export const GPU_BACKEND = 'webgpu';

/** Registers the fused kernel of `rule` for `cpu`, `wasm` and `webgpu` (once; safe to call again). */
export function registerRule<H extends Hyper>(rule: UpdateRule<H>): void {
  const kernel = kernelName(rule as unknown as UpdateRule<Hyper>);
  for (const backendName of FUSED_BACKENDS) {
    if (tf.getKernel(kernel, backendName) === undefined) {
      tf.registerKernel({ kernelName: kernel, backendName, kernelFunc: makeKernelFunc(rule, backendName) });
    }
  }
  if (tf.getKernel(kernel, GPU_BACKEND) === undefined) {
    tf.registerKernel({ kernelName: kernel, backendName: GPU_BACKEND, kernelFunc: makeWebgpuKernelFunc(rule) });
  }
}

/** Whether `rule` has a fused kernel on the given backend. */
export function hasFusedKernel(rule: UpdateRule<Hyper>, backendName: string): boolean {
  return tf.getKernel(kernelName(rule), backendName) !== undefined;
}

/** Runs the fused kernel of `rule` on the current backend: returns `[param', ...state']`. */
export function runFused<H extends Hyper>(
  rule: UpdateRule<H>,
  param: tf.Tensor,
  grad: tf.Tensor,
  state: tf.Tensor[],
  h: H,
): tf.Tensor[] {
  const inputs: tf.NamedTensorMap = { param, grad };
  state.forEach((s, i) => (inputs[`s${i}`] = s));
  const out = tf.engine().runKernel(kernelName(rule as unknown as UpdateRule<Hyper>), inputs, h as tf.NamedAttrMap);
  return Array.isArray(out) ? out : [out as tf.Tensor];
}
