/**
 * Fused layer kernels in AssemblyScript, compiled to WebAssembly with 128-bit SIMD by
 * `npm run build:kernels` (scripts/build-kernels.mjs), run on tfjs-backend-wasm's heap by
 * src/models/fused.ts. Like assembly/optim.ts the module imports its memory and owns none: every
 * address is a byte offset handed in by the caller, a kernel reads its inputs and writes its
 * outputs (and the scratch it is given), nothing else.
 *
 * Each kernel replaces a chain of small tfjs ops (one pass over memory instead of 5-12):
 *   attention   softmax(q·kᵀ)·v per example and head, straight from the [batch·tokens, width] layout of
 *               q, k, v (no head transposes), and its gradient;
 *   layerNorm   LayerNorm over the last axis and its gradient;
 *   gelu        x·σ(1.702x) and its gradient.
 * Widths (the head width for attention) must be multiples of 4; the caller checks.
 * Arithmetic is float32. exp is a degree-6 polynomial after range reduction (Cephes expf, ~1 ulp).
 */

// ---------------------------------------------------------------------------------------------
// Helpers

const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;

/**
 * e^x per lane for x in [-87, 88] (the caller clamps: pmin/pmax are single instructions, min/max are not).
 * n = round(x·log2 e) by the 1.5·2²³ trick, whose float bits then also give 2^n without a conversion.
 */
// @ts-ignore: decorator
@inline function exp4(x: v128): v128 {
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(12582912.0)); // 1.5·2²³ + n
  const n = f32x4.sub(t, f32x4.splat(12582912.0));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI))), f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  const y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1.0));
  // bits(t) = 0x4B400000 + n: 2^n has the bits (n + 127) << 23.
  const scale = i32x4.shl(i32x4.add(t, i32x4.splat(127 - 0x4B400000)), 23);
  return f32x4.mul(y, scale);
}

/** e^x of one float, by the same polynomial as exp4 (so every element of a row rounds alike). */
// @ts-ignore: decorator
@inline function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** Σ a[d]·b[d] over n floats (n a multiple of 4). */
// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  const bytes = <usize>n << 2;
  for (let d: usize = 0; d < bytes; d += 16) acc = f32x4.add(acc, f32x4.mul(v128.load(a + d), v128.load(b + d)));
  return hsum(acc);
}

/** y[d] += s·x[d] over n floats (n a multiple of 4). */
// @ts-ignore: decorator
@inline function axpy(y: usize, s: f32, x: usize, n: i32): void {
  const vs = f32x4.splat(s);
  const bytes = <usize>n << 2;
  for (let d: usize = 0; d < bytes; d += 16) v128.store(y + d, f32x4.add(v128.load(y + d), f32x4.mul(vs, v128.load(x + d))));
}

// @ts-ignore: decorator
@inline function zeroFloats(y: usize, n: i32): void {
  memory.fill(y, 0, <usize>n << 2);
}

// ---------------------------------------------------------------------------------------------
// Attention

/**
 * Per example b and head h, with q, k, v, out of layout [batch·tokens, heads·hd] (head h in columns
 * h·hd … h·hd + hd − 1): P = softmax(scale·Q·Kᵀ) over each row (scale 1/√hd), out = P·V.
 * P is written to probs [batch, heads, tokens, tokens]. With `causal` token i sees tokens j ≤ i only
 * (P[i, j] = 0 for j > i, exactly).
 */
export function attentionForward(
  q: usize, k: usize, v: usize, out: usize, probs: usize,
  batch: i32, tokens: i32, heads: i32, hd: i32, causal: bool, scale: f32,
): void {
  const width = heads * hd;
  const rowBytes = <usize>width << 2;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const base = (<usize>(b * tokens * width + h * hd)) << 2;
      const pBase = probs + ((<usize>((b * heads + h) * tokens * tokens)) << 2);
      for (let i = 0; i < tokens; i++) {
        const qi = q + base + <usize>i * rowBytes;
        const row = pBase + ((<usize>(i * tokens)) << 2);
        const seen = causal ? i + 1 : tokens;
        let top: f32 = <f32>-Infinity;
        for (let j = 0; j < seen; j++) {
          const s = dot(qi, k + base + <usize>j * rowBytes, hd) * scale;
          store<f32>(row + (<usize>j << 2), s);
          top = s > top ? s : top;
        }
        const vMax = f32x4.splat(top);
        let vSum = f32x4.splat(0);
        const seen4 = seen & ~3;
        for (let j = 0; j < seen4; j += 4) {
          const e = exp4(f32x4.pmax(f32x4.sub(v128.load(row + (<usize>j << 2)), vMax), f32x4.splat(-87.0)));
          v128.store(row + (<usize>j << 2), e);
          vSum = f32x4.add(vSum, e);
        }
        let sum = hsum(vSum);
        for (let j = seen4; j < seen; j++) {
          const e = exp1(max<f32>(load<f32>(row + (<usize>j << 2)) - top, -87.0));
          store<f32>(row + (<usize>j << 2), e);
          sum += e;
        }
        const inv: f32 = 1.0 / sum;
        for (let j = 0; j < seen; j++) store<f32>(row + (<usize>j << 2), load<f32>(row + (<usize>j << 2)) * inv);
        for (let j = seen; j < tokens; j++) store<f32>(row + (<usize>j << 2), 0);
        const oi = out + base + <usize>i * rowBytes;
        zeroFloats(oi, hd);
        for (let j = 0; j < seen; j++) axpy(oi, load<f32>(row + (<usize>j << 2)), v + base + <usize>j * rowBytes, hd);
      }
    }
  }
}

/**
 * The gradient of attentionForward, from dOut (layout of out) and the saved P:
 *   dV = Pᵀ·dOut;  dP = dOut·Vᵀ;  dS = P ∘ (dP − rowsum(P ∘ dP));  dQ = scale·dS·K;  dK = scale·dSᵀ·Q.
 * dq, dk, dv are written in full (layout of q). `ds` is scratch for `tokens` floats.
 */
export function attentionBackward(
  dOut: usize, q: usize, k: usize, v: usize, probs: usize, dq: usize, dk: usize, dv: usize, ds: usize,
  batch: i32, tokens: i32, heads: i32, hd: i32, causal: bool, scale: f32,
): void {
  const width = heads * hd;
  const rowBytes = <usize>width << 2;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const base = (<usize>(b * tokens * width + h * hd)) << 2;
      const pBase = probs + ((<usize>((b * heads + h) * tokens * tokens)) << 2);
      for (let j = 0; j < tokens; j++) {
        zeroFloats(dk + base + <usize>j * rowBytes, hd);
        zeroFloats(dv + base + <usize>j * rowBytes, hd);
      }
      for (let i = 0; i < tokens; i++) {
        const row = pBase + ((<usize>(i * tokens)) << 2);
        const dOi = dOut + base + <usize>i * rowBytes;
        const qi = q + base + <usize>i * rowBytes;
        const seen = causal ? i + 1 : tokens;
        let rowDot: f32 = 0;
        for (let j = 0; j < seen; j++) {
          const p = load<f32>(row + (<usize>j << 2));
          const dp = dot(dOi, v + base + <usize>j * rowBytes, hd);
          store<f32>(ds + (<usize>j << 2), dp);
          rowDot += p * dp;
          axpy(dv + base + <usize>j * rowBytes, p, dOi, hd);
        }
        const dqi = dq + base + <usize>i * rowBytes;
        zeroFloats(dqi, hd);
        for (let j = 0; j < seen; j++) {
          const s: f32 = load<f32>(row + (<usize>j << 2)) * (load<f32>(ds + (<usize>j << 2)) - rowDot) * scale;
          axpy(dqi, s, k + base + <usize>j * rowBytes, hd);
          axpy(dk + base + <usize>j * rowBytes, s, qi, hd);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// LayerNorm

/**
 * Per row of x [rows, width]: x̂ = (x − mean) / sqrt(var + ε), y = x̂·scale + bias; writes y, x̂ and
 * rstd [rows] = 1 / sqrt(var + ε) (the biased variance, as tfjs's mean of squares).
 */
export function layerNormForward(
  x: usize, scale: usize, bias: usize, y: usize, xhat: usize, rstd: usize, rows: i32, width: i32, eps: f32,
): void {
  const rowBytes = <usize>width << 2;
  const invWidth: f32 = 1.0 / <f32>width;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    let acc = f32x4.splat(0);
    for (let d: usize = 0; d < rowBytes; d += 16) acc = f32x4.add(acc, v128.load(xr + d));
    const mean = f32x4.splat(hsum(acc) * invWidth);
    let sq = f32x4.splat(0);
    for (let d: usize = 0; d < rowBytes; d += 16) {
      const c = f32x4.sub(v128.load(xr + d), mean);
      sq = f32x4.add(sq, f32x4.mul(c, c));
    }
    const rs: f32 = 1.0 / sqrt<f32>(hsum(sq) * invWidth + eps);
    store<f32>(rstd + (<usize>r << 2), rs);
    const vrs = f32x4.splat(rs);
    const yr = y + <usize>r * rowBytes;
    const hr = xhat + <usize>r * rowBytes;
    for (let d: usize = 0; d < rowBytes; d += 16) {
      const xh = f32x4.mul(f32x4.sub(v128.load(xr + d), mean), vrs);
      v128.store(hr + d, xh);
      v128.store(yr + d, f32x4.add(f32x4.mul(xh, v128.load(scale + d)), v128.load(bias + d)));
    }
  }
}

/**
 * The gradient of layerNormForward: g = dy·scale;  dx = (g − mean(g) − x̂·mean(g·x̂))·rstd;
 * dscale = Σ_rows dy·x̂;  dbias = Σ_rows dy (both written in full).
 */
export function layerNormBackward(
  dy: usize, xhat: usize, rstd: usize, scale: usize, dx: usize, dscale: usize, dbias: usize, rows: i32, width: i32,
): void {
  const rowBytes = <usize>width << 2;
  const invWidth: f32 = 1.0 / <f32>width;
  zeroFloats(dscale, width);
  zeroFloats(dbias, width);
  for (let r = 0; r < rows; r++) {
    const dyr = dy + <usize>r * rowBytes;
    const hr = xhat + <usize>r * rowBytes;
    let sg = f32x4.splat(0);
    let sgx = f32x4.splat(0);
    for (let d: usize = 0; d < rowBytes; d += 16) {
      const dyv = v128.load(dyr + d);
      const xh = v128.load(hr + d);
      const g = f32x4.mul(dyv, v128.load(scale + d));
      sg = f32x4.add(sg, g);
      sgx = f32x4.add(sgx, f32x4.mul(g, xh));
      v128.store(dscale + d, f32x4.add(v128.load(dscale + d), f32x4.mul(dyv, xh)));
      v128.store(dbias + d, f32x4.add(v128.load(dbias + d), dyv));
    }
    const meanG = f32x4.splat(hsum(sg) * invWidth);
    const meanGx = f32x4.splat(hsum(sgx) * invWidth);
    const rs = f32x4.splat(load<f32>(rstd + (<usize>r << 2)));
    const dxr = dx + <usize>r * rowBytes;
    for (let d: usize = 0; d < rowBytes; d += 16) {
      const g = f32x4.mul(v128.load(dyr + d), v128.load(scale + d));
      const c = f32x4.sub(f32x4.sub(g, meanG), f32x4.mul(v128.load(hr + d), meanGx));
      v128.store(dxr + d, f32x4.mul(c, rs));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// GELU, sigmoid form

const GELU_K: f32 = 1.702;

/** σ(1.702x) per lane, the argument clamped to ±80 (so σ never underflows to a subnormal). */
// @ts-ignore: decorator
@inline function geluSigmoid(x: v128): v128 {
  const z = f32x4.pmax(f32x4.pmin(f32x4.mul(x, f32x4.splat(-GELU_K)), f32x4.splat(80.0)), f32x4.splat(-80.0));
  return f32x4.div(f32x4.splat(1.0), f32x4.add(f32x4.splat(1.0), exp4(z)));
}

/** y = x·σ(1.702x) over n floats (n a multiple of 4). */
export function geluForward(x: usize, y: usize, n: i32): void {
  const bytes = <usize>n << 2;
  for (let i: usize = 0; i < bytes; i += 16) {
    const xv = v128.load(x + i);
    v128.store(y + i, f32x4.mul(xv, geluSigmoid(xv)));
  }
}

/** dx = dy·(s + 1.702·x·s·(1 − s)), s = σ(1.702x), over n floats (n a multiple of 4). */
export function geluBackward(dy: usize, x: usize, dx: usize, n: i32): void {
  const bytes = <usize>n << 2;
  const one = f32x4.splat(1.0);
  const k = f32x4.splat(GELU_K);
  for (let i: usize = 0; i < bytes; i += 16) {
    const xv = v128.load(x + i);
    const s = geluSigmoid(xv);
    const slope = f32x4.add(s, f32x4.mul(f32x4.mul(f32x4.mul(k, xv), s), f32x4.sub(one, s)));
    v128.store(dx + i, f32x4.mul(v128.load(dy + i), slope));
  }
}

// ---------------------------------------------------------------------------------------------
// aᵀ·b without a transpose (the weight gradient of a dense layer: xᵀ·dy)

/**
 * Rows i0 … i0 + 3 of c = aᵀ·b, columns j0 … j0 + 7 (`wide`) or j0 … j0 + 3, summed over all K rows of a and
 * b in registers (8 accumulators: with the operands that stays within x64's 16 vector registers).
 */
// @ts-ignore: decorator
@inline function tileTN4(a: usize, b: usize, c: usize, K: i32, M: i32, N: i32, i0: i32, j0: i32, wide: bool): void {
  const aStride = <usize>M << 2;
  const bStride = <usize>N << 2;
  let pa = a + (<usize>i0 << 2);
  let pb = b + (<usize>j0 << 2);
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const pc = c + (<usize>i0 * bStride) + (<usize>j0 << 2);
  if (wide) {
    for (let r = 0; r < K; r++, pa += aStride, pb += bStride) {
      const av = v128.load(pa);
      const b0 = v128.load(pb);
      const b1 = v128.load(pb, 16);
      let s = i32x4.shuffle(av, av, 0, 0, 0, 0);
      c00 = f32x4.add(c00, f32x4.mul(s, b0));
      c01 = f32x4.add(c01, f32x4.mul(s, b1));
      s = i32x4.shuffle(av, av, 1, 1, 1, 1);
      c10 = f32x4.add(c10, f32x4.mul(s, b0));
      c11 = f32x4.add(c11, f32x4.mul(s, b1));
      s = i32x4.shuffle(av, av, 2, 2, 2, 2);
      c20 = f32x4.add(c20, f32x4.mul(s, b0));
      c21 = f32x4.add(c21, f32x4.mul(s, b1));
      s = i32x4.shuffle(av, av, 3, 3, 3, 3);
      c30 = f32x4.add(c30, f32x4.mul(s, b0));
      c31 = f32x4.add(c31, f32x4.mul(s, b1));
    }
    v128.store(pc, c00);
    v128.store(pc, c01, 16);
    v128.store(pc + bStride, c10);
    v128.store(pc + bStride, c11, 16);
    v128.store(pc + 2 * bStride, c20);
    v128.store(pc + 2 * bStride, c21, 16);
    v128.store(pc + 3 * bStride, c30);
    v128.store(pc + 3 * bStride, c31, 16);
  } else {
    for (let r = 0; r < K; r++, pa += aStride, pb += bStride) {
      const av = v128.load(pa);
      const b0 = v128.load(pb);
      c00 = f32x4.add(c00, f32x4.mul(i32x4.shuffle(av, av, 0, 0, 0, 0), b0));
      c10 = f32x4.add(c10, f32x4.mul(i32x4.shuffle(av, av, 1, 1, 1, 1), b0));
      c20 = f32x4.add(c20, f32x4.mul(i32x4.shuffle(av, av, 2, 2, 2, 2), b0));
      c30 = f32x4.add(c30, f32x4.mul(i32x4.shuffle(av, av, 3, 3, 3, 3), b0));
    }
    v128.store(pc, c00);
    v128.store(pc + bStride, c10);
    v128.store(pc + 2 * bStride, c20);
    v128.store(pc + 3 * bStride, c30);
  }
}

/**
 * c [M, N] = aᵀ·b for a [K, M], b [K, N], row-major, reading a as it lies (no transpose): tiles of 4 rows
 * of c by 8 (then 4) columns, each accumulated over all K in registers. N must be a multiple of 4.
 */
export function matMulTN(a: usize, b: usize, c: usize, K: i32, M: i32, N: i32): void {
  const M4 = M & ~3;
  const N8 = N & ~7;
  for (let i0 = 0; i0 < M4; i0 += 4) {
    for (let j0 = 0; j0 < N8; j0 += 8) tileTN4(a, b, c, K, M, N, i0, j0, true);
    for (let j0 = N8; j0 < N; j0 += 4) tileTN4(a, b, c, K, M, N, i0, j0, false);
  }
  // The last M mod 4 rows of c: one row at a time.
  const aStride = <usize>M << 2;
  const bStride = <usize>N << 2;
  for (let i = M4; i < M; i++) {
    for (let j0 = 0; j0 < N; j0 += 4) {
      let acc = f32x4.splat(0);
      let pa = a + (<usize>i << 2);
      let pb = b + (<usize>j0 << 2);
      for (let r = 0; r < K; r++, pa += aStride, pb += bStride) acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(pa)), v128.load(pb)));
      v128.store(c + <usize>i * bStride + (<usize>j0 << 2), acc);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Column sums (a dense layer's bias gradient) without a transpose

/**
 * out[j] = Σ_r x[r, j] for x [rows, n] row-major, summed in row order (as tfjs's Sum over the rows of the
 * transposed matrix), 4 columns at a time and the last n mod 4 one by one.
 */
export function columnSums(x: usize, out: usize, rows: i32, n: i32): void {
  const rowBytes = <usize>n << 2;
  const n4 = n & ~3;
  for (let j = 0; j < n4; j += 4) {
    let acc = f32x4.splat(0);
    let p = x + (<usize>j << 2);
    for (let r = 0; r < rows; r++, p += rowBytes) acc = f32x4.add(acc, v128.load(p));
    v128.store(out + (<usize>j << 2), acc);
  }
  for (let j = n4; j < n; j++) {
    let acc: f32 = 0;
    let p = x + (<usize>j << 2);
    for (let r = 0; r < rows; r++, p += rowBytes) acc += load<f32>(p);
    store<f32>(out + (<usize>j << 2), acc);
  }
}
