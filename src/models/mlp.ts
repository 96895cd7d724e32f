/**
 * Multi-layer perceptron on flattened inputs (images or vectors):
 *   x [batch, ...shape] → [batch, features] → (dense → activation → dropout) per hidden width → dense head → logits [batch, classes].
 * Parameters: `layers.{i}.kernel|bias` for the hidden layers, `head.kernel|bias`.
 */
import * as tf from '../tf.js';
import type { MlpModelConfig } from '../config/types.generated.js';
import { activate, dense, dropout, makeModel, withParameters, type DenseParams } from './layers.js';
import type { ForwardOptions, InputKind, InputSpec, Model, ModelFamily, ModelMemory, SpecIssue } from './model.js';

/**
 * Analytic FLOPs per example, forward + backward. Convention (used by every family): a matMul
 * [m, k]·[k, n] costs 2·m·k·n forward and twice that backward (input and weight gradients), so a
 * model costs 3× its forward matMul FLOPs; elementwise ops (bias, activation, dropout, loss) are ignored.
 * (The first layer skips its input gradient at run time; the count keeps the convention.)
 */
export function mlpFlopsPerExample(features: number, hidden: readonly number[], classes: number): number {
  const widths = [features, ...hidden, classes];
  let forward = 0;
  for (let i = 0; i + 1 < widths.length; i++) forward += 2 * widths[i] * widths[i + 1];
  return 3 * forward;
}

/**
 * Analytic memory (float32 values, see `ModelMemory`): parameters Σ (wᵢ·wᵢ₊₁ + wᵢ₊₁) over widths
 * [features, ...hidden, classes]; activations per example: the input, per hidden layer its matMul + bias output,
 * activation and (with dropout) mask and output, and 4 values per class for logits, softmax and the loss terms.
 */
export function mlpMemory(features: number, hidden: readonly number[], classes: number, dropoutRate: number): ModelMemory {
  const widths = [features, ...hidden, classes];
  let parameters = 0;
  for (let i = 0; i + 1 < widths.length; i++) parameters += widths[i] * widths[i + 1] + widths[i + 1];
  const perHidden = hidden.reduce((sum, h) => sum + h * (dropoutRate > 0 ? 4 : 2), 0);
  let largestParameter = 0;
  for (let i = 0; i + 1 < widths.length; i++) largestParameter = Math.max(largestParameter, widths[i] * widths[i + 1]);
  return { parameters, activationsPerExample: features + perHidden + 4 * classes, largestParameter, largestActivationPerExample: Math.max(...widths) };
}

export const mlp: ModelFamily<MlpModelConfig> = {
  name: 'mlp',

  check(_config: MlpModelConfig, input: InputKind): SpecIssue[] {
    if (input.kind === 'tokens') return [{ path: 'model.name', message: 'mlp needs image or vector input, got tokens' }];
    return [];
  },

  memory(config: MlpModelConfig, input: InputSpec): ModelMemory {
    return mlpMemory(input.shape.reduce((a, b) => a * b, 1), config.hidden, input.classes, config.dropout);
  },

  build(config: MlpModelConfig, input: InputSpec, seed: number): Model {
    const features = input.shape.reduce((a, b) => a * b, 1);
    const widths = [features, ...config.hidden];
    const { store, value: layers } = withParameters(seed, (p) => {
      const hidden: DenseParams[] = config.hidden.map((width, i) =>
        // He scaling before a ReLU, LeCun otherwise.
        p.dense(`layers.${i}`, widths[i], width, config.activation === 'relu' ? 2 : 1),
      );
      return { hidden, head: p.dense('head', widths[widths.length - 1], input.classes) };
    });

    function forward(x: tf.Tensor, options: ForwardOptions): tf.Tensor {
      let h = tf.reshape(x, [x.shape[0], features]) as tf.Tensor2D; // [batch, features]
      layers.hidden.forEach((layer, i) => {
        h = dense(h, layer, i > 0); // [batch, hidden[i]]; no gradient into the data
        h = dropout(activate(h, config.activation), config.dropout, options, `layers.${i}`);
      });
      return dense(h, layers.head, layers.hidden.length > 0); // [batch, classes]
    }

    return makeModel('mlp', store, forward, mlpFlopsPerExample(features, config.hidden, input.classes));
  },
};
