export { loadConfig, leafOrigins, type LoadedConfig, type LoadOptions } from './load.js';
export { configToYaml, describeOrigin } from './print.js';
export { ConfigError, formatProblem, type ConfigProblem, type Origin } from './problems.js';
export { optimizerOptions, OPTIMIZER_NAMES, type OptimizerName, type ResolvedOptimizer } from './optimizer-options.js';
export { runSchema, SCHEMA_PATH } from './schema.js';
export type * from './types.generated.js';
