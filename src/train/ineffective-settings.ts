/**
 * Settings written in a config that the resolved run can never use, reported instead of silently
 * ignored (exit 2). Only written values count (a file or --set gave them): a default that does not
 * apply is not the user's doing. What depends on the machine (train.workers on a native backend) is a
 * note at run time instead, so configs stay portable; blocks of optimizers that are not named stay
 * allowed, since swapping `optimizer.name` is meant to be a one-line change.
 *
 *   written                                   ignored when
 *   schedule.*                                Adafactor takes its relative step (no learning rate)
 *   schedule.timescale                        the schedule is not rsqrt
 *   schedule.decayFraction                    the schedule is not wsd
 *   schedule.endFactor                        the schedule is constant or rsqrt (no end value)
 *   optimizer.[adafactor.]warmupInit          Adafactor has no relative step
 *   optimizer.[adafactor.]epsilon2            Adafactor's scaleParameter is false
 *   optimizer.weightDecayExclude              the named optimizer's weightDecay is 0
 *   train.evalExamples                        the run holds out no validation split
 *   train.evalEvery (> 0)                     no validation split and no early stopping (it paces both)
 *   train.evalBatchSize                       no validation split and no test split
 *   train.earlyStopping                       train.evalEvery is 0 (one evaluation, at the end)
 */
import type { LoadedConfig, Origin } from '../config/index.js';
import { whereOf, type ConfigProblem } from '../config/problems.js';
import type { RunMetrics } from './run-metrics.js';

/** Every written setting of `loaded` that cannot take effect, located where it was written. */
export function ineffectiveSettings(loaded: LoadedConfig, metrics: RunMetrics): ConfigProblem[] {
  const { config, origins, file } = loaded;
  const problems: ConfigProblem[] = [];
  const written = (path: string) => {
    const origin: Origin | undefined = origins.get(path);
    return origin !== undefined && origin.kind !== 'default';
  };
  // Located at the value itself, or at the first written value inside it (a --set of one of its keys).
  const whereWritten = (path: string) => {
    if (written(path)) return whereOf(path.split('.'), origins, file);
    const inside = [...origins.entries()].find(([key, origin]) => key.startsWith(`${path}.`) && origin.kind !== 'default');
    return whereOf((inside?.[0] ?? path).split('.'), origins, file);
  };
  const report = (path: string, why: string) => problems.push({ where: whereWritten(path), path, message: `has no effect: ${why}` });

  // Schedule keys.
  const optimizer = config.optimizer;
  const schedule = config.schedule as unknown as Record<string, unknown>;
  const adafactor = optimizer.name === 'adafactor' ? optimizer.adafactor! : undefined;
  const relativeStep = adafactor?.relativeStep === true;
  for (const key of Object.keys(schedule)) {
    const path = `schedule.${key}`;
    if (!written(path)) continue;
    if (relativeStep) {
      if (key === 'name' && schedule.name === 'constant') continue;
      if ((key === 'warmupSteps' && schedule.warmupSteps === 0) || (key === 'warmupFraction' && !schedule.warmupFraction)) continue;
      report(path, "Adafactor's relative step (no learningRate) sets the step size to min(1e-2, 1/sqrt(step)) and ignores the schedule; give optimizer.adafactor.learningRate to use a schedule");
      continue;
    }
    if (key === 'timescale' && schedule.name !== 'rsqrt') report(path, `only the rsqrt schedule uses it (schedule.name is ${schedule.name})`);
    if (key === 'decayFraction' && schedule.name !== 'wsd') report(path, `only the wsd schedule uses it (schedule.name is ${schedule.name})`);
    if (key === 'endFactor' && (schedule.name === 'constant' || schedule.name === 'rsqrt')) report(path, `the ${schedule.name} schedule has no end value (cosine, linear and wsd use it)`);
  }

  // Optimizer options that depend on others.
  // A shared key the block took has the same origin as the block's copy: report it where it was written.
  const optionPath = (key: string) => {
    const [own, shared] = [`optimizer.adafactor.${key}`, `optimizer.${key}`];
    if (written(own) && origins.get(own) !== origins.get(shared)) return own;
    return written(shared) ? shared : undefined;
  };
  if (adafactor) {
    const warmupInit = optionPath('warmupInit');
    if (warmupInit && adafactor.warmupInit && !relativeStep) report(warmupInit, 'it warms up the relative step, and Adafactor has a learningRate here (relativeStep false)');
    const epsilon2 = optionPath('epsilon2');
    if (epsilon2 && !adafactor.scaleParameter) report(epsilon2, 'it bounds the parameter scale, and scaleParameter is false');
  }
  const block = optimizer[optimizer.name] as { weightDecay: number };
  if (written('optimizer.weightDecayExclude') && block.weightDecay === 0) report('optimizer.weightDecayExclude', `${optimizer.name}'s weightDecay is 0, so no parameter decays`);

  // Evaluation.
  const { train } = config;
  if (!metrics.splits.validation) {
    if (written('train.evalExamples')) report('train.evalExamples', `${metrics.missing.validation}`);
    // evalEvery: 0 ("only at the end") claims nothing, and is how --set quiets a file's evalEvery.
    if (written('train.evalEvery') && train.evalEvery > 0 && !train.earlyStopping) report('train.evalEvery', `${metrics.missing.validation}, and no early stopping is checked at that pace`);
  }
  if (!metrics.splits.validation && !metrics.splits.test && written('train.evalBatchSize')) {
    report('train.evalBatchSize', `${metrics.missing.validation}, and ${metrics.missing.test}: nothing is evaluated`);
  }
  if (train.earlyStopping && train.evalEvery === 0) {
    report('train.earlyStopping', 'train.evalEvery is 0, so the run evaluates once, at the end, and can never stop early (set train.evalEvery)');
  }
  return problems;
}
