/**
 * The two-thread step's flat arithmetic as single kernel calls on the wasm backend: a model's gradients packed
 * into one flat tensor, two flat tensors summed and divided (the average of a step's micro-batch gradients), and
 * one flat tensor cut back into tensors by parameter (the averaged gradients; a worker's parameters read from
 * shared memory). In place of one read-back per gradient, a JavaScript loop over the sums and one new tensor per
 * parameter (39 for configs/vit.yaml): on its gradients, averaging two micro-batches measured 0.21-0.34 ms against
 * 0.62-0.98 ms, reading a slot back 0.10-0.16 ms against 0.23 ms (medians of 400). Plain copies, and float32 sums and quotients as
 * tf.add and tf.div make them: the same numbers as the JavaScript path, which the other backends keep.
 * Writing to shared memory stays one read-back per tensor (layout.ts's writeFlat): packing first measured slower.
 */
import * as tf from '../../tf.js';
import { layerKernelsRun, wasmKernels, type WasmBackend } from '../../models/fused.js';
import type { ParamLayout } from './layout.js';

const PACK = 'LionTrainPackFlat';
const UNPACK = 'LionTrainUnpackFlat';
const SUM_DIVIDED = 'LionTrainSumDivided';

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function register(kernelName: string, kernelFunc: (inputs: tf.NamedTensorInfoMap, b: WasmBackend, attrs: tf.NamedAttrMap) => tf.TensorInfo | tf.TensorInfo[]): void {
  if (tf.getKernel(kernelName, 'wasm') !== undefined) return;
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: ({ inputs, backend, attrs }) => kernelFunc(inputs, backend as unknown as WasmBackend, attrs ?? {}) });
}

register(PACK, (inputs, b, attrs) => {
  const count = attrs.count as number;
  const parts = Array.from({ length: count }, (_, i) => inputs[`x${i}`] as tf.TensorInfo);
  const out = b.makeOutput([parts.reduce((n, t) => n + sizeOf(t.shape), 0)], 'float32');
  const k = wasmKernels(b);
  let at = b.getMemoryOffset(out.dataId);
  for (const t of parts) {
    const n = sizeOf(t.shape);
    k.copyFloatArray(at, b.getMemoryOffset(t.dataId), n);
    at += 4 * n;
  }
  return out;
});

register(UNPACK, (inputs, b, attrs) => {
  const shapes = attrs.shapes as number[][];
  const outs = shapes.map((shape) => b.makeOutput(shape.slice(), 'float32'));
  const k = wasmKernels(b);
  let at = b.getMemoryOffset((inputs.flat as tf.TensorInfo).dataId);
  outs.forEach((out, i) => {
    const n = sizeOf(shapes[i]);
    k.copyFloatArray(b.getMemoryOffset(out.dataId), at, n);
    at += 4 * n;
  });
  return outs;
});

register(SUM_DIVIDED, (inputs, b, attrs) => {
  const [x, y] = [inputs.a as tf.TensorInfo, inputs.b as tf.TensorInfo];
  const out = b.makeOutput(x.shape.slice(), 'float32');
  wasmKernels(b).sumFloatsDivided(b.getMemoryOffset(x.dataId), b.getMemoryOffset(y.dataId), b.getMemoryOffset(out.dataId), sizeOf(x.shape), attrs.divisor as number);
  return out;
});

/** Whether the flat copies run as kernels now (the wasm backend with its layer kernels). */
export function flatKernelsRun(): boolean {
  return layerKernelsRun();
}

const run = (name: string, inputs: tf.NamedTensorMap, attrs: object): tf.Tensor[] => {
  const out = tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap);
  return Array.isArray(out) ? out : [out as tf.Tensor];
};

/** The tensors (by name, in `layout`'s order, float32) as one flat tensor [layout.total]. Check flatKernelsRun first. */
export function packFlat(get: (name: string) => tf.Tensor, layout: ParamLayout): tf.Tensor1D {
  const inputs = Object.fromEntries(layout.names.map((name, i) => [`x${i}`, get(name)]));
  return run(PACK, inputs, { count: layout.names.length })[0] as tf.Tensor1D;
}

/** A flat tensor [layout.total] cut into new tensors by parameter name. Check flatKernelsRun first. */
export function unpackFlat(flat: tf.Tensor1D, layout: ParamLayout): tf.NamedTensorMap {
  const outs = run(UNPACK, { flat }, { shapes: layout.shapes });
  return Object.fromEntries(layout.names.map((name, i) => [name, outs[i]]));
}

/** (a + b) / divisor elementwise in float32, as tf.div(tf.add(a, b), divisor) gives. Check flatKernelsRun first. */
export function sumDivided(a: tf.Tensor1D, b: tf.Tensor1D, divisor: number): tf.Tensor1D {
  return run(SUM_DIVIDED, { a, b }, { divisor })[0] as tf.Tensor1D;
}
