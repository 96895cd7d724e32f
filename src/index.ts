/** lion-train as a library: the optimizers, schedules, config loading and train(). */
export * from './optim/index.js';
export { learningRateSchedule, multiplierSchedule, scheduleSpec, type Schedule, type ScheduleSpec } from './optim/schedules.js';
export { loadConfig, ConfigError, formatProblem, configToYaml, type LoadedConfig, type ConfigProblem } from './config/index.js';
export type { RunConfig, InputRunConfig } from './config/index.js';
export { train, type TrainOptions, type TrainResult } from './train/train.js';
export type { RunSummary } from './telemetry/summary.js';
export { initBackend, type BackendChoice, type BackendRequest } from './backend.js';
export { encodeSafetensors, decodeSafetensors } from './safetensors.js';

// ── Your own model and data (README: "Your own model and data") ──
export type { ModelFamily, Model, InputSpec, InputKind, SpecIssue, ForwardOptions } from './models/model.js';
export type { DataFamily, Dataset, Split, Batch, LoadContext } from './data/dataset.js';
export type { ModuleModelConfig, ModuleDataConfig } from './config/index.js';
/** The TensorFlow.js instance lion-train trains with: build your model's tensors with this one. */
export * as tf from './tf.js';
export { ParameterStore, withParameters, makeModel, dense, activate, dropout, layerNorm, type DenseParams, type LayerNormParams } from './models/layers.js';
export { inMemoryDataset, ArraySplit, type ExampleArrays, type InMemoryOptions } from './data/in-memory.js';
