/**
 * 2-D convolution and max-pooling whose gradients exist, and are fast, on every backend.
 *
 * On wasm, where the channels are multiples of 4 (output channels always; input channels when the input
 * needs a gradient), a convolution runs as fused.ts's kernels: products of patch rows (im2col, 64 output
 * pixels at a time, never the whole patch matrix) with the kernel as a [k·k·in, out] matrix in the register
 * tiles of the dense layers; the kernel gradient patchesᵀ·dy and the bias gradient in one pass; the input
 * gradient as the forward kernel on dy with the kernel rotated (stride 1) or col2im(dy·kernelᵀ). Max-pooling,
 * with a ReLU before it folded in, is one kernel each way (`activatedMaxPool`). Measured on `cnn-fashion.yaml`'s
 * step (batch 125, 2 cores' VM, one thread): 176 → ~60 ms.
 *
 * Otherwise: the wasm backend has no `Conv2DBackpropFilter` (the kernel gradient of tf.conv2d), and its
 * `Conv2DBackpropInput` and `MaxPoolGrad` are scalar loops. Its forward `Conv2D`, `MaxPool` and `AvgPool`
 * reach XNNPACK. So on wasm and cpu both gradients of a convolution are written as forward convolutions
 * (`tf.customGrad`), the way layers.ts writes dense gradients as plain 2-D matMuls:
 *   dx = dy (dilated by the stride) correlated with the kernel rotated 180°, in/out channels swapped;
 *   dW = x (channels ↔ batch transposed) correlated with dy used as a filter dilated by the stride.
 * Measured on wasm (2 cores, batch 125, 14x14, 32 → 64 channels, 3x3): ~160 ms per forward + backward,
 * against ~340 ms for im2col as tfjs ops (a one-hot depthwise convolution) + 2-D matMuls + col2im, and
 * ~650 ms for the dx of tf.conv2dTranspose alone. Backends with native gradients (`tensorflow` = tfjs-node,
 * `webgl`) use tf.conv2d and tf.maxPool with tfjs autodiff.
 *
 * Shapes: images are NHWC, [batch, height, width, channels]; kernels [k, k, in, out], as tf.conv2d.
 */
import * as tf from '../tf.js';
import { canFuseConv, canFuseMaxPool, fusedConv2d, fusedMaxPool } from './fused.js';
import { activate, type Activation } from './layers.js';

export type Padding = 'same' | 'valid';

/** Output size and explicit padding of a k×k convolution with stride s over an h×w image (TensorFlow's rules). */
export interface ConvGeometry {
  outHeight: number;
  outWidth: number;
  /** Zero rows above / columns left added by 'same'; the rest of the padding goes below / right. */
  top: number;
  bottom: number;
  left: number;
  right: number;
}

function axis(size: number, k: number, s: number, padding: Padding): [out: number, before: number, after: number] {
  if (padding === 'valid') return [size >= k ? Math.floor((size - k) / s) + 1 : 0, 0, 0];
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + k - size, 0);
  return [out, Math.floor(total / 2), total - Math.floor(total / 2)];
}

export function convGeometry(height: number, width: number, k: number, s: number, padding: Padding): ConvGeometry {
  const [outHeight, top, bottom] = axis(height, k, s, padding);
  const [outWidth, left, right] = axis(width, k, s, padding);
  return { outHeight, outWidth, top, bottom, left, right };
}

/** Backends whose tf.conv2d / tf.maxPool gradients are native and fast: the custom ones are not used there. */
const NATIVE_GRADIENT_BACKENDS = new Set(['tensorflow', 'webgl']);

function nativeGradients(): boolean {
  return NATIVE_GRADIENT_BACKENDS.has(tf.getBackend());
}

type Pad4 = [[number, number], [number, number], [number, number], [number, number]];

function pads(g: Pick<ConvGeometry, 'top' | 'bottom' | 'left' | 'right'>): Pad4 {
  return [[0, 0], [g.top, g.bottom], [g.left, g.right], [0, 0]];
}

/**
 * Inserts s − 1 zeros between rows and between columns: [b, oh, ow, c] → [b, (oh−1)s+1, (ow−1)s+1, c].
 * Rank-4 reshapes and pads only (one axis at a time).
 */
export function dilate(x: tf.Tensor4D, s: number): tf.Tensor4D {
  if (s === 1) return x;
  const [b, oh, ow, c] = x.shape;
  const h = (oh - 1) * s + 1;
  const w = (ow - 1) * s + 1;
  const rows = tf.pad(tf.reshape(x, [b, oh, 1, ow * c]), [[0, 0], [0, 0], [0, s - 1], [0, 0]]); // [b, oh, s, ow·c]
  const tall = tf.slice(tf.reshape(rows, [b, oh * s, ow, c]), [0, 0, 0, 0], [b, h, ow, c]); // [b, h, ow, c]
  const cols = tf.pad(tf.reshape(tall, [b * h, ow, 1, c]), [[0, 0], [0, 0], [0, s - 1], [0, 0]]); // [b·h, ow, s, c]
  return tf.slice(tf.reshape(cols, [b, h, ow * s, c]), [0, 0, 0, 0], [b, h, w, c]) as tf.Tensor4D;
}

/**
 * Where the forward pass reads: rows [0, (oh−1)s + k) of the padded input. `usedBottom` is the padding
 * below that the forward actually uses (negative when trailing input rows are never read; likewise right).
 */
function usedPadding(inHeight: number, inWidth: number, k: number, s: number, g: ConvGeometry) {
  return {
    top: g.top,
    bottom: (g.outHeight - 1) * s + k - inHeight - g.top,
    left: g.left,
    right: (g.outWidth - 1) * s + k - inWidth - g.left,
  };
}

/** dL/dx for y = conv(x, kernel): dy dilated by s, correlated with the rotated kernel [k, k, out, in]. */
function inputGradient(dy: tf.Tensor4D, kernel: tf.Tensor4D, inShape: number[], s: number, g: ConvGeometry): tf.Tensor4D {
  const k = kernel.shape[0];
  const used = usedPadding(inShape[1], inShape[2], k, s, g);
  const rotated = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D; // [k, k, out, in]
  const full = { top: k - 1 - used.top, bottom: k - 1 - used.bottom, left: k - 1 - used.left, right: k - 1 - used.right };
  return tf.conv2d(dilate(dy, s), rotated, 1, pads(full)); // [b, h, w, in]
}

/**
 * dL/dkernel: dW[i, j, ci, co] = Σ_{b, y, x} xpad[b, y·s + i, x·s + j, ci] · dy[b, y, x, co], a convolution of
 * x as [in, h, w, batch] with dy as a [oh, ow, batch, out] filter dilated by s → [in, k, k, out].
 */
function kernelGradient(x: tf.Tensor4D, dy: tf.Tensor4D, k: number, s: number, g: ConvGeometry): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const used = usedPadding(h, w, k, s, g);
  // Trailing rows/columns the forward never read are cut, so every padding is ≥ 0.
  const read = tf.slice(x, [0, 0, 0, 0], [b, h + Math.min(used.bottom, 0), w + Math.min(used.right, 0), c]);
  const xt = tf.transpose(read, [3, 1, 2, 0]) as tf.Tensor4D; // [in, h', w', b]
  const filter = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, b, out]
  const padding = pads({ top: used.top, bottom: Math.max(used.bottom, 0), left: used.left, right: Math.max(used.right, 0) });
  const dw = tf.conv2d(xt, filter, 1, padding, 'NHWC', [s, s]); // [in, k, k, out]
  return tf.transpose(dw, [1, 2, 0, 3]); // [k, k, in, out]
}

function forwardConv(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D, s: number, g: ConvGeometry): tf.Tensor4D {
  return tf.fused.conv2d({ x, filter: kernel, strides: s, pad: pads(g), bias });
}

function biasGradient(dy: tf.Tensor4D): tf.Tensor1D {
  return tf.sum(tf.reshape(dy, [-1, dy.shape[3]]), 0);
}

/**
 * y = conv(x, kernel) + bias: x [b, h, w, in], kernel [k, k, in, out], bias [out] → [b, oh, ow, out].
 * With `inputGrad: false` no gradient flows back to x (the data, for the first layer): dx is skipped.
 */
export function conv2d(
  x: tf.Tensor4D,
  p: { kernel: tf.Tensor; bias: tf.Tensor },
  stride: number,
  padding: Padding,
  inputGrad = true,
): tf.Tensor4D {
  const kernel = p.kernel as tf.Tensor4D;
  const bias = p.bias as tf.Tensor1D;
  const k = kernel.shape[0];
  const g = convGeometry(x.shape[1], x.shape[2], k, stride, padding);
  if (nativeGradients()) return tf.add(tf.conv2d(x, kernel, stride, pads(g)), bias);
  if (canFuseConv(x.shape[3], kernel.shape[3], inputGrad)) return fusedConv2d(x, kernel, bias, { stride, ...g }, inputGrad);
  if (!inputGrad) {
    const onData = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [w, b, save] = args as [tf.Tensor4D, tf.Tensor1D, tf.GradSaveFunc];
      save([x]);
      return {
        value: forwardConv(x, w, b, stride, g),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
          kernelGradient(saved[0] as tf.Tensor4D, dy as tf.Tensor4D, k, stride, g),
          biasGradient(dy as tf.Tensor4D),
        ],
      };
    });
    return onData(kernel, bias) as tf.Tensor4D;
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, w, b, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.GradSaveFunc];
    save([xi, w]);
    return {
      value: forwardConv(xi, w, b, stride, g),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const d = dy as tf.Tensor4D;
        return [inputGradient(d, ws, xs.shape, stride, g), kernelGradient(xs, d, k, stride, g), biasGradient(d)];
      },
    };
  });
  return op(x, kernel, bias) as tf.Tensor4D;
}

/**
 * Max-pooling with a p×p window and stride p: [b, h, w, c] → [b, ⌊h/p⌋, ⌊w/p⌋, c] (trailing rows and
 * columns that fill no window are dropped, as 'valid' pooling does). Gradient on wasm and cpu: dy goes to
 * the positions equal to their window's maximum, shared equally among ties (a valid subgradient; tfjs's
 * MaxPoolGrad picks one), with nearest-neighbour upsampling; ~2-3x faster than wasm's MaxPoolGrad.
 */
export function maxPool(x: tf.Tensor4D, p: number): tf.Tensor4D {
  if (p === 1) return x;
  const [b, h, w, c] = x.shape;
  const [oh, ow] = [Math.floor(h / p), Math.floor(w / p)];
  const cropped = oh * p === h && ow * p === w ? x : tf.slice(x, [0, 0, 0, 0], [b, oh * p, ow * p, c]);
  if (nativeGradients()) return tf.maxPool(cropped, p, p, 'valid');
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, save] = args as [tf.Tensor4D, tf.GradSaveFunc];
    const y = tf.maxPool(xi, p, p, 'valid');
    save([xi, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys] = saved as [tf.Tensor4D, tf.Tensor4D];
        const up = (t: tf.Tensor4D) => tf.image.resizeNearestNeighbor(t, [oh * p, ow * p]); // [b, oh·p, ow·p, c]
        const isMax = tf.cast(tf.equal(xs, up(ys)), 'float32') as tf.Tensor4D;
        const ties = tf.mul(tf.avgPool(isMax, p, p, 'valid'), p * p) as tf.Tensor4D; // ≥ 1 per window
        return [tf.mul(isMax, up(tf.div(dy, ties) as tf.Tensor4D))];
      },
    };
  });
  return op(cropped) as tf.Tensor4D;
}

/**
 * maxPool(activate(x, activation), p): [b, h, w, c] → [b, ⌊h/p⌋, ⌊w/p⌋, c]. On wasm with the fused `maxPool`
 * kernel (c a multiple of 4) one pass each way, with a ReLU folded into it (max(relu(x)) = relu(max(x)), and
 * the same gradient: dy to the window's maxima, shared among ties, times [x > 0]).
 */
export function activatedMaxPool(x: tf.Tensor4D, activation: Activation, p: number): tf.Tensor4D {
  if (p > 1 && canFuseMaxPool(x.shape[3])) {
    const relu = activation === 'relu';
    return fusedMaxPool(relu ? x : (activate(x, activation) as tf.Tensor4D), p, relu);
  }
  return maxPool(activate(x, activation) as tf.Tensor4D, p);
}
