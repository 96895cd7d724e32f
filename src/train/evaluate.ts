/** Evaluation of a split: mean loss (no label smoothing), accuracy, and task-derived metrics. */
import * as tf from '../tf.js';
import type { Split } from '../data/dataset.js';
import type { Model } from '../models/model.js';
import { batchTensors } from './step.js';
import { derivedMetrics, labelsPerExample, lossAndCorrect, type TaskKind } from './task.js';

export interface EvalResult {
  loss: number;
  accuracy: number;
  examples: number;
  [metric: string]: number;
}

/**
 * Evaluates at most `limit` examples, evenly spaced over the split so a subset is still representative.
 * Yields to the event loop between batches, so signals are seen during a long evaluation; when
 * `stopped()` turns true it gives up and returns undefined.
 */
export async function evaluate(model: Model, split: Split, task: TaskKind, batchSize: number, limit: number | null = null, stopped: () => boolean = () => false): Promise<EvalResult | undefined> {
  const count = limit === null ? split.size : Math.min(limit, split.size);
  const indices = Int32Array.from({ length: count }, (_, i) => Math.floor((i * split.size) / count));
  let lossSum = 0;
  let correct = 0;
  let labels = 0;
  for (let start = 0; start < count; start += batchSize) {
    await new Promise((resolve) => setImmediate(resolve));
    if (stopped()) return undefined;
    const batch = split.gather(indices.subarray(start, Math.min(count, start + batchSize)));
    const perExample = labelsPerExample(batch.yShape);
    // Read with data(), not dataSync(): the webgpu backend cannot read synchronously in Node.
    const both = tf.tidy(() => {
      const { x, y } = batchTensors(batch);
      const r = lossAndCorrect(model.forward(x, { training: false }), y);
      return tf.stack([r.loss, tf.cast(r.correct, 'float32')]);
    });
    const [loss, right] = await both.data();
    both.dispose();
    const n = batch.yShape[0] * perExample;
    lossSum += loss * n;
    correct += right;
    labels += n;
  }
  const loss = lossSum / labels;
  return { loss, accuracy: correct / labels, examples: count, ...derivedMetrics(task, loss) };
}
