/**
 * Parameters and gradients as one flat float32 array in a SharedArrayBuffer, in the model's parameter
 * order: the main thread writes the parameters once per step, each worker reads them into its replica
 * and writes its micro-batches' gradients back into its own slots.
 */
import * as tf from '../../tf.js';
import type { Model } from '../../models/model.js';
import { layerKernelsRun } from '../../models/fused.js';
import { unpackFlat } from './flat-wasm.js';

export interface ParamLayout {
  /** Parameter names in the model's order (`blocks.0.attn.q.kernel`, …). */
  names: string[];
  shapes: number[][];
  /** Start of each parameter in the flat array, in elements. */
  offsets: number[];
  /** Elements in all parameters together. */
  total: number;
}

export function layoutOf(model: Model): ParamLayout {
  const names: string[] = [];
  const shapes: number[][] = [];
  const offsets: number[] = [];
  let total = 0;
  for (const [name, variable] of model.params) {
    names.push(name);
    shapes.push([...variable.shape]);
    offsets.push(total);
    total += variable.size;
  }
  return { names, shapes, offsets, total };
}

/** Where two layouts differ (a replica must match the main model exactly), or undefined. */
export function layoutDifference(a: ParamLayout, b: ParamLayout): string | undefined {
  if (a.names.length !== b.names.length) return `${a.names.length} parameters against ${b.names.length}`;
  for (let i = 0; i < a.names.length; i++) {
    if (a.names[i] !== b.names[i] || a.shapes[i].join('x') !== b.shapes[i].join('x')) {
      return `parameter ${i} is ${a.names[i]} [${a.shapes[i]}] against ${b.names[i]} [${b.shapes[i]}]`;
    }
  }
  return undefined;
}

/** A float32 view of `slots` flat copies of the parameters, on shared memory. */
export function sharedFloats(layout: ParamLayout, slots = 1): Float32Array {
  return new Float32Array(new SharedArrayBuffer(layout.total * slots * Float32Array.BYTES_PER_ELEMENT));
}

/** Slot `slot` of a view made by sharedFloats. */
export function slotOf(view: Float32Array, layout: ParamLayout, slot: number): Float32Array {
  return view.subarray(slot * layout.total, (slot + 1) * layout.total);
}

/** Copies tensors (parameters or gradients, by name) into a flat slot. */
export function writeFlat(tensors: ReadonlyMap<string, tf.Tensor> | tf.NamedTensorMap, layout: ParamLayout, slot: Float32Array): void {
  const get = (name: string) => (tensors instanceof Map ? tensors.get(name) : (tensors as tf.NamedTensorMap)[name]);
  layout.names.forEach((name, i) => {
    const tensor = get(name);
    if (!tensor) throw new Error(`no tensor for parameter ${name}`);
    slot.set(tensor.dataSync() as Float32Array, layout.offsets[i]);
  });
}

/** New tensors by parameter name from a flat slot (copied out of shared memory; on wasm once, then cut by one kernel). */
export function readFlat(layout: ParamLayout, slot: Float32Array): tf.NamedTensorMap {
  if (layerKernelsRun()) {
    // tfjs-backend-wasm copies the values onto its heap as it makes the tensor: the shared slot is not kept.
    const flat = tf.tensor1d(slot, 'float32');
    const out = unpackFlat(flat, layout);
    flat.dispose();
    return out;
  }
  const out: tf.NamedTensorMap = {};
  layout.names.forEach((name, i) => {
    const start = layout.offsets[i];
    const size = layout.shapes[i].reduce((a, b) => a * b, 1);
    out[name] = tf.tensor(slot.slice(start, start + size), layout.shapes[i], 'float32');
  });
  return out;
}

/**
 * Sets a replica's parameters from a flat slot. Each variable is assigned a new tensor: writing into a
 * variable's memory in place is not seen by the wasm backend's packed matMul weights (DESIGN.md).
 */
export function loadParams(model: Model, layout: ParamLayout, slot: Float32Array): void {
  const values = readFlat(layout, slot);
  for (const name of layout.names) {
    model.params.get(name)!.assign(values[name]);
    values[name].dispose();
  }
}
