/**
 * A residual MLP as a lion-train model module (README: "Your own model and data").
 *   x [batch, ...shape] → flatten [batch, features] → dense → ReLU → h [batch, width]
 *   each block: h ← h + dense₂(ReLU(dense₁(h)))                      h [batch, width]
 *   head: dense → logits [batch, classes]
 * Parameters: `stem.kernel|bias`, `blocks.{i}.fc1|fc2.kernel|bias`, `head.kernel|bias`.
 */
import { activate, dense, makeModel, withParameters } from 'lion-train';

/** The options this module reads (the `model:` keys besides `module`), checked by `lion-train validate`. */
export const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    width: { description: 'Width of the residual stream.', type: 'integer', minimum: 1, maximum: 4096, default: 64 },
    blocks: { description: 'Number of residual blocks.', type: 'integer', minimum: 0, maximum: 64, default: 2 },
  },
};

/** @type {import('lion-train').ModelFamily<{ module: string; width: number; blocks: number }>} */
export default {
  name: 'resmlp',

  check(config, input) {
    if (input.kind === 'tokens') return [{ path: 'model.module', message: 'resmlp needs image or vector input, got tokens' }];
    return [];
  },

  build(config, input, seed) {
    const features = input.shape.reduce((a, b) => a * b, 1);
    const { width, blocks } = config;
    const { store, value: p } = withParameters(seed, (s) => ({
      stem: s.dense('stem', features, width, 2),
      blocks: Array.from({ length: blocks }, (_, i) => ({ fc1: s.dense(`blocks.${i}.fc1`, width, width, 2), fc2: s.dense(`blocks.${i}.fc2`, width, width, 0.5) })),
      head: s.dense('head', width, input.classes),
    }));

    function forward(x) {
      let h = activate(dense(x.reshape([x.shape[0], features]), p.stem, false), 'relu'); // [batch, width]
      for (const block of p.blocks) h = h.add(dense(activate(dense(h, block.fc1), 'relu'), block.fc2)); // [batch, width]
      return dense(h, p.head); // [batch, classes]
    }

    // FLOPs: 2·m·k·n per matMul forward, 3× for forward + backward (the built-ins' convention).
    const flops = 3 * 2 * (features * width + blocks * 2 * width * width + width * input.classes);
    return makeModel('resmlp', store, forward, flops);
  },
};
