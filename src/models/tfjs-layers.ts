/**
 * A TensorFlow.js Layers model as a model family: `model: { name: layers, path: ./model.json }` (a model saved
 * by `model.save()` in tfjs or converted from Keras: topology plus, optionally, weights), or a module whose
 * default export is a function returning a `tf.LayersModel`. lion-train trains it with its own loop,
 * optimizers and checkpoints; the Layers `fit()` machinery is not used.
 *
 * - Parameters: the model's trainable weights, named by layer and weight (`dense_1/kernel` → `dense_1.kernel`).
 *   Non-trainable weights (e.g. BatchNorm moving statistics) are not trained or checkpointed.
 * - Initial values: the weights in model.json's weights manifest when it has one; otherwise every trainable
 *   weight of rank ≥ 2 is drawn from `seed` (LeCun truncated normal, fan-in = product of all but the last axis),
 *   and rank-1 weights keep their initialiser's (constant) values, so a seed gives the same model everywhere.
 * - Output: logits [batch, classes]; a final softmax activation is dropped (the loss applies log-softmax).
 * - Exact resume holds for models without random layers (Dropout in a Layers model draws unseeded numbers).
 */
import { existsSync } from 'node:fs';
import { readInputFile, readInputText } from '../files/input-file.js';
import { DATA_LIMIT_HINT, dataMemoryLimit } from '../files/limits.js';
import { dirname, resolve } from 'node:path';
import * as tf from '../tf.js';
import type { LayersModelConfig } from '../config/types.generated.js';
import { ParameterStore } from './layers.js';
import type { ForwardOptions, InputKind, InputSpec, Model, ModelFamily, SpecIssue } from './model.js';

/** model.json as tfjs `model.save()` writes it. */
interface ModelJson {
  modelTopology?: Record<string, unknown>;
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

function readModelJson(path: string): ModelJson {
  const json = JSON.parse(readInputText(path, { what: 'a model.json' })) as ModelJson;
  if (!json || typeof json !== 'object' || !json.modelTopology || typeof json.modelTopology !== 'object') {
    throw new Error(`${path} has no modelTopology (expected a model.json written by tfjs model.save() or tensorflowjs_converter)`);
  }
  return json;
}

/** Loads model.json and the weight files its manifest names (relative to it). */
export async function loadLayersModelFile(path: string): Promise<tf.LayersModel> {
  const json = readModelJson(path);
  const artifacts: tf.io.ModelArtifacts = { modelTopology: json.modelTopology };
  if (json.weightsManifest && json.weightsManifest.length > 0) {
    const buffers = json.weightsManifest.flatMap((group) => group.paths.map((p) => readInputFile(resolve(dirname(path), p), { what: 'model weights held in memory', maxBytes: dataMemoryLimit(), limitHint: DATA_LIMIT_HINT })));
    const bytes = Buffer.concat(buffers);
    artifacts.weightSpecs = json.weightsManifest.flatMap((group) => group.weights);
    artifacts.weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  }
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

/** The shape of one example the model takes ([h, w, c] or [features]), from its first input. */
function exampleShape(model: tf.LayersModel): (number | null)[] {
  return model.inputs[0].shape.slice(1);
}

/** The name a weight goes by in checkpoints: `dense_1/kernel` → `dense_1.kernel`. */
export function parameterName(originalName: string): string {
  return originalName.replace(/\//g, '.');
}

/**
 * Wraps a LayersModel as a Model: its trainable weights become tf.Variables named by `parameterName`
 * (the layer keeps reading them), optionally re-drawn from `seed`.
 */
export function layersModelAsModel(model: tf.LayersModel, input: InputSpec, seed: number | null, source: string): Model {
  const expected = exampleShape(model);
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw new Error(`${source}: needs one input and one output, has ${model.inputs.length} and ${model.outputs.length}`);
  if (expected.length !== input.shape.length || expected.some((d, i) => d !== null && d !== input.shape[i])) {
    throw new Error(`${source}: takes examples of shape [${expected.join(', ')}], the data gives [${input.shape.join(', ')}]`);
  }
  const outputShape = model.outputs[0].shape;
  if (outputShape.length !== 2 || outputShape[1] !== input.classes) {
    throw new Error(`${source}: outputs [${outputShape.join(', ')}], the data has ${input.classes} classes (expected [null, ${input.classes}])`);
  }
  dropFinalSoftmax(model);

  const params = new Map<string, tf.Variable>();
  const store = seed === null ? undefined : new ParameterStore(seed);
  for (const weight of model.trainableWeights) {
    const name = parameterName(weight.originalName);
    if (params.has(name)) throw new Error(`${source}: two weights are named ${weight.originalName}`);
    const holder = weight as unknown as { val: tf.Variable };
    const shape = weight.shape as number[]; // a weight's shape is always known
    const variable =
      store && shape.length >= 2
        ? store.normal(name, shape, Math.sqrt(1 / shape.slice(0, -1).reduce((a, b) => a * b, 1)))
        : tf.variable(holder.val, true, name, 'float32');
    holder.val.dispose();
    holder.val = variable; // the layer reads its weight through `val`
    params.set(name, variable);
  }

  let parameterCount = 0;
  for (const v of params.values()) parameterCount += v.size;
  let disposed = false;
  return {
    family: 'layers',
    params,
    forward(x: tf.Tensor, options: ForwardOptions): tf.Tensor {
      if (disposed) throw new Error('this layers model has been disposed');
      return model.apply(x, { training: options.training }) as tf.Tensor; // [batch, classes]
    },
    parameterCount,
    flopsPerExample: null,
    dispose() {
      disposed = true;
      model.dispose();
    },
  };
}

/** A final softmax turns logits into probabilities; the loss wants logits, so the last layer's softmax becomes the identity. */
function dropFinalSoftmax(model: tf.LayersModel): void {
  type Activation = { apply(x: tf.Tensor): tf.Tensor; getClassName(): string };
  const last = model.layers[model.layers.length - 1] as unknown as { activation?: Activation | null };
  if (last.activation?.getClassName() === 'softmax') last.activation = { apply: (x) => x, getClassName: () => 'linear' };
}

function describeInputShape(json: ModelJson): number[] | undefined {
  const topology = json.modelTopology as { model_config?: unknown; config?: unknown };
  const config = (topology.model_config ?? topology) as { config?: { layers?: { config?: { batch_input_shape?: (number | null)[] } }[] } };
  const shape = config.config?.layers?.[0]?.config?.batch_input_shape;
  return Array.isArray(shape) && shape.slice(1).every((d) => typeof d === 'number') ? (shape.slice(1) as number[]) : undefined;
}

export const layers: ModelFamily<LayersModelConfig> = {
  name: 'layers',

  check(config: LayersModelConfig, input: InputKind): SpecIssue[] {
    if (!existsSync(config.path)) return [{ path: 'model.path', message: `file not found: ${config.path}` }];
    let json: ModelJson;
    try {
      json = readModelJson(config.path);
    } catch (error) {
      return [{ path: 'model.path', message: (error as Error).message.split('\n')[0] }];
    }
    if (input.kind === 'tokens') return [{ path: 'model.name', message: 'layers models take image or vector input here, got tokens' }];
    const shape = describeInputShape(json);
    if (shape && input.shape && shape.join(',') !== input.shape.join(',')) {
      return [{ path: 'model.path', message: `the model takes examples of shape [${shape.join(', ')}], the data gives [${input.shape.join(', ')}]` }];
    }
    return [];
  },

  async prepare(config: LayersModelConfig): Promise<tf.LayersModel> {
    return loadLayersModelFile(config.path);
  },

  build(config: LayersModelConfig, input: InputSpec, seed: number, prepared?: unknown): Model {
    const model = prepared as tf.LayersModel | undefined;
    if (!model) throw new Error('layers: build needs the model loaded by prepare()');
    const hasWeights = (readModelJson(config.path).weightsManifest ?? []).length > 0;
    return layersModelAsModel(model, input, hasWeights ? null : seed, config.path);
  },
};
