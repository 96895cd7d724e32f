/** lion-train as a library: the optimizers, schedules, config loading and train(). */
export * from './optim/index.js';
export { learningRateSchedule, multiplierSchedule, scheduleSpec, type Schedule, type ScheduleSpec } from './optim/schedules.js';
export { loadConfig, ConfigError, formatProblem, configToYaml, type LoadedConfig, type ConfigProblem } from './config/index.js';
export type { RunConfig, InputRunConfig } from './config/index.js';
export { train, type TrainOptions, type TrainResult } from './train/train.js';
export type { RunSummary } from './telemetry/summary.js';
export { initBackend, type BackendChoice, type BackendRequest } from './backend.js';
export { encodeSafetensors, decodeSafetensors } from './safetensors.js';
