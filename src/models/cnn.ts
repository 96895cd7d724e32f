/**
 * Convolutional network: a stack of convolutions, each followed by the activation and an optional max-pool,
 * then a dense head on the flattened feature map.
 *
 * Shapes: b = batch; layer i maps [b, h_i, w_i, c_i] → conv → [b, oh_i, ow_i, channels_i] → activation →
 * max-pool p_i → [b, ⌊oh_i/p_i⌋, ⌊ow_i/p_i⌋, channels_i]. Then flatten [b, f] → dropout → (dense → activation →
 * dropout) per hidden width → head → logits [b, classes].
 * Parameters: `conv.{i}.kernel` [k, k, in, out] and `conv.{i}.bias`, `dense.{i}.kernel|bias`, `head.kernel|bias`.
 * Convolutions and pooling come from conv.ts (gradients that exist and are fast on wasm).
 */
import * as tf from '../tf.js';
import type { CnnModelConfig } from '../config/types.generated.js';
import { activatedMaxPool, convGeometry, conv2d } from './conv.js';
import { activate, dense, dropout, makeModel, withParameters, type DenseParams } from './layers.js';
import type { ForwardOptions, InputKind, InputSpec, Model, ModelFamily, ModelMemory, SpecIssue } from './model.js';
import { mlpMemory } from './mlp.js';

/** One layer's sizes: input [height, width, channels] → conv output → pooled output. */
export interface ConvLayerShape {
  in: [number, number, number];
  conv: [number, number, number];
  pooled: [number, number, number];
}

/** Layer sizes for an image [h, w, c], or the first place where the image shrinks below 1 pixel. */
export function cnnShapes(config: CnnModelConfig, shape: number[]): { layers: ConvLayerShape[]; issue?: SpecIssue } {
  let [h, w, c] = shape;
  const layers: ConvLayerShape[] = [];
  for (const [i, layer] of config.conv.entries()) {
    const g = convGeometry(h, w, layer.kernel, layer.stride, layer.padding);
    if (g.outHeight < 1 || g.outWidth < 1) {
      return { layers, issue: { path: `model.conv.${i}.kernel`, message: `a ${layer.kernel}x${layer.kernel} valid convolution does not fit the ${h}x${w} feature map it gets` } };
    }
    const [ph, pw] = [Math.floor(g.outHeight / layer.pool), Math.floor(g.outWidth / layer.pool)];
    if (ph < 1 || pw < 1) {
      return { layers, issue: { path: `model.conv.${i}.pool`, message: `a ${layer.pool}x${layer.pool} pool does not fit the ${g.outHeight}x${g.outWidth} feature map it gets` } };
    }
    layers.push({ in: [h, w, c], conv: [g.outHeight, g.outWidth, layer.channels], pooled: [ph, pw, layer.channels] });
    [h, w, c] = [ph, pw, layer.channels];
  }
  return { layers };
}

/**
 * Analytic FLOPs per example, forward + backward, with the convention of `mlpFlopsPerExample` (2·m·k·n per
 * matMul forward, 3x for forward + backward; activations, pooling and biases ignored). A convolution is a
 * matMul [oh·ow, k·k·in]·[k·k·in, out]: 2·oh·ow·k·k·in·out forward.
 */
export function cnnFlopsPerExample(config: CnnModelConfig, shape: number[], classes: number): number {
  const { layers } = cnnShapes(config, shape);
  let forward = 0;
  layers.forEach((l, i) => {
    const k = config.conv[i].kernel;
    forward += 2 * l.conv[0] * l.conv[1] * k * k * l.in[2] * l.conv[2];
  });
  const last = layers[layers.length - 1].pooled;
  const widths = [last[0] * last[1] * last[2], ...config.dense, classes];
  for (let i = 0; i + 1 < widths.length; i++) forward += 2 * widths[i] * widths[i + 1];
  return 3 * forward;
}

/**
 * Analytic memory (float32 values, see `ModelMemory`): parameters k·k·in·out + out per convolution and
 * wᵢ·wᵢ₊₁ + wᵢ₊₁ per dense layer; activations per example: the image, per convolution its output and bias
 * 2·oh·ow·out and activation oh·ow·out (no patch matrix is kept: the fused wasm kernels build 64 patch rows at a time, the others run forward convolutions),
 * with a pool its mask oh·ow·out and pooled output, then the dense layers as in `mlpMemory` (with dropout at the
 * flattened features).
 */
export function cnnMemory(config: CnnModelConfig, shape: number[], classes: number): ModelMemory {
  const { layers } = cnnShapes(config, shape);
  let parameters = 0;
  let activations = shape.reduce((a, b) => a * b, 1);
  let largestParameter = 0;
  let largestActivation = activations;
  layers.forEach((l, i) => {
    const k = config.conv[i].kernel;
    parameters += k * k * l.in[2] * l.conv[2] + l.conv[2];
    const outputs = l.conv[0] * l.conv[1] * l.conv[2];
    largestParameter = Math.max(largestParameter, k * k * l.in[2] * l.conv[2]);
    largestActivation = Math.max(largestActivation, outputs);
    activations += 3 * outputs + (config.conv[i].pool > 1 ? outputs + l.pooled[0] * l.pooled[1] * l.pooled[2] : 0);
  });
  const last = layers[layers.length - 1].pooled;
  const dense = mlpMemory(last[0] * last[1] * last[2], config.dense, classes, config.dropout);
  const flattenDropout = config.dropout > 0 ? 2 * last[0] * last[1] * last[2] : 0;
  return {
    parameters: parameters + dense.parameters,
    activationsPerExample: activations + flattenDropout + dense.activationsPerExample - last[0] * last[1] * last[2],
    largestParameter: Math.max(largestParameter, dense.largestParameter!),
    largestActivationPerExample: Math.max(largestActivation, dense.largestActivationPerExample!),
  };
}

export const cnn: ModelFamily<CnnModelConfig> = {
  name: 'cnn',

  check(config: CnnModelConfig, input: InputKind): SpecIssue[] {
    if (input.kind !== 'image') return [{ path: 'model.name', message: `cnn needs image input ([height, width, channels]), got ${input.kind}` }];
    if (!input.shape) return [];
    const { issue } = cnnShapes(config, input.shape);
    return issue ? [issue] : [];
  },

  memory(config: CnnModelConfig, input: InputSpec): ModelMemory {
    return cnnMemory(config, input.shape, input.classes);
  },

  build(config: CnnModelConfig, input: InputSpec, seed: number): Model {
    const issues = cnn.check(config, input);
    if (issues.length > 0) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    const { layers: shapes } = cnnShapes(config, input.shape);
    const last = shapes[shapes.length - 1].pooled;
    const features = last[0] * last[1] * last[2];
    const scale = config.activation === 'relu' ? 2 : 1; // He before a ReLU, LeCun otherwise

    const { store, value: params } = withParameters(seed, (s) => {
      const conv = config.conv.map((layer, i) => {
        const fanIn = layer.kernel * layer.kernel * shapes[i].in[2];
        return {
          kernel: s.normal(`conv.${i}.kernel`, [layer.kernel, layer.kernel, shapes[i].in[2], layer.channels], Math.sqrt(scale / fanIn)),
          bias: s.zeros(`conv.${i}.bias`, [layer.channels]),
        };
      });
      const widths = [features, ...config.dense];
      const hidden: DenseParams[] = config.dense.map((width, i) => s.dense(`dense.${i}`, widths[i], width, scale));
      const head = s.dense('head', widths[widths.length - 1], input.classes);
      return { conv, hidden, head };
    });

    function forward(images: tf.Tensor, options: ForwardOptions): tf.Tensor {
      const b = images.shape[0];
      let x = images as tf.Tensor4D; // [b, h, w, c]
      config.conv.forEach((layer, i) => {
        x = conv2d(x, params.conv[i], layer.stride, layer.padding, i > 0); // [b, oh, ow, channels]; no gradient into the data
        x = activatedMaxPool(x, config.activation, layer.pool); // [b, ⌊oh/p⌋, ⌊ow/p⌋, channels]
      });
      let h = dropout(tf.reshape(x, [b, features]) as tf.Tensor2D, config.dropout, options, 'flatten'); // [b, f]
      params.hidden.forEach((layer, i) => {
        h = dropout(activate(dense(h, layer), config.activation), config.dropout, options, `dense.${i}`); // [b, dense[i]]
      });
      return dense(h, params.head); // [b, classes]
    }

    return makeModel('cnn', store, forward, cnnFlopsPerExample(config, input.shape, input.classes));
  },
};
