// Program texts of Lion and AdamW for given hyperparameters: the golden tests run them, and the
// shipped programs/lion.opt and programs/adamw.opt are checked to be these with their constants.

export interface LionConstants {
  beta1: number;
  beta2: number;
  weightDecay: number;
}

export function lionProgram({ beta1, beta2, weightDecay }: LionConstants): string {
  return [
    `update = interp(g, m, ${beta1})`,
    'update = sign(update)',
    `m = interp(g, m, ${beta2})`,
    `update = update + w * decay * ${weightDecay}`,
    'update = update * lr',
  ].join('\n');
}

export interface AdamWConstants extends LionConstants {
  epsilon: number;
}

export function adamwProgram({ beta1, beta2, epsilon, weightDecay }: AdamWConstants): string {
  return [
    `m = interp(g, m, ${beta1})`,
    `v = interp(square(g), v, ${beta2})`,
    't = step + 1',
    `stepSize = lr / (1 - power(${beta1}, t))`,
    `denominator = sqrt(v) / sqrt(1 - power(${beta2}, t)) + ${epsilon}`,
    'update = m * stepSize / denominator',
    `update = update + w * decay * lr * ${weightDecay}`,
  ].join('\n');
}
