/**
 * Option checking shared by the optimizers: every bad value is a `RangeError` that names the
 * optimizer, the option and what is allowed, e.g. `Lion: beta1 must be in [0, 1), got 1.5`.
 */

/** A learning rate: a constant, or a function of the 0-based index of the update being applied. */
export type LearningRate = number | ((step: number) => number);

/** Which update path to use: `'auto'` picks the fused kernel on `cpu` and `wasm`, tfjs ops elsewhere. */
export type FusedMode = 'auto' | boolean;

/** An interval of allowed values; `min` / `max` default to -inf / +inf. */
export interface Interval {
  min?: number;
  max?: number;
  /** Exclude `min` itself. */
  minOpen?: boolean;
  /** Exclude `max` itself. */
  maxOpen?: boolean;
}

export const UNIT: Interval = { min: 0, max: 1, maxOpen: true };
export const NON_NEGATIVE: Interval = { min: 0 };
export const POSITIVE: Interval = { min: 0, minOpen: true };
export const NON_POSITIVE: Interval = { max: 0 };

export function formatInterval(r: Interval): string {
  const lo = r.min === undefined ? '(-inf' : `${r.minOpen ? '(' : '['}${r.min}`;
  const hi = r.max === undefined ? 'inf)' : `${r.max}${r.maxOpen ? ')' : ']'}`;
  return `${lo}, ${hi}`;
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof RegExp) return String(value);
  if (value !== null && typeof value === 'object') return 'an object';
  return String(value);
}

function inInterval(v: number, r: Interval): boolean {
  if (r.min !== undefined && (r.minOpen ? !(v > r.min) : !(v >= r.min))) return false;
  if (r.max !== undefined && (r.maxOpen ? !(v < r.max) : !(v <= r.max))) return false;
  return true;
}

/** Checks a finite number in `range`; `fallback` is used when the value is undefined or null. */
export function checkNumber(
  owner: string,
  name: string,
  value: unknown,
  range: Interval,
  fallback: number,
): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || !inInterval(value, range)) {
    throw new RangeError(`${owner}: ${name} must be in ${formatInterval(range)}, got ${describe(value)}`);
  }
  return value;
}

export function checkBoolean(owner: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') {
    throw new RangeError(`${owner}: ${name} must be true or false, got ${describe(value)}`);
  }
  return value;
}

export function checkFused(owner: string, value: unknown): FusedMode {
  if (value === undefined || value === null) return 'auto';
  if (value === 'auto' || value === true || value === false) return value;
  throw new RangeError(`${owner}: fused must be 'auto', true or false, got ${describe(value)}`);
}

/** A constant learning rate must be a finite number >= 0; a schedule must be a function. */
export function checkLearningRate(owner: string, value: unknown, fallback: LearningRate): LearningRate {
  if (typeof value === 'function') return value as (step: number) => number;
  return checkNumber(owner, 'learningRate', value, NON_NEGATIVE, fallback as number);
}

/** The value of a learning-rate schedule at `step`, checked. */
export function evaluateLearningRate(owner: string, lr: LearningRate, step: number): number {
  if (typeof lr === 'number') return lr;
  const v = lr(step);
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new RangeError(`${owner}: learningRate(${step}) must return a number in [0, inf), got ${describe(v)}`);
  }
  return v;
}

/** Refuses option names the optimizer does not know (a typo would otherwise be silently ignored). */
export function checkKnownOptions(owner: string, options: object, allowed: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new RangeError(`${owner}: unknown option '${key}'; allowed: ${allowed.join(', ')}`);
    }
  }
}
