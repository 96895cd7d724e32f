/**
 * The WebAssembly SIMD optimizer kernels (assembly/optim.ts, compiled by `npm run build:kernels`
 * and embedded in simd-wasm.generated.ts): loading, instances, and the two heaps they run on.
 *
 * - `wasm` backend: an instance imports tfjs-backend-wasm's own `WebAssembly.Memory`, so kernels
 *   read parameters, gradients and state in place, by heap offset, and write into output tensors
 *   the backend allocated. The module owns no memory (no data, globals, stack or allocator: the
 *   build checks), so it cannot clobber the backend's heap. Only byte offsets cross the boundary,
 *   never views, so growth of the heap (which detaches views) cannot break a kernel call.
 * - `cpu` backend: tensors are JS typed arrays, so an instance on a small private memory gets the
 *   inputs copied in run by run and its outputs are copied out into fresh arrays (`StagedIO`).
 *
 * Everything fails soft: no WebAssembly, no SIMD, a shared (threaded) backend heap → `null`, and
 * the caller runs the fused JS loop instead.
 */
import { OPTIM_WASM_BASE64 } from './simd-wasm.generated.js';

/** The kernels' exports; addresses are byte offsets into the instance's memory. */
export interface SimdKernels {
  copy(dst: number, src: number, n: number): void;
  triad(a: number, b: number, c: number, n: number, s: number): void;
  lion(
    p: number, g: number, m: number, pOut: number, mOut: number, n: number,
    decay: number, lr: number, b1: number, c1: number, b2: number, c2: number,
  ): void;
  adamw(
    p: number, g: number, m: number, v: number, pOut: number, mOut: number, vOut: number, n: number,
    decay: number, stepSize: number, b1: number, c1: number, b2: number, c2: number, bc2: number, eps: number,
  ): void;
  sumOfSquares(a: number, n: number): number;
  zero(ptr: number, bytes: number): void;
  adafactorRowSums(
    g: number, rows: number, C: number, rowIn: number, rowOut: number, colSum: number, b2: number, c2: number, eps1: number,
  ): void;
  adafactorColumns(
    colIn: number, colSum: number, colOut: number, colFactor: number, R: number, C: number, b2: number, c2: number,
  ): void;
  columnFactors(colOut: number, colFactor: number, C: number): void;
  rowMean(rowOut: number, R: number): number;
  adafactorSumU2(g: number, rows: number, C: number, rowOut: number, mean: number, colFactor: number): number;
  adafactorFinish(
    p: number, g: number, pOut: number, mIn: number, mOut: number, rows: number, C: number,
    rowOut: number, mean: number, colFactor: number,
    scale: number, decay: number, hasM: boolean, b1: number, c1: number,
  ): number;
  adafactorVector(g: number, vIn: number, vOut: number, uOut: number, n: number, b2: number, c2: number, eps1: number): number;
  adafactorVectorFinish(
    p: number, pOut: number, mIn: number, mOut: number, n: number,
    scale: number, decay: number, hasM: boolean, b1: number, c1: number,
  ): number;
}

/**
 * What a SIMD kernel call may reuse from the update that produced its parameter: Σp² of the
 * parameter (Adafactor's RMS(p)), keyed by the tensor data, so it holds exactly when the variable
 * still holds that update's output.
 */
export interface SimdMemo {
  /** Σp² of the parameter passed in, if the update that produced it recorded it. */
  readonly paramSumOfSquares: number | undefined;
  /** Set by the kernel: Σp'² of its new parameter (out[0]), for the next update. */
  outSumOfSquares?: number;
}

/** A tensor of one kernel call: its index in [param, grad, ...state, ...out]. */
export type Handle = number;

/**
 * How an update rule's SIMD code reaches its tensors: the same rule runs on the wasm backend's
 * heap (everything in place, in one piece) and on the cpu backend (JS arrays staged in chunks
 * through a small private memory, so that memory stays small and the staged data in cache).
 */
export interface SimdIO {
  readonly kernels: SimdKernels;
  readonly param: Handle;
  readonly grad: Handle;
  readonly state: Handle[];
  readonly out: Handle[];
  readonly memo: SimdMemo;
  /**
   * Runs `fn` over elements [start, start + count) of the full-size tensors `ins` (read) and
   * `outs` (written; a tensor may be both), in runs of whole multiples of `unit` elements: `fn`
   * gets each tensor's address at the run's first element, the run's length and the index of its
   * first element. Where the tensors live in the kernels' memory it is one run.
   */
  stream(
    ins: Handle[],
    outs: Handle[],
    start: number,
    count: number,
    unit: number,
    fn: (at: (t: Handle) => number, count: number, first: number) => void,
  ): void;
  /** The address of a whole (small) tensor: an input's values, or an output written in full. */
  whole(t: Handle): number;
  /** Temporary memory for this call. */
  scratch(bytes: number): number;
}

/** `SimdIO` on a memory that holds every tensor (tfjs-backend-wasm's heap): addresses only. */
export class HeapIO implements SimdIO {
  readonly param = 0;
  readonly grad = 1;
  readonly state: Handle[];
  readonly out: Handle[];

  constructor(
    readonly kernels: SimdKernels,
    /** Byte offsets of param, grad, state…, out…. */
    private readonly offsets: number[],
    stateCount: number,
    readonly scratch: (bytes: number) => number,
    readonly memo: SimdMemo,
  ) {
    this.state = Array.from({ length: stateCount }, (_, i) => 2 + i);
    this.out = Array.from({ length: offsets.length - 2 - stateCount }, (_, i) => 2 + stateCount + i);
  }

  stream(
    _ins: Handle[],
    _outs: Handle[],
    start: number,
    count: number,
    _unit: number,
    fn: (at: (t: Handle) => number, count: number, first: number) => void,
  ): void {
    if (count > 0) fn((t) => this.offsets[t] + 4 * start, count, start);
  }

  whole(t: Handle): number {
    return this.offsets[t];
  }
}

/** Elements per staged run on the cpu backend: 7 tensors × 128 KiB stay within a core's L2. */
export const STAGE_ELEMENTS = 32 * 1024;

/**
 * `SimdIO` for tensors in JS arrays (the cpu backend): runs are copied into a private memory,
 * computed there, and outputs copied back into the output arrays; `finish()` copies out the whole
 * outputs. The private memory holds a few runs plus the small whole tensors, never a full copy.
 */
export class StagedIO implements SimdIO {
  readonly param = 0;
  readonly grad = 1;
  readonly state: Handle[];
  readonly out: Handle[];
  readonly kernels: SimdKernels;
  private readonly wholes = new Map<Handle, number>();

  constructor(
    private readonly heap: PrivateHeap,
    /** param, grad, state…, out…: inputs as read from the backend, outputs freshly allocated. */
    private readonly arrays: Float32Array[],
    stateCount: number,
    readonly memo: SimdMemo,
  ) {
    this.kernels = heap.kernels;
    this.state = Array.from({ length: stateCount }, (_, i) => 2 + i);
    this.out = Array.from({ length: arrays.length - 2 - stateCount }, (_, i) => 2 + stateCount + i);
  }

  private isOutput(t: Handle): boolean {
    return t >= 2 + this.state.length;
  }

  stream(
    ins: Handle[],
    outs: Handle[],
    start: number,
    count: number,
    unit: number,
    fn: (at: (t: Handle) => number, count: number, first: number) => void,
  ): void {
    if (count <= 0) return;
    const run = Math.min(count, Math.max(unit, Math.floor(STAGE_ELEMENTS / unit) * unit));
    const tensors = [...new Set([...ins, ...outs])];
    const mark = this.heap.mark();
    const staged = new Map<Handle, number>();
    for (const t of tensors) staged.set(t, this.heap.alloc(4 * run));
    const at = (t: Handle): number => {
      const ptr = staged.get(t);
      if (ptr === undefined) throw new Error(`StagedIO: tensor ${t} is not part of this stream`);
      return ptr;
    };
    try {
      for (let first = start; first < start + count; first += run) {
        const n = Math.min(run, start + count - first);
        for (const t of ins) this.heap.view(at(t), n).set(this.arrays[t].subarray(first, first + n));
        fn(at, n, first);
        for (const t of outs) this.arrays[t].set(this.heap.view(at(t), n), first);
      }
    } finally {
      this.heap.release(mark);
    }
  }

  whole(t: Handle): number {
    let ptr = this.wholes.get(t);
    if (ptr === undefined) {
      const values = this.arrays[t];
      ptr = this.heap.alloc(values.byteLength);
      if (!this.isOutput(t)) this.heap.view(ptr, values.length).set(values);
      this.wholes.set(t, ptr);
    }
    return ptr;
  }

  scratch(bytes: number): number {
    return this.heap.alloc(bytes);
  }

  /** Copies the whole outputs out of the private memory. */
  finish(): void {
    for (const [t, ptr] of this.wholes) {
      if (this.isOutput(t)) this.arrays[t].set(this.heap.view(ptr, this.arrays[t].length));
    }
  }
}

// The few WebAssembly JS-API members used (this project's TypeScript libs do not declare them).
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum?: number }) => WasmMemory;
}
const WA = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

const PAGE = 65536;

/**
 * A WebAssembly module embedded as base64 by scripts/build-kernels.mjs, whose one import is `env.memory`:
 * compiled on first use and instantiated once per memory it runs on (cached). `beforeRetry`, when given, is
 * run once if the first compile fails (to enable an engine feature the module uses), then the compile is
 * tried again. `K` is the module's exports.
 */
export class EmbeddedModule<K> {
  private compiled: object | null | undefined;
  private readonly instances = new WeakMap<object, K | null>();

  constructor(
    private readonly base64: string,
    private readonly beforeRetry?: () => void,
  ) {}

  /** The compiled module, or null where WebAssembly, or a feature the module uses, is unavailable. */
  module(): object | null {
    if (this.compiled === undefined) {
      this.compiled = this.compile();
      if (this.compiled === null && this.beforeRetry) {
        this.beforeRetry();
        this.compiled = this.compile();
      }
    }
    return this.compiled;
  }

  /** The exports instantiated on `memory`, or null if the module cannot run on it. */
  on(memory: WasmMemory): K | null {
    const cached = this.instances.get(memory);
    if (cached !== undefined) return cached;
    const mod = this.module();
    let exports: K | null = null;
    if (mod !== null && WA !== undefined) {
      try {
        exports = new WA.Instance(mod, { env: { memory } }).exports as unknown as K;
      } catch {
        exports = null; // e.g. a shared memory (threaded backend): the module declares an unshared one
      }
    }
    this.instances.set(memory, exports);
    return exports;
  }

  private compile(): object | null {
    if (WA === undefined || typeof atob !== 'function') return null;
    try {
      return new WA.Module(Uint8Array.from(atob(this.base64), (c) => c.charCodeAt(0)));
    } catch {
      return null;
    }
  }
}

const optimKernels = new EmbeddedModule<SimdKernels>(OPTIM_WASM_BASE64);

/** The kernels on `memory` (one instance per memory, cached), or null if they cannot run on it. */
export function simdOn(memory: WasmMemory): SimdKernels | null {
  return optimKernels.on(memory);
}

/** Whether the SIMD kernels can run in this JS engine at all. */
export function simdSupported(): boolean {
  return optimKernels.module() !== null;
}

/** The parts of tfjs-backend-wasm's emscripten module used here. */
export interface EmscriptenModule {
  HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  /** Non-threaded builds: the instance's exports, `memory` among them. */
  asm?: { memory?: unknown };
  /** Threaded builds. */
  wasmMemory?: unknown;
}

/**
 * tfjs-backend-wasm's heap as a `WebAssembly.Memory`, or null if it cannot be found. Checked to be
 * the memory behind the backend's own `HEAPU8`, so offsets from `getMemoryOffset` address it.
 */
export function backendMemory(wasm: EmscriptenModule | undefined): WasmMemory | null {
  if (WA === undefined || wasm === undefined || wasm === null) return null;
  const memory = wasm.asm?.memory ?? wasm.wasmMemory;
  if (!(memory instanceof WA.Memory)) return null;
  return memory.buffer === wasm.HEAPU8.buffer ? memory : null;
}

/**
 * A private wasm memory used as a bump-allocated scratch heap, one kernel call at a time (the
 * `cpu` backend's SIMD path, the bandwidth probe). It grows to the largest call seen and keeps
 * that size.
 */
export class PrivateHeap {
  readonly memory: WasmMemory;
  readonly kernels: SimdKernels;
  private top = 0;

  private constructor(memory: WasmMemory, kernels: SimdKernels) {
    this.memory = memory;
    this.kernels = kernels;
  }

  static create(): PrivateHeap | null {
    if (WA === undefined) return null;
    const memory = new WA.Memory({ initial: 1 });
    const kernels = simdOn(memory);
    return kernels === null ? null : new PrivateHeap(memory, kernels);
  }

  /** Starts a call: everything allocated by the previous one is free again. */
  reset(): void {
    this.top = 0;
  }

  /** Allocates `bytes` (16-byte aligned), growing the memory if needed; returns the offset. */
  alloc(bytes: number): number {
    const at = this.top;
    this.top = at + Math.ceil(bytes / 16) * 16;
    const have = this.memory.buffer.byteLength;
    if (this.top > have) this.memory.grow(Math.ceil((this.top - have) / PAGE));
    return at;
  }

  /** The allocation mark, for `release`. */
  mark(): number {
    return this.top;
  }

  /** Frees everything allocated since `mark()` returned `at`. */
  release(at: number): void {
    this.top = at;
  }

  /** A view of `length` floats at `at` (valid until the memory next grows). */
  view(at: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, at, length);
  }

  /** Copies `values` in; returns the offset. */
  put(values: Float32Array): number {
    const at = this.alloc(values.byteLength);
    this.view(at, values.length).set(values);
    return at;
  }

  /** Bytes the memory holds. */
  get bytes(): number {
    return this.memory.buffer.byteLength;
  }
}
