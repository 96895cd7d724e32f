/**
 * Parameter layouts for exported safetensors. lion-train (as tfjs) stores a dense kernel as [in, out] and a
 * convolution kernel as [k, k, in, out]; PyTorch's nn.Linear.weight is [out, in] and nn.Conv2d.weight is
 * [out, in, k, k]. `torch` rewrites every `….kernel` into PyTorch's order; biases, norms and embeddings
 * (nn.Embedding.weight is [vocab, width] in both) are unchanged.
 */
import type { NamedArray } from './safetensors.js';

export const LAYOUTS = ['tfjs', 'torch'] as const;
export type Layout = (typeof LAYOUTS)[number];

/** `data` (row-major, `shape`) with its axes permuted: output axis i is input axis perm[i]. */
function permute(array: NamedArray, perm: number[]): NamedArray {
  const { shape, data } = array;
  const outShape = perm.map((axis) => shape[axis]);
  const inStrides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new (data.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(data.length);
  const index = new Array<number>(outShape.length).fill(0);
  for (let o = 0; o < data.length; o++) {
    let source = 0;
    for (let i = 0; i < perm.length; i++) source += index[i] * inStrides[perm[i]];
    out[o] = data[source];
    for (let i = outShape.length - 1; i >= 0; i--) {
      if (++index[i] < outShape[i]) break;
      index[i] = 0;
    }
  }
  return { name: array.name, shape: outShape, data: out };
}

/** The arrays in `layout`: unchanged for tfjs; for torch, dense kernels [in, out] → [out, in], conv kernels [k, k, in, out] → [out, in, k, k]. */
export function toLayout(arrays: NamedArray[], layout: Layout): NamedArray[] {
  if (layout === 'tfjs') return arrays;
  return arrays.map((array) => {
    if (!array.name.endsWith('.kernel')) return array;
    if (array.shape.length === 2) return permute(array, [1, 0]);
    if (array.shape.length === 4) return permute(array, [3, 2, 0, 1]);
    return array;
  });
}
