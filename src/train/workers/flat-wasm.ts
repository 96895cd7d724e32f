/**
 * The two-thread step's flat arithmetic as single kernel calls on the wasm backend: a model's gradients packed
 * into one flat tensor, two flat tensors summed and divided (the average of a step's micro-batch gradients), and
 * one flat tensor cut back into tensors by parameter (the averaged gradients; a worker's parameters read from
 * shared memory). In place of one read-back per gradient, a JavaScript loop over the sums and one new tensor per
 * parameter (39 for configs/vit.yaml): on its gradients, averaging two micro-batches measured 0.21-0.34 ms against
 * 0.62-0.98 ms, reading a slot back 0.10-0.16 ms against 0.23 ms (medians of 400). Plain copies, and float32 sums
 * and quotients as tf.add and tf.div make them: the same numbers as the JavaScript path, which the other backends
 * keep (callers check fused.ts's layerKernelsRun). Writing to shared memory stays one read-back per tensor
 * (layout.ts's writeFlat): packing first measured slower.
 */
import * as tf from '../../tf.js';
import { registerWasmKernel, runKernel } from '../../models/fused.js';
import type { ParamLayout } from './layout.js';

const PACK = 'LionTrainPackFlat';
const UNPACK = 'LionTrainUnpackFlat';
const SUM_DIVIDED = 'LionTrainSumDivided';

const { sizeFromShape } = tf.util;

registerWasmKernel(PACK, (attrs) => Array.from({ length: attrs.count as number }, (_, i) => `x${i}`), (k, b, parts) => {
  const out = b.makeOutput([parts.reduce((n, t) => n + sizeFromShape(t.shape), 0)], 'float32');
  let at = b.getMemoryOffset(out.dataId);
  for (const t of parts) {
    const n = sizeFromShape(t.shape);
    k.copyFloatArray(at, b.getMemoryOffset(t.dataId), n);
    at += 4 * n;
  }
  return [out];
});

registerWasmKernel(UNPACK, ['flat'], (k, b, [flat], attrs) => {
  const outs = (attrs.shapes as number[][]).map((shape) => b.makeOutput(shape.slice(), 'float32'));
  let at = b.getMemoryOffset(flat.dataId);
  for (const out of outs) {
    const n = sizeFromShape(out.shape);
    k.copyFloatArray(b.getMemoryOffset(out.dataId), at, n);
    at += 4 * n;
  }
  return outs;
});

registerWasmKernel(SUM_DIVIDED, ['a', 'b'], (k, b, [x, y], attrs) => {
  const out = b.makeOutput(x.shape.slice(), 'float32');
  k.sumFloatsDivided(b.getMemoryOffset(x.dataId), b.getMemoryOffset(y.dataId), b.getMemoryOffset(out.dataId), sizeFromShape(x.shape), attrs.divisor as number);
  return [out];
});

/** The tensors (by name, in `layout`'s order, float32) as one flat tensor [layout.total]. Only where layerKernelsRun(). */
export function packFlat(get: (name: string) => tf.Tensor, layout: ParamLayout): tf.Tensor1D {
  const inputs = Object.fromEntries(layout.names.map((name, i) => [`x${i}`, get(name)]));
  return runKernel(PACK, inputs, { count: layout.names.length })[0] as tf.Tensor1D;
}

/** A flat tensor [layout.total] cut into new tensors by parameter name. Only where layerKernelsRun(). */
export function unpackFlat(flat: tf.Tensor1D, layout: ParamLayout): tf.NamedTensorMap {
  const outs = runKernel(UNPACK, { flat }, { shapes: layout.shapes } as unknown as tf.NamedAttrMap);
  return Object.fromEntries(layout.names.map((name, i) => [name, outs[i]]));
}

/** (a + b) / divisor elementwise in float32, as tf.div(tf.add(a, b), divisor) gives. Only where layerKernelsRun(). */
export function sumDivided(a: tf.Tensor1D, b: tf.Tensor1D, divisor: number): tf.Tensor1D {
  return runKernel(SUM_DIVIDED, { a, b }, { divisor })[0] as tf.Tensor1D;
}
