/** What every dataset provides. One file per source (synthetic.ts, mnist.ts, …), registered by name. */
import type { DataConfig } from '../config/types.generated.js';
import type { InputKind, InputSpec, SpecIssue } from '../models/model.js';
import type { Rng } from '../random.js';

/** A batch as plain typed arrays; the loop turns it into tensors. */
export interface Batch {
  /** float32 for images and vectors, int32 token ids for text. */
  x: Float32Array | Int32Array;
  xShape: number[];
  /** Class ids ([batch]) or next-token ids ([batch, contextLength]). */
  y: Int32Array;
  yShape: number[];
}

export interface Split {
  /** Number of examples (for text training windows: number of window start positions). */
  readonly size: number;
  /** The examples at these indices, in this order. */
  gather(indices: ArrayLike<number>): Batch;
}

export interface Dataset {
  readonly spec: InputSpec;
  readonly train: Split;
  /** Absent when the config holds out no validation data. */
  readonly validation?: Split;
  readonly test?: Split;
  /** Seeded augmentation of a training batch, in place (absent when the config asks for none). */
  augment?(batch: Batch, rng: Rng): void;
  /** Extra files the run directory should keep (e.g. the character vocabulary), by file name. */
  artifacts?(): Record<string, string>;
  /** Decodes token ids to text (text datasets only). */
  decode?(ids: ArrayLike<number>): string;
  /** Encodes text to token ids (text datasets only); unknown characters are refused. */
  encode?(text: string): Int32Array;
}

export interface HeldOutSplits {
  validation: boolean;
  test: boolean;
}

export interface LoadContext {
  /** train.seed: seeds splits that depend on the run (data.seed / splitSeed seed the rest). */
  seed: number;
  /** For token data: the model's context length (window size). */
  contextLength?: number;
}

/**
 * A data source: what a built-in (mnist.ts, …) or your own module (`data: { module: ./scans.js }`) provides.
 * `C` is the config section it reads: the built-in's config type, or your module's options (with `module`).
 */
export interface DataFamily<C = DataConfig> {
  /** Names the source in logs and summaries. */
  readonly name: string;
  /** What kind of input this config gives, from the config alone. */
  describe(config: C): InputKind;
  /** Problems found without loading (a missing file, say). */
  check(config: C): SpecIssue[];
  /** Which held-out splits the loaded dataset will have, from the config alone (metric names are checked against it). */
  splits?(config: C): HeldOutSplits;
  load(config: C, context: LoadContext): Promise<Dataset>;
}
