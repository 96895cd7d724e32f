/**
 * A small seeded PRNG (sfc32) whose whole state is four uint32s, so a checkpoint can save and restore it.
 * Streams for different purposes are derived from (seed, purpose, counter…) by hashing, so e.g. the
 * shuffle of epoch 7 or the augmentation of step 1234 does not depend on how many numbers were drawn before.
 */

export type RngState = [number, number, number, number];

/** splitmix32-style finaliser: a well-mixed 32-bit hash step. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** Second value of the last Box–Muller pair, or NaN when none is cached. */
  private spareNormal = NaN;

  private constructor(state: RngState) {
    [this.a, this.b, this.c, this.d] = state.map((v) => v >>> 0) as RngState;
  }

  /** A generator for `seed` and an optional purpose path, e.g. `Rng.derive(seed, 'shuffle', epoch)`. */
  static derive(seed: number, ...stream: (string | number)[]): Rng {
    let h = mix32((seed >>> 0) ^ 0x9e3779b9);
    for (const part of stream) h = mix32(h ^ (typeof part === 'string' ? hashString(part) : mix32(part >>> 0) ^ Math.floor(part / 2 ** 32)));
    const state: RngState = [mix32(h ^ 0x1), mix32(h ^ 0x2), mix32(h ^ 0x3), mix32(h ^ 0x4) | 1];
    const rng = new Rng(state);
    for (let i = 0; i < 12; i++) rng.nextUint32();
    return rng;
  }

  static fromState(state: RngState): Rng {
    return new Rng(state);
  }

  state(): RngState {
    return [this.a, this.b, this.c, this.d];
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /**
   * Fills `out` with the next out.length values of next() (the same numbers, in order), 5-10x faster: the
   * state stays in int32 locals (the same bits as nextUint32's uint32 arithmetic) instead of numbers past
   * 2³¹, which V8 keeps as heap doubles. For bulk draws such as dropout masks.
   */
  fillUniform(out: Float64Array): Float64Array {
    let a = this.a | 0;
    let b = this.b | 0;
    let c = this.c | 0;
    let d = this.d | 0;
    for (let i = 0; i < out.length; i++) {
      const t = (a + b + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = ((c << 21) | (c >>> 11)) + t;
      c |= 0;
      out[i] = (t >>> 0) / 4294967296;
    }
    // Stored as nextUint32 stores them (a as the int32 of its xor, the others as uint32), so state() is unchanged.
    this.a = a;
    this.b = b >>> 0;
    this.c = c >>> 0;
    this.d = d >>> 0;
    return out;
  }

  /** Uniform in [0, 1), 32 bits of randomness. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    if (!Number.isNaN(this.spareNormal)) {
      const spare = this.spareNormal;
      this.spareNormal = NaN;
      return spare;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Normal truncated to ±2 standard deviations (resampled), scaled by `std`. */
  truncatedNormal(std: number): number {
    for (;;) {
      const z = this.normal();
      if (z >= -2 && z <= 2) return z * std;
    }
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T extends { length: number; [i: number]: unknown }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** A permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    return this.shuffle(out);
  }
}
