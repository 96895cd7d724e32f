/**
 * The pre-LayerNorm transformer block that vit and gpt share.
 *   x = x + dropout(attn(norm1(x)))            attention over the tokens of each example (optionally causal)
 *   x = x + dropout(fc2(gelu(fc1(norm2(x)))))
 * Activations are 2-D, [batch·tokens, width], so every dense layer is one plain matMul.
 */
import * as tf from '../tf.js';
import { canFuseBlock, fusedTransformerBlock } from './fused-block.js';
import {
  autodiffReferenceOn,
  dense,
  dropout,
  gelu,
  layerNorm,
  LAYER_NORM_EPSILON,
  selfAttention,
  type AttentionParams,
  type AttentionShape,
  type DenseParams,
  type GeluFormula,
  type LayerNormParams,
  type ParameterStore,
} from './layers.js';
import type { ForwardOptions } from './model.js';

export interface TransformerBlock {
  norm1: LayerNormParams;
  attn: AttentionParams;
  norm2: LayerNormParams;
  mlp: { fc1: DenseParams; fc2: DenseParams };
}

/** Parameters `<name>.norm1`, `<name>.attn.{q,k,v,out}`, `<name>.norm2`, `<name>.mlp.{fc1,fc2}`. */
export function transformerBlockParameters(s: ParameterStore, name: string, width: number, mlpWidth: number): TransformerBlock {
  return {
    norm1: s.layerNorm(`${name}.norm1`, width),
    attn: {
      q: s.dense(`${name}.attn.q`, width, width),
      k: s.dense(`${name}.attn.k`, width, width),
      v: s.dense(`${name}.attn.v`, width, width),
      out: s.dense(`${name}.attn.out`, width, width),
    },
    norm2: s.layerNorm(`${name}.norm2`, width),
    mlp: { fc1: s.dense(`${name}.mlp.fc1`, width, mlpWidth), fc2: s.dense(`${name}.mlp.fc2`, mlpWidth, width) },
  };
}

export interface BlockSettings {
  shape: AttentionShape;
  gelu: GeluFormula;
  dropout: number;
  options: ForwardOptions;
}

/**
 * One block applied to h [batch·tokens, width]; `site` names its dropout sites (`blocks.0`). On wasm, with no
 * dropout drawn, GELU in its sigmoid form and no mask but the causal one, the whole block is one kernel each way
 * (fused-block.ts: the same numbers as the ops below, bit for bit).
 */
export function transformerBlock(h: tf.Tensor2D, block: TransformerBlock, site: string, s: BlockSettings): tf.Tensor2D {
  const { mask, causal, heads } = s.shape;
  const noDropout = s.dropout === 0 || !s.options.training;
  if (noDropout && s.gelu === 'sigmoid' && (mask === undefined || causal === true) && !autodiffReferenceOn() && canFuseBlock(h.shape[1], heads, block.mlp.fc1.bias.size)) {
    const shape = { batch: s.shape.batch, tokens: s.shape.tokens, heads, causal: mask !== undefined };
    return fusedTransformerBlock(h, block, shape, LAYER_NORM_EPSILON);
  }
  const a = selfAttention(layerNorm(h, block.norm1), block.attn, s.shape); // [b·t, d]
  const afterAttention = tf.add(h, dropout(a, s.dropout, s.options, `${site}.attn`)) as tf.Tensor2D;
  const m = dense(gelu(dense(layerNorm(afterAttention, block.norm2), block.mlp.fc1), s.gelu), block.mlp.fc2); // [b·t, d]
  return tf.add(afterAttention, dropout(m, s.dropout, s.options, `${site}.mlp`)) as tf.Tensor2D;
}

/** Parameters of one block: two LayerNorms (2·2d), q,k,v,out (4·(d² + d)), fc1 (d·m + m), fc2 (m·d + d). */
export function transformerBlockParameterCount(d: number, m: number): number {
  return 4 * d + 4 * (d * d + d) + (d * m + m) + (m * d + d);
}

/**
 * Activations one token keeps through a block (float32 values), t tokens per example, h heads, m = mlpWidth:
 * per LayerNorm 4d (centred, its square, normalised, output); q, k, v 3d and their head layouts 3d; scores,
 * masked scores and softmax (with its exponentials) 4·h·t; weights·v d and back to tokens d; out d; residual d;
 * fc1 m, GELU 3m (x·1.702, σ, product), fc2 d; residual d; dropout a mask and an output (2d) at each of 2 sites.
 */
export function transformerBlockActivationsPerToken(d: number, m: number, t: number, h: number, dropout: number): number {
  return 4 * d + 6 * d + 4 * h * t + 2 * d + d + d + 4 * d + m + 3 * m + d + d + (dropout > 0 ? 4 * d : 0);
}
