/**
 * Decoder-only transformer language model over characters (GPT; Radford et al. 2018, nanoGPT's layout):
 * token embedding + learned position embedding, pre-LayerNorm blocks with causal self-attention, a final
 * LayerNorm, and an output projection that is the token embedding transposed (tiedEmbeddings) or its own
 * dense layer.
 *
 * Shapes: b = batch, t = tokens in the window (≤ contextLength T), d = width, V = vocabulary.
 *   tokens int32 [b, t] → one-hot [b·t, V] · embed.tokens [V, d] → [b·t, d] (+ embed.positions[:t] [t, d])
 *   block:  x = x + dropout(attn(norm1(x), causal));  x = x + dropout(fc2(gelu(fc1(norm2(x)))))
 *   norm → [b·t, d] · embed.tokensᵀ [d, V] (or head) → logits [b, t, V]
 * The embedding is a one-hot matMul rather than tf.gather: gather's gradient (UnsortedSegmentSum) is
 * missing on wasm, and a plain 2-D matMul reaches XNNPACK in both directions.
 */
import * as tf from '../tf.js';
import type { GptModelConfig } from '../config/types.generated.js';
import { Rng } from '../random.js';
import {
  causalMask,
  dense,
  dropout,
  layerNorm,
  makeModel,
  withParameters,
} from './layers.js';
import { transformerBlock, transformerBlockActivationsPerToken, transformerBlockParameterCount, transformerBlockParameters } from './transformer.js';
import type { ForwardOptions, InputKind, InputSpec, Model, ModelFamily, ModelMemory, SpecIssue } from './model.js';

/** Standard deviation of the initial token and position embeddings. */
const EMBEDDING_STD = 0.02;

/**
 * Analytic FLOPs per token, forward + backward, with the convention of `mlpFlopsPerExample` (2·m·k·n per
 * matMul forward, 3x for forward + backward; LayerNorm, softmax and elementwise ops ignored). Per token, with
 * T = contextLength (attention computes the full T×T scores; the causal mask saves nothing), d = width,
 * m = mlpWidth, V = vocabulary:
 *   embedding (one-hot matMul) 2·V·d;  per block: q,k,v,out 4·2·d·d, scores 2·T·d, weights·v 2·T·d,
 *   fc1 + fc2 2·2·d·m;  output projection 2·d·V.
 */
export function gptFlopsPerToken(config: GptModelConfig, vocab: number): number {
  const { width: d, mlpWidth: m, contextLength: t } = config;
  const block = 8 * d * d + 4 * t * d + 4 * d * m;
  return 3 * (2 * vocab * d + config.depth * block + 2 * d * vocab);
}

/** FLOPs per training window of contextLength tokens (the `Model.flopsPerExample` of a language model). */
export function gptFlopsPerWindow(config: GptModelConfig, vocab: number): number {
  return config.contextLength * gptFlopsPerToken(config, vocab);
}

/**
 * Analytic memory (float32 values, see `ModelMemory`), T = contextLength, d = width, m = mlpWidth, V = vocabulary:
 * parameters V·d + T·d + depth · block + final LayerNorm 2d + (untied) head d·V + V; activations per window
 * T · (one-hot V, embedding and positions 2d, dropout 2d, depth · block activations, final LayerNorm 4d,
 * logits, softmax and loss terms 4V).
 */
export function gptMemory(config: GptModelConfig, vocab: number): ModelMemory {
  const { width: d, mlpWidth: m, contextLength: t } = config;
  const parameters = vocab * d + t * d + config.depth * transformerBlockParameterCount(d, m) + 2 * d + (config.tiedEmbeddings ? 0 : d * vocab + vocab);
  const perToken = vocab + 2 * d + (config.dropout > 0 ? 2 * d : 0) + config.depth * transformerBlockActivationsPerToken(d, m, t, config.heads, config.dropout) + 4 * d + 4 * vocab;
  return {
    parameters,
    activationsPerExample: t * perToken,
    largestParameter: Math.max(vocab * d, t * d, d * d, d * m),
    // one-hot ids and logits [T, V], attention scores [heads, T, T], the MLP's hidden [T, m]
    largestActivationPerExample: Math.max(t * vocab, config.heads * t * t, t * m),
  };
}

/** One-hot rows [n, V] · table [V, d]; gradient dTable = one-hotᵀ · dy as a plain 2-D matMul (no gradient to the ids). */
export function embedTokens(ids: tf.Tensor, table: tf.Tensor2D): tf.Tensor2D {
  const vocab = table.shape[0];
  const oneHot = tf.cast(tf.oneHot(tf.reshape(ids, [-1]) as tf.Tensor1D, vocab), 'float32') as tf.Tensor2D; // [n, V]
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [w, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    save([oneHot]);
    return {
      value: tf.matMul(oneHot, w), // [n, d]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.matMul(tf.transpose(saved[0] as tf.Tensor2D), dy as tf.Tensor2D)],
    };
  });
  return op(table) as tf.Tensor2D;
}

/** h [n, d] · tableᵀ [d, V] → [n, V]; gradients dh = dy · table, dTable = dyᵀ · h, all plain 2-D matMuls. */
const tiedOutputOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [h, table, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([h, table]);
  return {
    value: tf.matMul(h, tf.transpose(table)),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [hs, ts] = saved as [tf.Tensor2D, tf.Tensor2D];
      const g = dy as tf.Tensor2D;
      return [tf.matMul(g, ts), tf.matMul(tf.transpose(g), hs)];
    },
  };
});

export function tiedOutput(h: tf.Tensor2D, table: tf.Tensor): tf.Tensor2D {
  return tiedOutputOp(h, table) as tf.Tensor2D;
}

export const gpt: ModelFamily<GptModelConfig> = {
  name: 'gpt',

  check(config: GptModelConfig, input: InputKind): SpecIssue[] {
    const issues: SpecIssue[] = [];
    if (input.kind !== 'tokens') issues.push({ path: 'model.name', message: `gpt needs text data (data.name: text), got ${input.kind} input` });
    if (config.width % config.heads !== 0) issues.push({ path: 'model.heads', message: `must divide the width ${config.width}, got ${config.heads}` });
    return issues;
  },

  memory(config: GptModelConfig, input: InputSpec): ModelMemory {
    return gptMemory(config, input.classes);
  },

  build(config: GptModelConfig, input: InputSpec, seed: number): Model {
    const issues = gpt.check(config, input);
    if (issues.length > 0) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    const { width: d, heads, contextLength } = config;
    const vocab = input.classes;

    // Weights LeCun normal and biases zero (as vit), embeddings N(0, 0.02²) (GPT-2). GPT-2's N(0, 0.02²) for
    // every weight was tried: Lion, whose every step moves each weight by lr, then sat on the unigram plateau
    // (its sign noise soon matches weights that small).
    const { store, value: params } = withParameters(seed, (s) => {
      const tokens = s.normal('embed.tokens', [vocab, d], EMBEDDING_STD);
      const positions = s.normal('embed.positions', [contextLength, d], EMBEDDING_STD);
      const blocks = Array.from({ length: config.depth }, (_, i) => transformerBlockParameters(s, `blocks.${i}`, d, config.mlpWidth));
      const norm = s.layerNorm('norm', d);
      const head = config.tiedEmbeddings ? undefined : s.dense('head', d, vocab);
      return { tokens, positions, blocks, norm, head };
    });

    function forward(ids: tf.Tensor, options: ForwardOptions): tf.Tensor {
      const [b, t] = ids.shape;
      if (t > contextLength) throw new Error(`gpt: ${t} tokens do not fit the context length ${contextLength}`);
      const positions = t === contextLength ? params.positions : tf.slice(params.positions, [0, 0], [t, d]); // [t, d]
      const x = tf.add(tf.reshape(embedTokens(ids, params.tokens as tf.Tensor2D), [b, t, d]), positions); // [b, t, d]
      let h = dropout(tf.reshape(x, [b * t, d]) as tf.Tensor2D, config.dropout, options, 'embedding'); // [b·t, d]
      const mask = causalMask(t); // [t, t]

      const settings = { shape: { batch: b, tokens: t, heads, mask, causal: true }, gelu: config.gelu, dropout: config.dropout, options };
      params.blocks.forEach((block, i) => {
        h = transformerBlock(h, block, `blocks.${i}`, settings); // [b·t, d]
      });

      const normed = layerNorm(h, params.norm); // [b·t, d]
      const logits = params.head ? dense(normed, params.head) : tiedOutput(normed, params.tokens); // [b·t, V]
      return tf.reshape(logits, [b, t, vocab]);
    }

    return makeModel('gpt', store, forward, gptFlopsPerWindow(config, vocab));
  },
};

export interface GenerateOptions {
  /** Softmax temperature; 0 picks the most likely token (greedy). */
  temperature: number;
  seed: number;
  /** The model's context length: only the last this many tokens are fed back. */
  contextLength: number;
}

/**
 * Autoregressive sampling: appends `length` tokens to `prompt`, each drawn from softmax(logits / temperature)
 * at the last position, with a seeded PRNG (the same seed gives the same text on every backend up to
 * floating-point ties). Returns only the new tokens.
 */
export function generate(model: Model, prompt: ArrayLike<number>, length: number, options: GenerateOptions): Int32Array {
  if (prompt.length === 0) throw new Error('generate needs a prompt of at least one token');
  const rng = Rng.derive(options.seed, 'sample');
  const tokens = Array.from(prompt);
  const out = new Int32Array(length);
  for (let i = 0; i < length; i++) {
    const window = tokens.slice(-options.contextLength);
    const logits = tf.tidy(() => {
      const all = model.forward(tf.tensor2d(window, [1, window.length], 'int32'), { training: false }); // [1, t, V]
      return tf.reshape(tf.slice(all, [0, window.length - 1, 0], [1, 1, -1]), [-1]).dataSync() as Float32Array; // [V]
    });
    const next = pick(logits, options.temperature, rng);
    out[i] = next;
    tokens.push(next);
  }
  return out;
}

/** Index drawn from softmax(logits / temperature), or the argmax for temperature 0. */
function pick(logits: Float32Array, temperature: number, rng: Rng): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (temperature === 0) return best;
  const weights = new Float64Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) total += weights[i] = Math.exp((logits[i] - logits[best]) / temperature);
  let u = rng.next() * total;
  for (let i = 0; i < weights.length; i++) {
    u -= weights[i];
    if (u < 0) return i;
  }
  return weights.length - 1;
}
