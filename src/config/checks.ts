/** Rules that tie keys together, which a JSON Schema cannot say well. Run after defaults are filled. */
import type { ConfigProblem } from './problems.js';
import type { RunConfig } from './types.generated.js';

export function crossFieldProblems(config: RunConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (path: string, message: string) => problems.push({ where: '', path, message });
  const { train, model } = config;

  if (train.steps === null && train.epochs === null) add('train', 'set train.steps or train.epochs (or both: training stops at whichever comes first)');
  if (train.batchSize % train.accumulationSteps !== 0) {
    add('train.accumulationSteps', `must divide train.batchSize (${train.batchSize}) into equal micro-batches, got ${train.accumulationSteps}`);
  }
  if (train.accumulationSteps % train.workers !== 0) {
    const fits = Array.from({ length: Math.floor(train.batchSize / train.workers) }, (_, k) => (k + 1) * train.workers).find((m) => m >= train.accumulationSteps && train.batchSize % m === 0);
    const example = fits ? `e.g. accumulationSteps: ${fits}` : `accumulationSteps a multiple of ${train.workers} that divides batchSize`;
    add('train.workers', `must divide train.accumulationSteps (${train.accumulationSteps}), got ${train.workers}: each thread computes an equal share of a step's micro-batches (${example})`);
  }
  if ((model.name === 'vit' || model.name === 'gpt') && model.width % model.heads !== 0) {
    add('model.heads', `must divide model.width (${model.width}), got ${model.heads}`);
  }
  if (config.schedule.warmupFraction !== null && config.schedule.warmupSteps > 0) {
    add('schedule.warmupFraction', 'set warmupSteps or warmupFraction, not both');
  }
  return problems;
}
