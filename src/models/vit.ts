/**
 * Vision Transformer (Dosovitskiy et al. 2020): non-overlapping patches, a learned position embedding,
 * pre-LayerNorm encoder blocks, a final LayerNorm and a linear head.
 *
 * Shapes: b = batch, n = patches, t = tokens (n, plus one with a class token), d = width.
 *   images [b, h, w, c] → patches [b·n, p·p·c] → tokens [b·t, d] (+ posEmbedding [t, d])
 *   block:  x = x + dropout(attn(norm1(x)));  x = x + dropout(fc2(gelu(fc1(norm2(x)))))
 *   norm → pool (mean of the tokens, or the class token) [b, d] → head → logits [b, classes]
 * Activations stay 2-D, [b·t, d], so every dense layer is one plain matMul.
 * Keep b·t away from powers of two (DESIGN.md): batch 125 with 16 tokens gives 2000 rows.
 */
import * as tf from '../tf.js';
import type { VitModelConfig } from '../config/types.generated.js';
import {
  dense,
  dropout,
  layerNorm,
  makeModel,
  withParameters,
} from './layers.js';
import { transformerBlock, transformerBlockActivationsPerToken, transformerBlockParameterCount, transformerBlockParameters } from './transformer.js';
import type { ForwardOptions, InputKind, InputSpec, Model, ModelFamily, ModelMemory, SpecIssue } from './model.js';

/** Patch and token counts for an image shape [h, w, c]. */
function geometry(config: VitModelConfig, shape: number[]) {
  const [height, width, channels] = shape;
  const p = config.patchSize;
  const patches = (height / p) * (width / p);
  return { patches, patchFeatures: p * p * channels, tokens: patches + (config.pooling === 'cls' ? 1 : 0) };
}

/**
 * Analytic FLOPs per example, forward + backward, with the convention of `mlpFlopsPerExample`
 * (2·m·k·n per matMul forward, twice that backward; elementwise ops, LayerNorm and softmax ignored).
 * Per example, with n patches, t tokens, P = p·p·c, d = width, m = mlpWidth, k = classes:
 *   patch 2·n·P·d;  per block: q,k,v,out 4·2·t·d·d, scores q·kᵀ 2·t·t·d, weights·v 2·t·t·d, fc1+fc2 2·2·t·d·m;  head 2·d·k.
 */
export function vitFlopsPerExample(config: VitModelConfig, shape: number[], classes: number): number {
  const { patches, patchFeatures, tokens: t } = geometry(config, shape);
  const d = config.width;
  const block = 8 * t * d * d + 4 * t * t * d + 4 * t * d * config.mlpWidth;
  const forward = 2 * patches * patchFeatures * d + config.depth * block + 2 * d * classes;
  return 3 * forward;
}

/**
 * Analytic memory (float32 values, see `ModelMemory`), n patches, t tokens, P = p·p·c, d = width, k = classes:
 * parameters patch P·d + d, positions t·d, (class token d), depth · block, final LayerNorm 2d, head d·k + k;
 * activations per example: the image and its patch layout 2·n·P, patch embedding 2·t·d (+ positions t·d,
 * dropout 2·t·d), depth · t · block activations, pooling and final LayerNorm 5d, 4 values per class.
 */
export function vitMemory(config: VitModelConfig, shape: number[], classes: number): ModelMemory {
  const { patches, patchFeatures, tokens: t } = geometry(config, shape);
  const d = config.width;
  const m = config.mlpWidth;
  const parameters = patchFeatures * d + d + t * d + (config.pooling === 'cls' ? d : 0) + config.depth * transformerBlockParameterCount(d, m) + 2 * d + d * classes + classes;
  const activations =
    2 * patches * patchFeatures + 3 * t * d + (config.dropout > 0 ? 2 * t * d : 0) + config.depth * t * transformerBlockActivationsPerToken(d, m, t, config.heads, config.dropout) + 5 * d + 4 * classes;
  return {
    parameters,
    activationsPerExample: activations,
    largestParameter: Math.max(patchFeatures * d, t * d, d * d, d * m, d * classes),
    // attention scores [heads, t, t], the MLP's hidden [t, m], the patches [n, P]
    largestActivationPerExample: Math.max(config.heads * t * t, t * m, patches * patchFeatures, t * d),
  };
}

/**
 * Cuts images [b, h, w, c] into non-overlapping p×p patches → [b·(h/p)·(w/p), p·p·c], patches in row-major
 * order, features ordered (row, column, channel), so patches·kernel equals a conv with a [p, p, c, d] kernel
 * and stride p. Rank-4 transposes only: [b·h/p, p, w/p, p·c] → [b·h/p, w/p, p, p·c].
 */
export function patchify(images: tf.Tensor, p: number): tf.Tensor2D {
  const [b, height, width, channels] = images.shape;
  const rows = tf.reshape(images, [(b * height) / p, p, width / p, p * channels]);
  return tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [(b * height * width) / (p * p), p * p * channels]);
}

export const vit: ModelFamily<VitModelConfig> = {
  name: 'vit',

  check(config: VitModelConfig, input: InputKind): SpecIssue[] {
    const issues: SpecIssue[] = [];
    if (input.kind !== 'image') {
      issues.push({ path: 'model.name', message: `vit needs image input ([height, width, channels]), got ${input.kind}` });
    } else if (input.shape) {
      const [height, width] = input.shape;
      const p = config.patchSize;
      if (height === width) {
        if (height % p !== 0) issues.push({ path: 'model.patchSize', message: `must divide the image size ${height}, got ${p}` });
      } else {
        if (height % p !== 0) issues.push({ path: 'model.patchSize', message: `must divide the image height ${height}, got ${p}` });
        if (width % p !== 0) issues.push({ path: 'model.patchSize', message: `must divide the image width ${width}, got ${p}` });
      }
    }
    if (config.width % config.heads !== 0) {
      issues.push({ path: 'model.heads', message: `must divide the width ${config.width}, got ${config.heads}` });
    }
    return issues;
  },

  memory(config: VitModelConfig, input: InputSpec): ModelMemory {
    return vitMemory(config, input.shape, input.classes);
  },

  build(config: VitModelConfig, input: InputSpec, seed: number): Model {
    const issues = vit.check(config, input);
    if (issues.length > 0) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    const g = geometry(config, input.shape);
    const { patchSize: p, width: d, heads } = config;

    const { store, value: params } = withParameters(seed, (s) => {
      const patch = s.dense('patch', g.patchFeatures, d);
      const cls = config.pooling === 'cls' ? s.zeros('cls', [1, 1, d]) : undefined;
      const posEmbedding = s.normal('posEmbedding', [g.tokens, d], 0.02);
      const blocks = Array.from({ length: config.depth }, (_, i) => transformerBlockParameters(s, `blocks.${i}`, d, config.mlpWidth));
      const norm = s.layerNorm('norm', d);
      const head = s.dense('head', d, input.classes);
      return { patch, cls, posEmbedding, blocks, norm, head };
    });

    function forward(images: tf.Tensor, options: ForwardOptions): tf.Tensor {
      const b = images.shape[0];
      const t = g.tokens;
      let x: tf.Tensor = dense(patchify(images, p), params.patch, false); // [b·n, p·p·c] → [b·n, d]
      if (params.cls) {
        const cls = tf.broadcastTo(params.cls, [b, 1, d]); // [b, 1, d]
        x = tf.concat([cls, tf.reshape(x, [b, g.patches, d])], 1); // [b, t, d], class token first
      }
      x = tf.add(tf.reshape(x, [b, t, d]), params.posEmbedding); // [b, t, d]
      let h = dropout(tf.reshape(x, [b * t, d]), config.dropout, options, 'embedding') as tf.Tensor2D; // [b·t, d]

      const settings = { shape: { batch: b, tokens: t, heads }, gelu: config.gelu, dropout: config.dropout, options };
      params.blocks.forEach((block, i) => {
        h = transformerBlock(h, block, `blocks.${i}`, settings); // [b·t, d]
      });

      let pooled: tf.Tensor2D; // [b, d]
      if (config.pooling === 'cls') {
        // LayerNorm acts per token, so normalising only the class token equals normalising all then taking it.
        const cls = tf.reshape(tf.slice(tf.reshape(h, [b, t, d]), [0, 0, 0], [b, 1, d]), [b, d]) as tf.Tensor2D;
        pooled = layerNorm(cls, params.norm);
      } else {
        pooled = tf.mean(tf.reshape(layerNorm(h, params.norm), [b, t, d]), 1) as tf.Tensor2D;
      }
      return dense(pooled, params.head); // [b, classes]
    }

    return makeModel('vit', store, forward, vitFlopsPerExample(config, input.shape, input.classes));
  },
};
