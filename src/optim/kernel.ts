/**
 * Update rules and the fused-kernel plumbing that runs them.
 *
 * An `UpdateRule` is an optimizer's maths twice over, as pure functions:
 * - `ops`: tfjs ops, tensors in and tensors out (any backend: webgl, tensorflow, …);
 * - `arrays`: one fused pass over Float32Arrays, writing fresh output arrays (`cpu`, `wasm`).
 *
 * `registerRule` turns `arrays` into a tfjs kernel for the `cpu` and `wasm` backends, run through
 * `tf.engine().runKernel`, so the engine does the tensor bookkeeping (tidy, memory counts). The
 * kernel never writes into its inputs: it reads the parameter, gradient and state buffers (on wasm
 * straight out of the backend's heap, no copy) and writes NEW output buffers, which the adapter
 * then `assign`s to the variables. Writing new weights in place into a variable's wasm memory
 * would be invisible to later matMuls, which cache packed weights per tensor (DESIGN.md, Trap).
 */
import * as tf from '@tensorflow/tfjs';

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
}

/** The backends that get a fused kernel. */
export const FUSED_BACKENDS = ['cpu', 'wasm'] as const;

export function kernelName(rule: UpdateRule<Hyper>): string {
  return `LionTrain${rule.name}Update`;
}

// The parts of the cpu and wasm backends the kernels use (no import of the backend packages).
interface CpuBackend {
  readSync(dataId: tf.DataId): unknown;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
}
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function asFloat32(owner: string, a: unknown): Float32Array {
  if (!(a instanceof Float32Array)) throw new Error(`${owner}: the fused kernel needs float32 tensors`);
  return a;
}

function makeKernelFunc<H extends Hyper>(rule: UpdateRule<H>, backendName: string): tf.KernelFunc {
  const name = kernelName(rule as unknown as UpdateRule<Hyper>);
  return ({ inputs, backend, attrs }) => {
    const h = attrs as unknown as H;
    const param = inputs.param as tf.TensorInfo;
    const grad = inputs.grad as tf.TensorInfo;
    const specs = rule.state(param.shape, h);
    const stateInfos = specs.map((_, i) => inputs[`s${i}`] as tf.TensorInfo);
    const outShapes = [param.shape.slice(), ...specs.map((s) => s.shape)];
    if (backendName === 'wasm') {
      const b = backend as WasmBackend;
      // Allocate every output before taking any view: malloc may grow the wasm memory, which
      // detaches views taken earlier.
      const outs = outShapes.map((s) => b.makeOutput(s, 'float32'));
      const view = (t: tf.TensorInfo): Float32Array => asFloat32(name, b.typedArrayFromHeap(t));
      rule.arrays(param.shape, view(param), view(grad), stateInfos.map(view), outs.map(view), h);
      return outs;
    }
    const b = backend as CpuBackend;
    const read = (t: tf.TensorInfo): Float32Array => asFloat32(name, b.readSync(t.dataId));
    const outArrays = outShapes.map((s) => new Float32Array(sizeOf(s)));
    rule.arrays(param.shape, read(param), read(grad), stateInfos.map(read), outArrays, h);
    return outShapes.map((s, i) => b.makeTensorInfo(s, 'float32', outArrays[i]));
  };
}

/** Registers the fused kernel of `rule` for `cpu` and `wasm` (once; safe to call again). */
export function registerRule<H extends Hyper>(rule: UpdateRule<H>): void {
  const kernel = kernelName(rule as unknown as UpdateRule<Hyper>);
  for (const backendName of FUSED_BACKENDS) {
    if (tf.getKernel(kernel, backendName) === undefined) {
      tf.registerKernel({ kernelName: kernel, backendName, kernelFunc: makeKernelFunc(rule, backendName) });
    }
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
