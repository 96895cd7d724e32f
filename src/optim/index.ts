/** Optimizers for TensorFlow.js: Lion, AdamW and Adafactor as `tf.Optimizer` subclasses. */
export { Lion, lionRule, type LionOptions, type LionHyper } from './lion.js';
export { AdamW, adamwRule, type AdamWOptions, type AdamWHyper } from './adamw.js';
export { Adafactor, adafactorRule, type AdafactorOptions, type AdafactorHyper } from './adafactor.js';
export { ProgramOptimizer, type ProgramOptions } from './program.js';
export { OptimizerAdapter, type CommonOptions, type StepContext } from './base.js';
export {
  registerRule,
  hasFusedKernel,
  runFused,
  fusedImplementation,
  setFusedImplementation,
  type FusedImplementation,
  type UpdateRule,
  type StateSpec,
  type Hyper,
} from './kernel.js';
export { compileDecayMask, type WeightDecayExclude, type DecayPattern } from './mask.js';
export type { LearningRate, FusedMode } from './options.js';
