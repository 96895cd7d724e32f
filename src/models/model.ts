/** What every model family provides. One file per family (mlp.ts, vit.ts, …), registered by name. */
import type * as tf from '../tf.js';
import type { ModelConfig } from '../config/types.generated.js';

/** What the data gives a model to build against. */
export interface InputSpec {
  kind: 'image' | 'vector' | 'tokens';
  /** One example: [height, width, channels] for images, [features] for vectors, [contextLength] for tokens. */
  shape: number[];
  /** Number of classes; for token data, the vocabulary size. */
  classes: number;
}

/** A static description of the input, known from the config alone (before any data is read). */
export interface InputKind {
  kind: InputSpec['kind'];
  /** Known for images and vectors of fixed size; undefined where only the data can tell (csv, text). */
  shape?: number[];
}

/** A config problem found by a family: `path` is a dotted config key path such as `model.patchSize`. */
export interface SpecIssue {
  path: string;
  message: string;
}

export interface ForwardOptions {
  training: boolean;
  /** Seed for dropout in this call (derived from the run seed and the step, so runs repeat exactly). */
  seed?: number;
}

export interface Model {
  /** The family's name (`mlp`, or a module family's own name). */
  readonly family: string;
  /** Trainable parameters by name (`blocks.0.attn.q.kernel`), in a fixed order. */
  readonly params: ReadonlyMap<string, tf.Variable>;
  /**
   * Inputs → logits: [batch, classes] for classifiers, [batch, contextLength, vocab] for language models.
   * Images come as float32 [batch, h, w, c], vectors as float32 [batch, features], tokens as int32 [batch, t].
   */
  forward(x: tf.Tensor, options: ForwardOptions): tf.Tensor;
  readonly parameterCount: number;
  /**
   * Analytic forward + backward FLOPs for one example (for language models: one window of contextLength tokens);
   * null when unknown (a module may not count them; compute.jsonl then logs null FLOPs).
   */
  readonly flopsPerExample: number | null;
  /** Unregisters and frees the parameters. */
  dispose(): void;
}

/**
 * A model's memory from its analytic shapes, in float32 values (multiply by 4 for bytes): the parameters, and
 * the forward activations one example keeps alive for the backward pass (every intermediate tensor the tape
 * holds: matMul and bias outputs, activations, LayerNorm's centred and normalised values, attention scores and
 * softmax, dropout masks, the logits and loss terms). Elementwise temporaries freed within an op are not counted.
 */
export interface ModelMemory {
  parameters: number;
  activationsPerExample: number;
  /** Values of the largest single parameter tensor (its gradient and optimizer state are as large), if known. */
  largestParameter?: number;
  /** Values one example adds to the largest single activation tensor (times the micro-batch), if known. */
  largestActivationPerExample?: number;
}

/**
 * A model family: what a built-in (mlp.ts, …) or your own module (`model: { module: ./resmlp.js }`) provides.
 * `C` is the config section it reads: the built-in's config type, or your module's options (with `module`).
 */
export interface ModelFamily<C = ModelConfig> {
  /** Names the family in logs and summaries. */
  readonly name: string;
  /** Problems with this config for this input, without building anything. */
  check(config: C, input: InputKind): SpecIssue[];
  /**
   * Optional asynchronous work before `build` (reading files, say); its result is passed to `build` as `prepared`.
   * Called once per model built (a fresh result each time).
   */
  prepare?(config: C, input: InputSpec): Promise<unknown>;
  /** Builds the model with parameters initialised from `seed` (same seed, same parameters, on every backend). */
  build(config: C, input: InputSpec, seed: number, prepared?: unknown): Model;
  /** The memory `build` would need, from the config and input alone (nothing is allocated); absent when unknown. */
  memory?(config: C, input: InputSpec): ModelMemory;
}
