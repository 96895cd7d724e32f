/**
 * Fused layer kernels on the wasm backend, as tfjs kernels registered for `wasm` only and run through
 * `tf.engine().runKernel` (the engine keeps the tensor bookkeeping):
 *   attention   softmax(q·kᵀ/√hd)·v over heads, read straight from the packed projection [q | k | v];
 *   layerNorm, gelu   each forward and backward in one pass;
 *   matMul      a dense layer's x·W + b and dy·Wᵀ (in place of XNNPACK, which tfjs calls with a repacking
 *               of W each time: measured 1.5-2x slower on these shapes);
 *   matMulTN    the weight gradient xᵀ·dy without a transpose;  columnSums  the bias gradient;
 *   conv        a convolution (NHWC) as products of patch rows with the kernel, a chunk of output pixels
 *               at a time (no patch matrix is kept), and its kernel and input gradients the same way;
 *   maxPool     max-pooling (with a ReLU before it folded in) and its gradient, one pass each.
 * The maths lives in assembly/layers.ts (WebAssembly SIMD, compiled by `npm run build:kernels`, twice: with
 * relaxed SIMD, whose fused multiply-add the products use where the engine has it, and without); the kernels
 * read their inputs in place on tfjs-backend-wasm's heap and write outputs the backend allocated, never
 * into an input (DESIGN.md, Trap).
 *
 * `fusedKernel(kind)` says whether a kind runs fused now: the backend is wasm, the module instantiates on its
 * heap, and the kind is not switched off, by `setFusedKernels` (benchmarks and tests) or by the environment
 * variable LION_TRAIN_FUSED (`none`, or the kinds to keep: read once per thread, so worker threads follow it).
 * Elsewhere (cpu, webgpu, node) layers.ts uses tfjs ops. The kernels round differently from the tfjs ops (and
 * with fma, from the plain build), so a seed's run differs in its last digits from the ops path's; each kind
 * matches tfjs autodiff within float32 tolerance (test/models/fused.test.ts).
 */
import { setFlagsFromString } from 'node:v8';
import * as tf from '../tf.js';
import { backendMemory, EmbeddedModule, type EmscriptenModule, type WasmMemory } from '../optim/simd.js';
import { LAYERS_RELAXED_WASM_BASE64 } from './layers-relaxed-wasm.generated.js';
import { FUSED_KINDS, fusedKindsFromEnvironment, type FusedKind } from './fused-kinds.js';
import { LAYERS_WASM_BASE64 } from './layers-wasm.generated.js';
import type { ConvGeometry } from './conv.js';

export { BLOCK_CALLS, FUSED_ENV, FUSED_KINDS, fusedKindsFromEnvironment, parseFusedKinds, type FusedKind } from './fused-kinds.js';

/** The exports of assembly/layers.ts; addresses are byte offsets into the backend's heap. */
export interface LayerKernels {
  attentionForward(
    q: number, k: number, v: number, out: number, probs: number, scratch: number,
    batch: number, tokens: number, heads: number, hd: number, stride: number, causal: boolean, scale: number,
  ): void;
  attentionBackward(
    dOut: number, q: number, k: number, v: number, probs: number, dq: number, dk: number, dv: number, scratch: number,
    batch: number, tokens: number, heads: number, hd: number, stride: number, causal: boolean, scale: number,
  ): void;
  layerNormForward(x: number, scale: number, bias: number, y: number, xhat: number, rstd: number, rows: number, width: number, eps: number): void;
  layerNormBackward(dy: number, xhat: number, rstd: number, scale: number, dx: number, dscale: number, dbias: number, rows: number, width: number): void;
  geluForward(x: number, y: number, n: number): void;
  geluBackward(dy: number, x: number, dx: number, n: number): void;
  matMul(a: number, b: number, bias: number, c: number, M: number, K: number, N: number): void;
  matMulTN(a: number, b: number, c: number, K: number, M: number, N: number): void;
  columnSums(x: number, out: number, rows: number, n: number): void;
  convForward(x: number, w: number, bias: number, y: number, scratch: number, ...geometry: number[]): void;
  convKernelGradient(x: number, dy: number, dw: number, db: number, scratch: number, ...geometry: number[]): void;
  convInputGradient(dy: number, wt: number, dx: number, scratch: number, ...geometry: number[]): void;
  convScratchFloats(batch: number, channels: number, k: number, stride: number, outHeight: number, outWidth: number): number;
  maxPoolForward(x: number, y: number, batch: number, height: number, width: number, channels: number, p: number, relu: boolean): void;
  maxPoolBackward(x: number, y: number, dy: number, dx: number, batch: number, height: number, width: number, channels: number, p: number, relu: boolean): void;
  sumFloats(a: number, b: number, out: number, n: number): void;
  sumFloatsDivided(a: number, b: number, out: number, n: number, divisor: number): void;
  copyFloatArray(y: number, x: number, n: number): void;
  copyColumns(src: number, srcStride: number, dst: number, dstStride: number, rows: number, cols: number): void;
  transpose(x: number, out: number, rows: number, cols: number): void;
}

let environmentRead = false;
const enabled: Record<FusedKind, boolean> = Object.fromEntries(FUSED_KINDS.map((k) => [k, true])) as Record<FusedKind, boolean>;

/** Switches fused kinds on or off (all on by default): for A/B benchmarks and tests. Wins over LION_TRAIN_FUSED. */
export function setFusedKernels(kinds: Partial<Record<FusedKind, boolean>>): void {
  environmentRead = true;
  Object.assign(enabled, kinds);
}

/** Applies LION_TRAIN_FUSED once per thread (worker threads inherit the environment). */
function readEnvironment(): void {
  if (environmentRead) return;
  environmentRead = true;
  const kinds = fusedKindsFromEnvironment();
  if (kinds) setFusedKernels(kinds);
}

const plainKernels = new EmbeddedModule<LayerKernels>(LAYERS_WASM_BASE64);

/**
 * The module built with relaxed SIMD. Node 20's V8 has relaxed SIMD behind --experimental-wasm-relaxed-simd
 * (on by default from Node 22): where the first compile fails, that flag (process-wide, enabling only new
 * wasm instructions) is set once and the compile tried again; where it still fails, the plain build runs.
 */
const relaxedKernels = new EmbeddedModule<LayerKernels>(LAYERS_RELAXED_WASM_BASE64, () => setFlagsFromString('--experimental-wasm-relaxed-simd'));

/** The kernels on `memory`: with `fma` on, the relaxed-SIMD build where it compiles, else the plain one; null where neither runs. */
function kernelsOn(memory: WasmMemory): LayerKernels | null {
  return enabled.fma && relaxedKernels.module() !== null ? relaxedKernels.on(memory) : plainKernels.on(memory);
}

// The parts of the wasm backend used (no import of the backend package).
export interface WasmBackend {
  wasm: EmscriptenModule;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  getMemoryOffset(dataId: tf.DataId): number;
}

/** The layer kernels on the wasm backend `backend`'s heap. @throws where they cannot run there. */
export function wasmKernels(backend: WasmBackend): LayerKernels {
  const memory = backendMemory(backend.wasm);
  const kernels = memory === null ? null : kernelsOn(memory);
  if (kernels === null) throw new Error('the fused layer kernels cannot run on this wasm backend');
  return kernels;
}

/** Whether `kind` runs as a fused kernel now (current backend wasm, kernels loadable, kind switched on). */
export function fusedKernel(kind: FusedKind): boolean {
  readEnvironment();
  if (tf.getBackend() !== 'wasm') return false;
  shareIdentity();
  if (!enabled[kind]) return false;
  if (kind === 'sharedIdentity') return true;
  if (kind === 'fma') return relaxedKernels.module() !== null;
  return layerKernelsRun();
}

/** Whether the layer kernels run on the current backend (wasm, the module instantiated on its heap), whichever kinds are on. */
export function layerKernelsRun(): boolean {
  if (tf.getBackend() !== 'wasm') return false;
  const memory = backendMemory((tf.backend() as unknown as WasmBackend).wasm);
  return memory !== null && kernelsOn(memory) !== null;
}

let identityShared = false;

/**
 * Replaces the wasm backend's Identity (once, when a layer first asks on wasm: its own kernels are registered
 * by then) with one that shares the input's memory, counted by the backend as Reshape counts it; with
 * `sharedIdentity` off it copies, as before.
 */
function shareIdentity(): void {
  if (identityShared) return;
  const copying = tf.getKernel('Identity', 'wasm');
  if (copying === undefined) return;
  identityShared = true;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      if (!enabled.sharedIdentity || x.dtype === 'string') return copying.kernelFunc(args);
      (args.backend as unknown as { incRef(dataId: tf.DataId): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
    },
  });
}

type Body = (k: LayerKernels, b: WasmBackend, inputs: tf.TensorInfo[], attrs: tf.NamedAttrMap) => tf.TensorInfo[];

/**
 * Registers `name` for wasm: `body` gets the kernels, the backend and the inputs in `order` (the input names, or
 * a function of the call's attributes giving them, for a kernel of as many inputs as a call has).
 */
export function registerWasmKernel(name: string, order: string[] | ((attrs: tf.NamedAttrMap) => string[]), body: Body): void {
  if (tf.getKernel(name, 'wasm') !== undefined) return;
  tf.registerKernel({
    kernelName: name,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs = {} }) => {
      const infos = (typeof order === 'function' ? order(attrs) : order).map((key) => inputs[key] as tf.TensorInfo);
      if (infos.some((t) => t.dtype !== 'float32')) throw new Error(`${name}: needs float32 tensors`);
      const b = backend as unknown as WasmBackend;
      return body(wasmKernels(b), b, infos, attrs);
    },
  });
}

/** Allocates outputs first (malloc may grow the heap), then hands the kernel byte offsets only. */
export function heapOffsets(b: WasmBackend, infos: tf.TensorInfo[]): number[] {
  return infos.map((t) => b.getMemoryOffset(t.dataId));
}

const ATTENTION = 'LionTrainAttention';
const ATTENTION_GRAD = 'LionTrainAttentionGrad';
const LAYER_NORM = 'LionTrainLayerNorm';
const LAYER_NORM_GRAD = 'LionTrainLayerNormGrad';
const GELU = 'LionTrainGelu';
const GELU_GRAD = 'LionTrainGeluGrad';
const MAT_MUL = 'LionTrainMatMul';
const MAT_MUL_BIAS = 'LionTrainMatMulBias';
const MAT_MUL_TN = 'LionTrainMatMulTN';
const COLUMN_SUMS = 'LionTrainColumnSums';
const CONV = 'LionTrainConv2D';
const CONV_KERNEL_GRAD = 'LionTrainConv2DKernelGrad';
const CONV_INPUT_GRAD = 'LionTrainConv2DInputGrad';
const MAX_POOL = 'LionTrainMaxPool';
const MAX_POOL_GRAD = 'LionTrainMaxPoolGrad';

interface AttentionAttrs {
  batch: number;
  tokens: number;
  heads: number;
  causal: boolean;
}

/** Runs `body` with `floats` of scratch on the backend's heap (malloc after the outputs: it may grow the heap). */
export function withScratch<T>(b: WasmBackend, floats: number, what: string, body: (scratch: number) => T): T {
  const scratch = b.wasm._malloc(4 * floats) >>> 0;
  if (scratch === 0) throw new Error(`${what}: out of wasm memory`);
  try {
    return body(scratch);
  } finally {
    b.wasm._free(scratch);
  }
}

export const up4 = (n: number) => Math.ceil(n / 4) * 4;

/** q, k and v are the column blocks of one [batch·tokens, 3·width] matrix (the packed projection). */
function packedAttention(qkv: tf.TensorInfo, attrs: tf.NamedAttrMap) {
  const a = attrs as unknown as AttentionAttrs;
  const [rows, width3] = qkv.shape;
  const width = width3 / 3;
  return { ...a, rows, width, width3, hd: width / a.heads };
}

registerWasmKernel(ATTENTION, ['qkv'], (k, b, [qkv], attrs) => {
  const { batch, tokens, heads, causal, rows, width, width3, hd } = packedAttention(qkv, attrs);
  const out = b.makeOutput([rows, width], 'float32');
  const probs = b.makeOutput([batch, heads, tokens, tokens], 'float32');
  withScratch(b, (hd + 1) * up4(tokens), ATTENTION, (scratch) => {
    const [pqkv, po, pp] = heapOffsets(b, [qkv, out, probs]);
    k.attentionForward(pqkv, pqkv + 4 * width, pqkv + 8 * width, po, pp, scratch, batch, tokens, heads, hd, width3, causal, 1 / Math.sqrt(hd));
  });
  return [out, probs];
});

registerWasmKernel(ATTENTION_GRAD, ['dy', 'qkv', 'probs'], (k, b, [dy, qkv, probs], attrs) => {
  const { batch, tokens, heads, causal, width, width3, hd } = packedAttention(qkv, attrs);
  const dqkv = b.makeOutput(qkv.shape.slice(), 'float32');
  withScratch(b, (hd + tokens) * up4(tokens), ATTENTION_GRAD, (scratch) => {
    const [pdy, pqkv, pp, pd] = heapOffsets(b, [dy, qkv, probs, dqkv]);
    k.attentionBackward(pdy, pqkv, pqkv + 4 * width, pqkv + 8 * width, pp, pd, pd + 4 * width, pd + 8 * width, scratch, batch, tokens, heads, hd, width3, causal, 1 / Math.sqrt(hd));
  });
  return [dqkv];
});

registerWasmKernel(LAYER_NORM, ['x', 'scale', 'bias'], (k, b, [x, scale, bias], attrs) => {
  const [rows, width] = x.shape;
  const y = b.makeOutput([rows, width], 'float32');
  const xhat = b.makeOutput([rows, width], 'float32');
  const rstd = b.makeOutput([rows, 1], 'float32');
  const [px, ps, pb, py, ph, pr] = heapOffsets(b, [x, scale, bias, y, xhat, rstd]);
  k.layerNormForward(px, ps, pb, py, ph, pr, rows, width, attrs.epsilon as number);
  return [y, xhat, rstd];
});

registerWasmKernel(LAYER_NORM_GRAD, ['dy', 'xhat', 'rstd', 'scale'], (k, b, [dy, xhat, rstd, scale]) => {
  const [rows, width] = dy.shape;
  const outs = [b.makeOutput([rows, width], 'float32'), b.makeOutput([width], 'float32'), b.makeOutput([width], 'float32')];
  const [pdy, ph, pr, ps, dx, dscale, dbias] = heapOffsets(b, [dy, xhat, rstd, scale, ...outs]);
  k.layerNormBackward(pdy, ph, pr, ps, dx, dscale, dbias, rows, width);
  return outs;
});

registerWasmKernel(GELU, ['x'], (k, b, [x]) => {
  const y = b.makeOutput(x.shape.slice(), 'float32');
  const [px, py] = heapOffsets(b, [x, y]);
  k.geluForward(px, py, tf.util.sizeFromShape(x.shape));
  return [y];
});

registerWasmKernel(GELU_GRAD, ['dy', 'x'], (k, b, [dy, x]) => {
  const dx = b.makeOutput(x.shape.slice(), 'float32');
  const [pdy, px, pdx] = heapOffsets(b, [dy, x, dx]);
  k.geluBackward(pdy, px, pdx, tf.util.sizeFromShape(x.shape));
  return [dx];
});

const matMulBody: Body = (k, b, [a, w, bias]) => {
  const [M, K] = a.shape;
  const N = w.shape[1];
  const c = b.makeOutput([M, N], 'float32');
  const [pa, pw, pc] = heapOffsets(b, [a, w, c]);
  k.matMul(pa, pw, bias === undefined ? 0 : b.getMemoryOffset(bias.dataId), pc, M, K, N);
  return [c];
};
registerWasmKernel(MAT_MUL, ['a', 'b'], matMulBody);
registerWasmKernel(MAT_MUL_BIAS, ['a', 'b', 'bias'], matMulBody);

registerWasmKernel(MAT_MUL_TN, ['a', 'b'], (k, b, [a, bt]) => {
  const [K, M] = a.shape;
  const N = bt.shape[1];
  const c = b.makeOutput([M, N], 'float32');
  const [pa, pb, pc] = heapOffsets(b, [a, bt, c]);
  k.matMulTN(pa, pb, pc, K, M, N);
  return [c];
});

registerWasmKernel(COLUMN_SUMS, ['x'], (k, b, [x]) => {
  const [rows, n] = x.shape;
  const out = b.makeOutput([n], 'float32');
  const [px, po] = heapOffsets(b, [x, out]);
  k.columnSums(px, po, rows, n);
  return [out];
});

/** A convolution's geometry: conv.ts's output size and the zero rows above / columns left, and the stride. */
export type ConvShape = Pick<ConvGeometry, 'outHeight' | 'outWidth' | 'top' | 'left'> & { stride: number };

/** The geometry arguments of the conv kernels: batch, H, W, C, k, s, OH, OW, top, left, N. */
function convArguments(x: tf.TensorInfo, k: number, outChannels: number, attrs: tf.NamedAttrMap): number[] {
  const g = attrs as unknown as ConvShape;
  const [batch, height, width, channels] = x.shape;
  return [batch, height, width, channels, k, g.stride, g.outHeight, g.outWidth, g.top, g.left, outChannels];
}

/** Runs a conv kernel on the image x with the scratch its layout needs (assembly/layers.ts's convScratchFloats). */
function withConvScratch(k: LayerKernels, b: WasmBackend, x: tf.TensorInfo, size: number, attrs: tf.NamedAttrMap, what: string, body: (scratch: number) => void): void {
  const g = attrs as unknown as ConvShape;
  withScratch(b, k.convScratchFloats(x.shape[0], x.shape[3], size, g.stride, g.outHeight, g.outWidth), what, body);
}

registerWasmKernel(CONV, ['x', 'w', 'bias'], (k, b, [x, w, bias], attrs) => {
  const [size, , , outChannels] = w.shape;
  const g = attrs as unknown as ConvShape;
  const y = b.makeOutput([x.shape[0], g.outHeight, g.outWidth, outChannels], 'float32');
  withConvScratch(k, b, x, size, attrs, CONV, (scratch) => {
    const [px, pw, pb, py] = heapOffsets(b, [x, w, bias, y]);
    k.convForward(px, pw, pb, py, scratch, ...convArguments(x, size, outChannels, attrs));
  });
  return [y];
});

registerWasmKernel(CONV_KERNEL_GRAD, ['x', 'dy'], (k, b, [x, dy], attrs) => {
  const size = attrs.kernelSize as number;
  const outChannels = dy.shape[3];
  const dw = b.makeOutput([size, size, x.shape[3], outChannels], 'float32');
  const db = b.makeOutput([outChannels], 'float32');
  withConvScratch(k, b, x, size, attrs, CONV_KERNEL_GRAD, (scratch) => {
    const [px, pdy, pdw, pdb] = heapOffsets(b, [x, dy, dw, db]);
    k.convKernelGradient(px, pdy, pdw, pdb, scratch, ...convArguments(x, size, outChannels, attrs));
  });
  return [dw, db];
});

registerWasmKernel(CONV_INPUT_GRAD, ['dy', 'wt'], (k, b, [dy, wt], attrs) => {
  const size = attrs.kernelSize as number;
  const inShape = attrs.inShape as number[];
  const dx = b.makeOutput(inShape.slice(), 'float32');
  withConvScratch(k, b, dx, size, attrs, CONV_INPUT_GRAD, (scratch) => {
    const [pdy, pwt, pdx] = heapOffsets(b, [dy, wt, dx]);
    k.convInputGradient(pdy, pwt, pdx, scratch, ...convArguments(dx, size, dy.shape[3], attrs));
  });
  return [dx];
});

registerWasmKernel(MAX_POOL, ['x'], (k, b, [x], attrs) => {
  const p = attrs.p as number;
  const [batch, height, width, channels] = x.shape;
  const y = b.makeOutput([batch, Math.floor(height / p), Math.floor(width / p), channels], 'float32');
  const [px, py] = heapOffsets(b, [x, y]);
  k.maxPoolForward(px, py, batch, height, width, channels, p, attrs.relu as boolean);
  return [y];
});

registerWasmKernel(MAX_POOL_GRAD, ['x', 'y', 'dy'], (k, b, [x, y, dy], attrs) => {
  const [batch, height, width, channels] = x.shape;
  const dx = b.makeOutput(x.shape.slice(), 'float32');
  const [px, py, pdy, pdx] = heapOffsets(b, [x, y, dy, dx]);
  k.maxPoolBackward(px, py, pdy, pdx, batch, height, width, channels, attrs.p as number, attrs.relu as boolean);
  return [dx];
});

/** Runs a registered kernel through the engine: its outputs, as a list. */
export const runKernel = (name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}): tf.Tensor[] => {
  const out = tf.engine().runKernel(name, inputs, attrs);
  return Array.isArray(out) ? out : [out as tf.Tensor];
};

/** Whether attention over heads of width `headWidth` can run fused now. */
export function canFuseAttention(headWidth: number): boolean {
  return headWidth % 4 === 0 && fusedKernel('attention');
}

/**
 * softmax(q·kᵀ/√hd)·v per example and head, for qkv [batch·tokens, 3·width] = [q | k | v] (each
 * [batch·tokens, heads·hd]) → [batch·tokens, width] in q's layout; with `causal` token i attends to tokens ≤ i
 * only. Gradient: dqkv in the same packed layout (attentionBackward in assembly/layers.ts). Check
 * canFuseAttention first.
 */
export function fusedAttention(qkv: tf.Tensor2D, shape: { batch: number; tokens: number; heads: number; causal: boolean }): tf.Tensor2D {
  const attrs = { ...shape } as unknown as tf.NamedAttrMap;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [packed, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const [out, probs] = runKernel(ATTENTION, { qkv: packed }, attrs);
    save([packed, probs]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => runKernel(ATTENTION_GRAD, { dy, qkv: saved[0], probs: saved[1] }, attrs)[0],
    };
  });
  return op(qkv) as tf.Tensor2D;
}

/** Whether LayerNorm over `width` features can run fused now. */
export function canFuseLayerNorm(width: number): boolean {
  return width % 4 === 0 && fusedKernel('layerNorm');
}

/**
 * LayerNorm over the last axis of x [rows, width] with scale and bias [width] (the maths of layers.ts's
 * layerNorm, one pass forward and one backward). Check canFuseLayerNorm first.
 */
export const fusedLayerNorm: (x: tf.Tensor2D, scale: tf.Tensor, bias: tf.Tensor, epsilon: number) => tf.Tensor2D = (x, scale, bias, epsilon) => {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, si, bi, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const [y, xhat, rstd] = runKernel(LAYER_NORM, { x: xi, scale: si, bias: bi }, { epsilon });
    save([xhat, rstd, si]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, rs, sc] = saved;
        return runKernel(LAYER_NORM_GRAD, { dy, xhat: xh, rstd: rs, scale: sc });
      },
    };
  });
  return op(x, scale, bias) as tf.Tensor2D;
};

/** Whether GELU (sigmoid form) of a tensor of `size` elements can run fused now. */
export function canFuseGelu(size: number): boolean {
  return size % 4 === 0 && fusedKernel('gelu');
}

const geluOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  save([x]);
  return { value: runKernel(GELU, { x })[0], gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => runKernel(GELU_GRAD, { dy, x: saved[0] })[0] };
});

/** x·σ(1.702x), elementwise, with its gradient dy·(s + 1.702·x·s·(1 − s)). Check canFuseGelu first. */
export function fusedGelu<T extends tf.Tensor>(x: T): T {
  return geluOp(x) as T;
}

/** Whether a·b with b of `columns` columns can run as one kernel now. */
export function canFuseMatMul(columns: number): boolean {
  return columns % 4 === 0 && fusedKernel('matMul');
}

/**
 * a·b (+ bias) for a [M, K], b [K, N], bias [N] → [M, N] (a dense layer's x·W + b, and dy·Wᵀ given Wᵀ), in
 * register tiles with no packing of b. No gradient of its own: used inside hand-written gradients only.
 * Check canFuseMatMul first.
 */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  return (bias === undefined ? runKernel(MAT_MUL, { a, b }) : runKernel(MAT_MUL_BIAS, { a, b, bias }))[0] as tf.Tensor2D;
}

/** Whether aᵀ·b with b of `columns` columns can run as one kernel now. */
export function canFuseMatMulTN(columns: number): boolean {
  return columns % 4 === 0 && fusedKernel('matMulTN');
}

/**
 * aᵀ·b for a [K, M], b [K, N] → [M, N] without transposing a (a dense layer's weight gradient xᵀ·dy).
 * No gradient of its own: it is used inside hand-written gradients only. Check canFuseMatMulTN first.
 */
export function matMulTN(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return runKernel(MAT_MUL_TN, { a, b })[0] as tf.Tensor2D;
}

/** Whether column sums can run as one kernel now. */
export function canFuseColumnSums(): boolean {
  return fusedKernel('columnSums');
}

/**
 * Σ over the rows of x [rows, n] → [n] in one pass (tfjs's Sum over axis 0 transposes x first). No gradient of
 * its own: used inside hand-written gradients only. Check canFuseColumnSums first.
 */
export function columnSums(x: tf.Tensor2D): tf.Tensor1D {
  return runKernel(COLUMN_SUMS, { x })[0] as tf.Tensor1D;
}

/**
 * Whether a convolution from `inChannels` to `outChannels` channels can run fused now (outChannels a multiple
 * of 4; with an input gradient, inChannels too).
 */
export function canFuseConv(inChannels: number, outChannels: number, inputGrad: boolean): boolean {
  return outChannels % 4 === 0 && (!inputGrad || inChannels % 4 === 0) && fusedKernel('conv');
}

/**
 * y = conv(x, kernel) + bias, NHWC: x [b, h, w, in], kernel [k, k, in, out], bias [out] → [b, oh, ow, out], as
 * products of patch rows (im2col, a chunk of 64 output pixels at a time) with the kernel as a [k·k·in, out]
 * matrix. Gradients: dkernel = patchesᵀ·dy and dbias = Σ dy (one pass, summed over output pixels in order); with
 * `inputGrad` dx, for stride 1 the forward kernel on dy with the kernel rotated 180° and its channels swapped
 * ("full" padding: k − 1 − top above, k − 1 − left to the left), for larger strides col2im(dy·kernelᵀ);
 * without it x gets no gradient (the data). Check canFuseConv first.
 */
export function fusedConv2d(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D, shape: ConvShape, inputGrad: boolean): tf.Tensor4D {
  const k = kernel.shape[0];
  const [, height, width, inChannels] = x.shape;
  const attrs = { ...shape, kernelSize: k, inShape: x.shape } as unknown as tf.NamedAttrMap;
  const inputGradient = (ws: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor => {
    const out = ws.shape[3];
    if (shape.stride > 1) return runKernel(CONV_INPUT_GRAD, { dy, wt: tf.transpose(tf.reshape(ws, [k * k * inChannels, out])) }, attrs)[0];
    const rotated = tf.transpose(tf.reverse(ws, [0, 1]), [0, 1, 3, 2]); // [k, k, out, in]
    const full = { stride: 1, outHeight: height, outWidth: width, top: k - 1 - shape.top, left: k - 1 - shape.left };
    return runKernel(CONV, { x: dy, w: rotated, bias: tf.zeros([inChannels]) }, full as unknown as tf.NamedAttrMap)[0];
  };
  if (!inputGrad) {
    const onData = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [w, b] = args as [tf.Tensor4D, tf.Tensor1D];
      return { value: runKernel(CONV, { x, w, bias: b }, attrs)[0], gradFunc: (dy: tf.Tensor) => runKernel(CONV_KERNEL_GRAD, { x, dy }, attrs) };
    });
    return onData(kernel, bias) as tf.Tensor4D;
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, w, b, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.GradSaveFunc];
    save([xi, w]);
    return {
      value: runKernel(CONV, { x: xi, w, bias: b }, attrs)[0],
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        return [inputGradient(ws, dy as tf.Tensor4D), ...runKernel(CONV_KERNEL_GRAD, { x: xs, dy }, attrs)];
      },
    };
  });
  return op(x, kernel, bias) as tf.Tensor4D;
}

/** Whether max-pooling over `channels` channels can run fused now (a multiple of 4). */
export function canFuseMaxPool(channels: number): boolean {
  return channels % 4 === 0 && fusedKernel('maxPool');
}

/**
 * Max-pooling with p×p windows and stride p of x [b, h, w, c] (of relu(x) with `relu`) → [b, ⌊h/p⌋, ⌊w/p⌋, c];
 * trailing rows and columns that fill no window are dropped. Gradient: each window's dy goes to the positions
 * equal to its max, shared equally among ties, times relu′(x) = [x > 0] with `relu` (the maths of conv.ts's
 * maxPool after layers.ts's ReLU, in one pass). Check canFuseMaxPool first.
 */
export function fusedMaxPool(x: tf.Tensor4D, p: number, relu: boolean): tf.Tensor4D {
  const attrs = { p, relu } as unknown as tf.NamedAttrMap;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, save] = args as [tf.Tensor4D, tf.GradSaveFunc];
    const y = runKernel(MAX_POOL, { x: xi }, attrs)[0];
    save([xi, y]);
    return { value: y, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => runKernel(MAX_POOL_GRAD, { x: saved[0], y: saved[1], dy }, attrs)[0] };
  });
  return op(x) as tf.Tensor4D;
}
