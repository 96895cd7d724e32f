/**
 * What is being learned, from the data's kind: classification (one label per example) or language
 * modelling (one next-token label per position). Loss is softmax cross-entropy from logits.
 */
import * as tf from '../tf.js';
import type { InputSpec } from '../models/model.js';

export type TaskKind = 'classification' | 'language';

export function taskOf(spec: InputSpec): TaskKind {
  return spec.kind === 'tokens' ? 'language' : 'classification';
}

/**
 * Mean cross-entropy over all labels and the number of correct argmax predictions.
 * logits: [batch, classes] or [batch, time, vocab]; labels: int32 [batch] or [batch, time].
 * With labelSmoothing ε the target is (1 − ε)·onehot + ε/classes.
 */
export function lossAndCorrect(logits: tf.Tensor, labels: tf.Tensor, labelSmoothing = 0): { loss: tf.Scalar; correct: tf.Scalar } {
  const classes = logits.shape[logits.shape.length - 1];
  const flatLogits = logits.reshape([-1, classes]) as tf.Tensor2D;
  const flatLabels = labels.reshape([-1]) as tf.Tensor1D;
  const logProbs = tf.logSoftmax(flatLogits);
  let target = tf.oneHot(flatLabels, classes).toFloat();
  if (labelSmoothing > 0) target = target.mul(1 - labelSmoothing).add(labelSmoothing / classes);
  const loss = tf.neg(tf.sum(tf.mul(target, logProbs))).div(flatLabels.shape[0]) as tf.Scalar;
  const correct = tf.sum(tf.equal(tf.argMax(flatLogits, 1), flatLabels).toFloat()) as tf.Scalar;
  return { loss, correct };
}

/** Metrics derived from a mean loss: bits per character and perplexity for language models. */
export function derivedMetrics(task: TaskKind, loss: number): Record<string, number> {
  return task === 'language' ? { bitsPerChar: loss / Math.LN2, perplexity: Math.exp(loss) } : {};
}

/** Labels per example: 1, or the context length for language models. */
export function labelsPerExample(yShape: number[]): number {
  return yShape.slice(1).reduce((a, b) => a * b, 1);
}
