/**
 * Optimizer update kernels in AssemblyScript, compiled to WebAssembly with 128-bit SIMD by
 * `npm run build:kernels` (scripts/build-kernels.mjs).
 *
 * The module imports its memory (`env.memory`): on the `wasm` backend that is tfjs-backend-wasm's
 * own heap, so the kernels read tensors in place and write into output tensors the backend
 * allocated. It therefore owns NO memory: no data segments, no globals in memory, no stack, no
 * allocator (the build checks the binary for this). Every address is a byte offset handed in by
 * the caller; a kernel only reads its inputs and writes its outputs (and the scratch it is given).
 *
 * Arithmetic is float32, rounded op by op as PyTorch's and tfjs's float32 tensors do; sums over a
 * whole tensor (RMS, row and column means) accumulate in float64.
 */

// ---------------------------------------------------------------------------------------------
// Helpers

/** Adds the four float32 lanes of `q` into the two float64x2 accumulators. */
// @ts-ignore: decorator
@inline function lo64(q: v128): v128 {
  return f64x2.promote_low_f32x4(q);
}
// @ts-ignore: decorator
@inline function hi64(q: v128): v128 {
  return f64x2.promote_low_f32x4(i32x4.shuffle(q, q, 2, 3, 0, 1));
}
// @ts-ignore: decorator
@inline function hsum64(a: v128): f64 {
  return f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
}

// ---------------------------------------------------------------------------------------------
// Bandwidth probes

/** dst[i] = src[i] for n floats, 16 bytes at a time (the wasm side of the bandwidth probe). */
export function copy(dst: usize, src: usize, n: i32): void {
  const end = dst + ((<usize>n & ~3) << 2);
  let d = dst;
  let s = src;
  for (; d < end; d += 16, s += 16) v128.store(d, v128.load(s));
  for (let i = n & ~3; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
}

/** a[i] = b[i] + s·c[i] for n floats (STREAM triad). */
export function triad(a: usize, b: usize, c: usize, n: i32, s: f32): void {
  const vs = f32x4.splat(s);
  const bytes = (<usize>n & ~3) << 2;
  for (let i: usize = 0; i < bytes; i += 16) {
    v128.store(a + i, f32x4.add(v128.load(b + i), f32x4.mul(vs, v128.load(c + i))));
  }
  for (let i = n & ~3; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(a + o, load<f32>(b + o) + s * load<f32>(c + o));
  }
}

// ---------------------------------------------------------------------------------------------
// Lion

/**
 * c = β1·m + (1 − β1)·g;  p' = p·decay − lr·sign(c) (sign(0) = 0);  m' = β2·m + (1 − β2)·g.
 * The sign comes from comparisons, so any c ≠ 0, however small, moves p by exactly lr.
 */
export function lion(
  p: usize, g: usize, m: usize, pOut: usize, mOut: usize, n: i32,
  decay: f32, lr: f32, b1: f32, c1: f32, b2: f32, c2: f32,
): void {
  const vDecay = f32x4.splat(decay);
  const vLr = f32x4.splat(lr);
  const vNegLr = f32x4.splat(-lr);
  const vB1 = f32x4.splat(b1);
  const vC1 = f32x4.splat(c1);
  const vB2 = f32x4.splat(b2);
  const vC2 = f32x4.splat(c2);
  const zero = f32x4.splat(0);
  const bytes = (<usize>n & ~3) << 2;
  for (let i: usize = 0; i < bytes; i += 16) {
    const gi = v128.load(g + i);
    const mi = v128.load(m + i);
    const c = f32x4.add(f32x4.mul(mi, vB1), f32x4.mul(gi, vC1));
    const step = v128.or(v128.and(f32x4.gt(c, zero), vLr), v128.and(f32x4.lt(c, zero), vNegLr));
    v128.store(pOut + i, f32x4.sub(f32x4.mul(v128.load(p + i), vDecay), step));
    v128.store(mOut + i, f32x4.add(f32x4.mul(mi, vB2), f32x4.mul(gi, vC2)));
  }
  for (let k = n & ~3; k < n; k++) {
    const i = <usize>k << 2;
    const gi = load<f32>(g + i);
    const mi = load<f32>(m + i);
    const c: f32 = mi * b1 + gi * c1;
    const step: f32 = c > 0 ? lr : c < 0 ? -lr : 0;
    store<f32>(pOut + i, load<f32>(p + i) * decay - step);
    store<f32>(mOut + i, mi * b2 + gi * c2);
  }
}

// ---------------------------------------------------------------------------------------------
// AdamW

/**
 * m' = β1·m + (1 − β1)·g;  v' = β2·v + (1 − β2)·g²;
 * p' = p·decay − stepSize · m' / (√v' / bc2 + ε)   (bc2 = √(1 − β2^t), stepSize = lr / (1 − β1^t)).
 */
export function adamw(
  p: usize, g: usize, m: usize, v: usize, pOut: usize, mOut: usize, vOut: usize, n: i32,
  decay: f32, stepSize: f32, b1: f32, c1: f32, b2: f32, c2: f32, bc2: f32, eps: f32,
): void {
  const vDecay = f32x4.splat(decay);
  const vStep = f32x4.splat(stepSize);
  const vB1 = f32x4.splat(b1);
  const vC1 = f32x4.splat(c1);
  const vB2 = f32x4.splat(b2);
  const vC2 = f32x4.splat(c2);
  const vBc2 = f32x4.splat(bc2);
  const vEps = f32x4.splat(eps);
  const bytes = (<usize>n & ~3) << 2;
  for (let i: usize = 0; i < bytes; i += 16) {
    const gi = v128.load(g + i);
    const mi = f32x4.add(f32x4.mul(v128.load(m + i), vB1), f32x4.mul(gi, vC1));
    const vi = f32x4.add(f32x4.mul(v128.load(v + i), vB2), f32x4.mul(f32x4.mul(gi, gi), vC2));
    v128.store(mOut + i, mi);
    v128.store(vOut + i, vi);
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vi), vBc2), vEps);
    const pd = f32x4.mul(v128.load(p + i), vDecay);
    v128.store(pOut + i, f32x4.sub(pd, f32x4.mul(f32x4.div(mi, denom), vStep)));
  }
  for (let k = n & ~3; k < n; k++) {
    const i = <usize>k << 2;
    const gi = load<f32>(g + i);
    const mi: f32 = load<f32>(m + i) * b1 + gi * c1;
    const vi: f32 = load<f32>(v + i) * b2 + gi * gi * c2;
    store<f32>(mOut + i, mi);
    store<f32>(vOut + i, vi);
    const denom: f32 = sqrt<f32>(vi) / bc2 + eps;
    store<f32>(pOut + i, load<f32>(p + i) * decay - (mi / denom) * stepSize);
  }
}

// ---------------------------------------------------------------------------------------------
// Adafactor (see src/optim/adafactor.ts for the maths and the order of the passes)

/** Σ a[i]² over n floats, accumulated in float64 (four accumulators: one is a chain of dependent adds). */
export function sumOfSquares(a: usize, n: i32): f64 {
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  let s2 = f64x2.splat(0);
  let s3 = f64x2.splat(0);
  const bytes8 = (<usize>n & ~7) << 2;
  let i: usize = 0;
  for (; i < bytes8; i += 32) {
    const x = v128.load(a + i);
    const y = v128.load(a + i, 16);
    const x2 = f32x4.mul(x, x);
    const y2 = f32x4.mul(y, y);
    s0 = f64x2.add(s0, lo64(x2));
    s1 = f64x2.add(s1, hi64(x2));
    s2 = f64x2.add(s2, lo64(y2));
    s3 = f64x2.add(s3, hi64(y2));
  }
  let s = hsum64(f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3)));
  for (let k = n & ~7; k < n; k++) {
    const x = <f64>load<f32>(a + (<usize>k << 2));
    s += x * x;
  }
  return s;
}

/** Σ (f[c]·x[c])² over c < C, accumulated in float64 (f: per-column factors). */
function sumOfScaledSquares(f: usize, x: usize, C: i32): f64 {
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  let s2 = f64x2.splat(0);
  let s3 = f64x2.splat(0);
  const bytes8 = (<usize>C & ~7) << 2;
  for (let o: usize = 0; o < bytes8; o += 32) {
    const u = f32x4.mul(v128.load(f + o), v128.load(x + o));
    const w = f32x4.mul(v128.load(f + o, 16), v128.load(x + o, 16));
    const u2 = f32x4.mul(u, u);
    const w2 = f32x4.mul(w, w);
    s0 = f64x2.add(s0, lo64(u2));
    s1 = f64x2.add(s1, hi64(u2));
    s2 = f64x2.add(s2, lo64(w2));
    s3 = f64x2.add(s3, hi64(w2));
  }
  let s = hsum64(f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3)));
  for (let c = C & ~7; c < C; c++) {
    const o = <usize>c << 2;
    const u = <f64>(load<f32>(f + o) * load<f32>(x + o));
    s += u * u;
  }
  return s;
}

// Rank >= 2: the factored second moment of each [R, C] slice (the last two dimensions). The
// functions work on a run of `rows` whole rows of a slice, so that a caller can feed a slice in
// pieces (the cpu backend stages tensors through a small private memory); `rowIn` / `rowOut`
// point at the run's first row factor, `colIn` / `colOut` at the slice's column factors.

/** Zeroes `bytes` bytes at `ptr` (scratch the caller owns). */
export function zero(ptr: usize, bytes: usize): void {
  memory.fill(ptr, 0, bytes);
}

/**
 * Pass 1 over g, for a run of rows: with q = g² + ε1, rowOut[r] = β2·rowIn[r] + (1 − β2)·mean_c q
 * and colSum[c] += Σ_r q (C float64s, zeroed by the caller before a slice's first run).
 */
export function adafactorRowSums(
  g: usize, rows: i32, C: i32, rowIn: usize, rowOut: usize, colSum: usize, b2: f32, c2: f32, eps1: f32,
): void {
  const vEps = f32x4.splat(eps1);
  const rowBytes = <usize>C << 2;
  const c8 = C & ~7;
  for (let r = 0; r < rows; r++) {
    const at = g + <usize>r * rowBytes;
    let s0 = f64x2.splat(0);
    let s1 = f64x2.splat(0);
    let s2 = f64x2.splat(0);
    let s3 = f64x2.splat(0);
    for (let c = 0; c < c8; c += 8) {
      const gi = v128.load(at + (<usize>c << 2));
      const gj = v128.load(at + (<usize>c << 2), 16);
      const q = f32x4.add(f32x4.mul(gi, gi), vEps);
      const w = f32x4.add(f32x4.mul(gj, gj), vEps);
      const q0 = lo64(q);
      const q1 = hi64(q);
      const w0 = lo64(w);
      const w1 = hi64(w);
      s0 = f64x2.add(s0, q0);
      s1 = f64x2.add(s1, q1);
      s2 = f64x2.add(s2, w0);
      s3 = f64x2.add(s3, w1);
      const cs = colSum + (<usize>c << 3);
      v128.store(cs, f64x2.add(v128.load(cs), q0));
      v128.store(cs, f64x2.add(v128.load(cs, 16), q1), 16);
      v128.store(cs, f64x2.add(v128.load(cs, 32), w0), 32);
      v128.store(cs, f64x2.add(v128.load(cs, 48), w1), 48);
    }
    let rowSum = hsum64(f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3)));
    for (let c = c8; c < C; c++) {
      const gi = load<f32>(at + (<usize>c << 2));
      const q = <f64>(gi * gi + eps1);
      rowSum += q;
      const cs = colSum + (<usize>c << 3);
      store<f64>(cs, load<f64>(cs) + q);
    }
    const o = <usize>r << 2;
    store<f32>(rowOut + o, load<f32>(rowIn + o) * b2 + <f32>(rowSum / <f64>C) * c2);
  }
}

/**
 * After a slice's pass 1: colOut[c] = β2·colIn[c] + (1 − β2)·colSum[c] / R, and the column
 * factors colFactor[c] = 1/√colOut[c] (float32).
 */
export function adafactorColumns(
  colIn: usize, colSum: usize, colOut: usize, colFactor: usize, R: i32, C: i32, b2: f32, c2: f32,
): void {
  for (let c = 0; c < C; c++) {
    const o = <usize>c << 2;
    const col: f32 = load<f32>(colIn + o) * b2 + <f32>(load<f64>(colSum + (<usize>c << 3)) / <f64>R) * c2;
    store<f32>(colOut + o, col);
    store<f32>(colFactor + o, <f32>(1.0 / sqrt<f64>(<f64>col)));
  }
}

/** colFactor[c] = 1/√colOut[c] (float32), for C columns. */
export function columnFactors(colOut: usize, colFactor: usize, C: i32): void {
  for (let c = 0; c < C; c++) {
    const o = <usize>c << 2;
    store<f32>(colFactor + o, <f32>(1.0 / sqrt<f64>(<f64>load<f32>(colOut + o))));
  }
}

/** The float32 mean of the R row factors of a slice. */
export function rowMean(rowOut: usize, R: i32): f32 {
  let s: f64 = 0;
  for (let r = 0; r < R; r++) s += <f64>load<f32>(rowOut + (<usize>r << 2));
  return <f32>(s / <f64>R);
}

/** 1/√(rowOut[r] / mean), rounded to float32. */
// @ts-ignore: decorator
@inline function rowFactor(rowOut: usize, r: i32, mean: f32): f32 {
  return <f32>(1.0 / sqrt<f64>(<f64>(load<f32>(rowOut + (<usize>r << 2)) / mean)));
}

/**
 * Pass 2 over g, for a run of rows: Σu² of the raw update u = g · rowFactor[r] · colFactor[c]
 * (float64), rowFactor[r] = 1/√(rowOut[r] / mean).
 */
export function adafactorSumU2(g: usize, rows: i32, C: i32, rowOut: usize, mean: f32, colFactor: usize): f64 {
  const rowBytes = <usize>C << 2;
  let ssU: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const rf = <f64>rowFactor(rowOut, r, mean);
    ssU += rf * rf * sumOfScaledSquares(colFactor, g + <usize>r * rowBytes, C);
  }
  return ssU;
}

/**
 * Last pass, for a run of rows: p' = p + p·decay − u with u = raw update · scale, through the
 * first moment (m' = β1·m + (1 − β1)·u, u = m') when hasM. Returns Σp'² (float64), which spares
 * the next update its pass over p for RMS(p).
 */
export function adafactorFinish(
  p: usize, g: usize, pOut: usize, mIn: usize, mOut: usize, rows: i32, C: i32,
  rowOut: usize, mean: f32, colFactor: usize,
  scale: f32, decay: f32, hasM: bool, b1: f32, c1: f32,
): f64 {
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  let s: f64 = 0;
  const vDecay = f32x4.splat(decay);
  const vB1 = f32x4.splat(b1);
  const vC1 = f32x4.splat(c1);
  const cv = C & ~3;
  const rowBytes = <usize>C << 2;
  for (let r = 0; r < rows; r++) {
    const rs: f32 = rowFactor(rowOut, r, mean) * scale;
    const vRs = f32x4.splat(rs);
    const base = <usize>r * rowBytes;
    if (hasM) {
      for (let c = 0; c < cv; c += 4) {
        const i = base + (<usize>c << 2);
        let u = f32x4.mul(f32x4.mul(vRs, v128.load(colFactor + (<usize>c << 2))), v128.load(g + i));
        u = f32x4.add(f32x4.mul(v128.load(mIn + i), vB1), f32x4.mul(u, vC1));
        v128.store(mOut + i, u);
        const pi = v128.load(p + i);
        const po = f32x4.sub(f32x4.add(pi, f32x4.mul(pi, vDecay)), u);
        v128.store(pOut + i, po);
        const po2 = f32x4.mul(po, po);
        s0 = f64x2.add(s0, lo64(po2));
        s1 = f64x2.add(s1, hi64(po2));
      }
    } else {
      for (let c = 0; c < cv; c += 4) {
        const i = base + (<usize>c << 2);
        const u = f32x4.mul(f32x4.mul(vRs, v128.load(colFactor + (<usize>c << 2))), v128.load(g + i));
        const pi = v128.load(p + i);
        const po = f32x4.sub(f32x4.add(pi, f32x4.mul(pi, vDecay)), u);
        v128.store(pOut + i, po);
        const po2 = f32x4.mul(po, po);
        s0 = f64x2.add(s0, lo64(po2));
        s1 = f64x2.add(s1, hi64(po2));
      }
    }
    for (let c = cv; c < C; c++) {
      const i = base + (<usize>c << 2);
      let u: f32 = rs * load<f32>(colFactor + (<usize>c << 2)) * load<f32>(g + i);
      if (hasM) {
        u = load<f32>(mIn + i) * b1 + u * c1;
        store<f32>(mOut + i, u);
      }
      const pi = load<f32>(p + i);
      const po: f32 = pi + pi * decay - u;
      store<f32>(pOut + i, po);
      s += <f64>po * <f64>po;
    }
  }
  return s + hsum64(f64x2.add(s0, s1));
}

/** Rank < 2: v' = β2·v + (1 − β2)·(g² + ε1); raw update g/√v' into uOut; returns Σu². */
export function adafactorVector(
  g: usize, vIn: usize, vOut: usize, uOut: usize, n: i32, b2: f32, c2: f32, eps1: f32,
): f64 {
  const vB2 = f32x4.splat(b2);
  const vC2 = f32x4.splat(c2);
  const vEps = f32x4.splat(eps1);
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  const bytes = (<usize>n & ~3) << 2;
  for (let i: usize = 0; i < bytes; i += 16) {
    const gi = v128.load(g + i);
    const vi = f32x4.add(f32x4.mul(v128.load(vIn + i), vB2), f32x4.mul(f32x4.add(f32x4.mul(gi, gi), vEps), vC2));
    v128.store(vOut + i, vi);
    const u = f32x4.div(gi, f32x4.sqrt(vi));
    v128.store(uOut + i, u);
    const u2 = f32x4.mul(u, u);
    s0 = f64x2.add(s0, lo64(u2));
    s1 = f64x2.add(s1, hi64(u2));
  }
  let s = hsum64(s0) + hsum64(s1);
  for (let k = n & ~3; k < n; k++) {
    const i = <usize>k << 2;
    const gi = load<f32>(g + i);
    const vi: f32 = load<f32>(vIn + i) * b2 + (gi * gi + eps1) * c2;
    store<f32>(vOut + i, vi);
    const u: f32 = gi / sqrt<f32>(vi);
    store<f32>(uOut + i, u);
    s += <f64>u * <f64>u;
  }
  return s;
}

/**
 * Rank < 2: p' = p + p·decay − u with u = raw·scale (through m when hasM); raw is in pOut.
 * Returns Σp'² (float64).
 */
export function adafactorVectorFinish(
  p: usize, pOut: usize, mIn: usize, mOut: usize, n: i32,
  scale: f32, decay: f32, hasM: bool, b1: f32, c1: f32,
): f64 {
  const vScale = f32x4.splat(scale);
  const vDecay = f32x4.splat(decay);
  const vB1 = f32x4.splat(b1);
  const vC1 = f32x4.splat(c1);
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  const bytes = (<usize>n & ~3) << 2;
  for (let i: usize = 0; i < bytes; i += 16) {
    let u = f32x4.mul(v128.load(pOut + i), vScale);
    if (hasM) {
      u = f32x4.add(f32x4.mul(v128.load(mIn + i), vB1), f32x4.mul(u, vC1));
      v128.store(mOut + i, u);
    }
    const pi = v128.load(p + i);
    const po = f32x4.sub(f32x4.add(pi, f32x4.mul(pi, vDecay)), u);
    v128.store(pOut + i, po);
    const po2 = f32x4.mul(po, po);
    s0 = f64x2.add(s0, lo64(po2));
    s1 = f64x2.add(s1, hi64(po2));
  }
  let s = hsum64(f64x2.add(s0, s1));
  for (let k = n & ~3; k < n; k++) {
    const i = <usize>k << 2;
    let u: f32 = load<f32>(pOut + i) * scale;
    if (hasM) {
      u = load<f32>(mIn + i) * b1 + u * c1;
      store<f32>(mOut + i, u);
    }
    const pi = load<f32>(p + i);
    const po: f32 = pi + pi * decay - u;
    store<f32>(pOut + i, po);
    s += <f64>po * <f64>po;
  }
  return s;
}
