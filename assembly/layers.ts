/**
 * Fused layer kernels in AssemblyScript, compiled to WebAssembly with 128-bit SIMD by
 * `npm run build:kernels` (scripts/build-kernels.mjs), run on tfjs-backend-wasm's heap by
 * src/models/fused.ts. Like assembly/optim.ts the module imports its memory and owns none: every
 * address is a byte offset handed in by the caller, a kernel reads its inputs and writes its
 * outputs (and the scratch it is given), nothing else.
 *
 * Each kernel replaces a chain of small tfjs ops (one pass over memory instead of 5-12) or an XNNPACK call:
 *   attention   softmax(q·kᵀ)·v per example and head, straight from the [batch·tokens, width] layout of
 *               q, k, v (no head transposes), and its gradient, as small register-tiled products;
 *   layerNorm   LayerNorm over the last axis and its gradient;
 *   gelu        x·σ(1.702x) and its gradient;
 *   matMul, matMulTN   a·b (+ bias) and aᵀ·b in register tiles; columnSums  Σ over rows.
 * Widths (the head width for attention, the columns of a product) must be multiples of 4; the caller checks.
 * Arithmetic is float32; sums run in index order. Built twice: with relaxed SIMD, `madd` is a fused
 * multiply-add (one rounding) where the CPU has one. exp is a degree-6 polynomial after range reduction
 * (Cephes expf, ~1 ulp).
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


/** y[0 … n) = 0, in a loop (memory.fill is a call into the engine, slow for a few floats). */
// @ts-ignore: decorator
@inline function clearFloats(y: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), f32x4.splat(0));
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), 0);
}

/**
 * c + a·b per lane. Built twice (scripts/build-kernels.mjs): with relaxed SIMD it is one fused multiply-add
 * where the CPU has one (one rounding instead of two), without it a multiply then an add.
 */
// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

const FLT_MIN: f32 = 1.17549435e-38;

/**
 * v with its subnormal lanes set to zero (flush to zero). wasm has no FTZ mode, and x86 takes a microcode
 * assist, ~100x the time, for every subnormal operand or result: gradients that shrink into that range
 * (runs that memorise their data) made steps 5-10x slower. Normal values pass unchanged.
 */
// @ts-ignore: decorator
@inline function ftz(v: v128): v128 {
  return v128.and(v, f32x4.ge(f32x4.abs(v), f32x4.splat(FLT_MIN)));
}

/** ftz(v) on a product's last block of k; a partial sum is stored as it is, so blocks sum as one pass does. */
// @ts-ignore: decorator
@inline function flushIfLast(v: v128, last: bool): v128 {
  return last ? ftz(v) : v;
}

/** ftz for one float. */
// @ts-ignore: decorator
@inline function ftz1(x: f32): f32 {
  return abs<f32>(x) < FLT_MIN ? 0 : x;
}

/** n rounded up to a multiple of 4. */
// @ts-ignore: decorator
@inline function up4(n: i32): i32 {
  return (n + 3) & ~3;
}

/**
 * Packs the hd columns of one head of `rows` rows (row stride `rowBytes`) transposed into t [hd, width4]
 * (width4 = up4(rows)), the columns past `rows` zero: so that a row vector times it runs 4 columns a lane.
 */
// @ts-ignore: decorator
@inline function packTransposed(t: usize, x: usize, rows: i32, hd: i32, rowBytes: usize): void {
  const width4 = up4(rows);
  clearFloats(t, hd * width4);
  for (let j = 0; j < rows; j++) {
    const xj = x + <usize>j * rowBytes;
    for (let d = 0; d < hd; d++) store<f32>(t + ((<usize>(d * width4 + j)) << 2), load<f32>(xj + (<usize>d << 2)));
  }
}

/**
 * y[0 … width4) = Σ_d x[d]·t[d, ·] for t [n, width4] (packTransposed): one row of x·Xᵀ. Columns in blocks of
 * 16 (4 accumulators), then of 4.
 */
// @ts-ignore: decorator
@inline function rowTimesPacked(y: usize, x: usize, t: usize, n: i32, width4: i32): void {
  const rowBytes = <usize>width4 << 2;
  let j = 0;
  for (; j + 16 <= width4; j += 16) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let pt = t + (<usize>j << 2);
    for (let d = 0; d < n; d++, pt += rowBytes) {
      const s = v128.load32_splat(x + (<usize>d << 2));
      a0 = madd(s, v128.load(pt), a0);
      a1 = madd(s, v128.load(pt, 16), a1);
      a2 = madd(s, v128.load(pt, 32), a2);
      a3 = madd(s, v128.load(pt, 48), a3);
    }
    const py = y + (<usize>j << 2);
    v128.store(py, a0);
    v128.store(py, a1, 16);
    v128.store(py, a2, 32);
    v128.store(py, a3, 48);
  }
  for (; j < width4; j += 4) {
    let a0 = f32x4.splat(0);
    let pt = t + (<usize>j << 2);
    for (let d = 0; d < n; d++, pt += rowBytes) a0 = madd(v128.load32_splat(x + (<usize>d << 2)), v128.load(pt), a0);
    v128.store(y + (<usize>j << 2), a0);
  }
}

/**
 * y[0 … hd) = Σ_{j < count} c[j·cStep]·x_j, x_j = x + j·xStride (rows of one head): a coefficient row times
 * a matrix, in registers over hd in blocks of 16, then of 4; subnormal results flushed.
 */
// @ts-ignore: decorator
@inline function coefficientsTimesRows(y: usize, c: usize, cStep: usize, x: usize, xStride: usize, count: i32, hd: i32): void {
  let d = 0;
  for (; d + 16 <= hd; d += 16) {
    const py = y + (<usize>d << 2);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let pc = c;
    let px = x + (<usize>d << 2);
    for (let j = 0; j < count; j++, pc += cStep, px += xStride) {
      const s = v128.load32_splat(pc);
      a0 = madd(s, v128.load(px), a0);
      a1 = madd(s, v128.load(px, 16), a1);
      a2 = madd(s, v128.load(px, 32), a2);
      a3 = madd(s, v128.load(px, 48), a3);
    }
    v128.store(py, ftz(a0));
    v128.store(py, ftz(a1), 16);
    v128.store(py, ftz(a2), 32);
    v128.store(py, ftz(a3), 48);
  }
  for (; d < hd; d += 4) {
    const py = y + (<usize>d << 2);
    let a0 = f32x4.splat(0);
    let pc = c;
    let px = x + (<usize>d << 2);
    for (let j = 0; j < count; j++, pc += cStep, px += xStride) a0 = madd(v128.load32_splat(pc), v128.load(px), a0);
    v128.store(py, ftz(a0));
  }
}

// ---------------------------------------------------------------------------------------------
// Attention

/**
 * Per example b and head h, with q, k, v of row stride `stride` floats and out of layout [batch·tokens,
 * heads·hd] (head h in columns h·hd … h·hd + hd − 1 of each): P = softmax(scale·Q·Kᵀ) over each row (scale
 * 1/√hd), out = P·V. q, k and v may be column blocks of one [batch·tokens, 3·width] matrix (stride 3·width).
 * P is written to probs [batch, heads, tokens, tokens]. With `causal` token i sees tokens j ≤ i only
 * (P[i, j] = 0 for j > i, exactly). `scratch` holds (hd + 1)·up4(tokens) floats: Kᵀ of the head, packed
 * (packTransposed), and one row of scores.
 */
export function attentionForward(
  q: usize, k: usize, v: usize, out: usize, probs: usize, scratch: usize,
  batch: i32, tokens: i32, heads: i32, hd: i32, stride: i32, causal: bool, scale: f32,
): void {
  const width = heads * hd;
  const rowBytes = <usize>width << 2;
  const inBytes = <usize>stride << 2;
  const tokens4 = up4(tokens);
  const kT = scratch;
  const scores = scratch + ((<usize>(hd * tokens4)) << 2);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const base = (<usize>(b * tokens * width + h * hd)) << 2;
      const inBase = (<usize>(b * tokens * stride + h * hd)) << 2;
      const pBase = probs + ((<usize>((b * heads + h) * tokens * tokens)) << 2);
      packTransposed(kT, k + inBase, tokens, hd, inBytes);
      for (let i = 0; i < tokens; i++) {
        const row = pBase + ((<usize>(i * tokens)) << 2);
        const seen = causal ? i + 1 : tokens;
        rowTimesPacked(scores, q + inBase + <usize>i * inBytes, kT, hd, tokens4);
        // Scaled scores and their max, 4 at a time, then the rest; pmax is the scalar `s > top ? s : top`.
        const seen4 = seen & ~3;
        const vScale = f32x4.splat(scale);
        let vTop = f32x4.splat(<f32>-Infinity);
        for (let j = 0; j < seen4; j += 4) {
          const v = f32x4.mul(v128.load(scores + (<usize>j << 2)), vScale);
          v128.store(row + (<usize>j << 2), v);
          vTop = f32x4.pmax(vTop, v);
        }
        let top: f32 = <f32>-Infinity;
        for (let lane = 0; lane < 4; lane++) {
          const t = f32x4.extract_lane(vTop, 0);
          top = t > top ? t : top;
          vTop = i32x4.shuffle(vTop, vTop, 1, 2, 3, 0);
        }
        for (let j = seen4; j < seen; j++) {
          const s = load<f32>(scores + (<usize>j << 2)) * scale;
          store<f32>(row + (<usize>j << 2), s);
          top = s > top ? s : top;
        }
        const vMax = f32x4.splat(top);
        const floor = f32x4.splat(-87.0);
        let vSum = f32x4.splat(0);
        let jv = 0;
        // Four exps in flight per iteration (V8 runs one chain per iteration nearly serially), summed in order.
        for (; jv + 16 <= seen4; jv += 16) {
          const at = row + (<usize>jv << 2);
          const e0 = exp4(f32x4.pmax(f32x4.sub(v128.load(at), vMax), floor));
          const e1 = exp4(f32x4.pmax(f32x4.sub(v128.load(at, 16), vMax), floor));
          const e2 = exp4(f32x4.pmax(f32x4.sub(v128.load(at, 32), vMax), floor));
          const e3 = exp4(f32x4.pmax(f32x4.sub(v128.load(at, 48), vMax), floor));
          v128.store(at, e0);
          v128.store(at, e1, 16);
          v128.store(at, e2, 32);
          v128.store(at, e3, 48);
          vSum = f32x4.add(f32x4.add(f32x4.add(f32x4.add(vSum, e0), e1), e2), e3);
        }
        for (; jv < seen4; jv += 4) {
          const e = exp4(f32x4.pmax(f32x4.sub(v128.load(row + (<usize>jv << 2)), vMax), floor));
          v128.store(row + (<usize>jv << 2), e);
          vSum = f32x4.add(vSum, e);
        }
        let sum = hsum(vSum);
        for (let j = seen4; j < seen; j++) {
          const e = exp1(max<f32>(load<f32>(row + (<usize>j << 2)) - top, -87.0));
          store<f32>(row + (<usize>j << 2), e);
          sum += e;
        }
        const inv: f32 = 1.0 / sum;
        const vInv = f32x4.splat(inv);
        for (let j = 0; j < seen4; j += 4) v128.store(row + (<usize>j << 2), f32x4.mul(v128.load(row + (<usize>j << 2)), vInv));
        for (let j = seen4; j < seen; j++) store<f32>(row + (<usize>j << 2), load<f32>(row + (<usize>j << 2)) * inv);
        for (let j = seen; j < tokens; j++) store<f32>(row + (<usize>j << 2), 0);
        coefficientsTimesRows(out + base + <usize>i * rowBytes, row, 4, v + inBase, inBytes, seen, hd);
      }
    }
  }
}

/**
 * The gradient of attentionForward, from dOut (layout of out) and the saved P:
 *   dV = Pᵀ·dOut;  dP = dOut·Vᵀ;  dS = P ∘ (dP − rowsum(P ∘ dP));  dQ = scale·dS·K;  dK = scale·dSᵀ·Q.
 * dq, dk, dv (row stride `stride`, as q, k, v) are written in full: every head's columns of every row.
 * `scratch` holds (hd + tokens)·up4(tokens) floats: Vᵀ of the head, packed, and scale·dS [tokens, up4(tokens)].
 */
export function attentionBackward(
  dOut: usize, q: usize, k: usize, v: usize, probs: usize, dq: usize, dk: usize, dv: usize, scratch: usize,
  batch: i32, tokens: i32, heads: i32, hd: i32, stride: i32, causal: bool, scale: f32,
): void {
  const width = heads * hd;
  const rowBytes = <usize>width << 2;
  const inBytes = <usize>stride << 2;
  const tokens4 = up4(tokens);
  const dsBytes = <usize>tokens4 << 2;
  const vT = scratch;
  const dS = scratch + ((<usize>(hd * tokens4)) << 2);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const base = (<usize>(b * tokens * width + h * hd)) << 2;
      const inBase = (<usize>(b * tokens * stride + h * hd)) << 2;
      const pBase = probs + ((<usize>((b * heads + h) * tokens * tokens)) << 2);
      packTransposed(vT, v + inBase, tokens, hd, inBytes);
      for (let i = 0; i < tokens; i++) {
        const row = pBase + ((<usize>(i * tokens)) << 2);
        const dsRow = dS + <usize>i * dsBytes;
        const seen = causal ? i + 1 : tokens;
        rowTimesPacked(dsRow, dOut + base + <usize>i * rowBytes, vT, hd, tokens4); // dP row i
        let rowDot: f32 = 0;
        for (let j = 0; j < seen; j++) rowDot += load<f32>(row + (<usize>j << 2)) * load<f32>(dsRow + (<usize>j << 2));
        // dS = P ∘ (dP − rowDot)·scale: elementwise, 4 at a time, then the rest (the same products per element).
        const seen4 = seen & ~3;
        const vDot = f32x4.splat(rowDot);
        const vScale = f32x4.splat(scale);
        for (let j = 0; j < seen4; j += 4) {
          const at = <usize>j << 2;
          v128.store(dsRow + at, ftz(f32x4.mul(f32x4.mul(v128.load(row + at), f32x4.sub(v128.load(dsRow + at), vDot)), vScale)));
        }
        for (let j = seen4; j < seen; j++) {
          const at = <usize>j << 2;
          store<f32>(dsRow + at, ftz1(load<f32>(row + at) * (load<f32>(dsRow + at) - rowDot) * scale));
        }
        coefficientsTimesRows(dq + inBase + <usize>i * inBytes, dsRow, 4, k + inBase, inBytes, seen, hd);
      }
      // Columns of P and dS: token j is seen by rows i ≥ j only when causal.
      for (let j = 0; j < tokens; j++) {
        const first = causal ? j : 0;
        const count = tokens - first;
        const at = <usize>j << 2;
        coefficientsTimesRows(dk + inBase + <usize>j * inBytes, dS + <usize>first * dsBytes + at, dsBytes, q + inBase + <usize>first * inBytes, inBytes, count, hd);
        coefficientsTimesRows(dv + inBase + <usize>j * inBytes, pBase + ((<usize>(first * tokens)) << 2) + at, <usize>tokens << 2, dOut + base + <usize>first * rowBytes, rowBytes, count, hd);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// LayerNorm

/**
 * LayerNorm forward of rows a and b (b = a for one row): their sums run side by side, each in its own order (two
 * dependency chains in flight instead of one; the same numbers as one row at a time).
 */
// @ts-ignore: decorator
@inline function layerNormRows(
  x: usize, scale: usize, bias: usize, y: usize, xhat: usize, rstd: usize, a: i32, b: i32, rowBytes: usize, invWidth: f32, eps: f32,
): void {
  const xa = x + <usize>a * rowBytes;
  const xb = x + <usize>b * rowBytes;
  let accA = f32x4.splat(0);
  let accB = f32x4.splat(0);
  for (let d: usize = 0; d < rowBytes; d += 16) {
    accA = f32x4.add(accA, v128.load(xa + d));
    accB = f32x4.add(accB, v128.load(xb + d));
  }
  const meanA = f32x4.splat(hsum(accA) * invWidth);
  const meanB = f32x4.splat(hsum(accB) * invWidth);
  let sqA = f32x4.splat(0);
  let sqB = f32x4.splat(0);
  for (let d: usize = 0; d < rowBytes; d += 16) {
    const cA = f32x4.sub(v128.load(xa + d), meanA);
    const cB = f32x4.sub(v128.load(xb + d), meanB);
    sqA = f32x4.add(sqA, f32x4.mul(cA, cA));
    sqB = f32x4.add(sqB, f32x4.mul(cB, cB));
  }
  const rsA: f32 = 1.0 / sqrt<f32>(hsum(sqA) * invWidth + eps);
  const rsB: f32 = 1.0 / sqrt<f32>(hsum(sqB) * invWidth + eps);
  store<f32>(rstd + (<usize>a << 2), rsA);
  store<f32>(rstd + (<usize>b << 2), rsB);
  const vA = f32x4.splat(rsA);
  const vB = f32x4.splat(rsB);
  const ya = y + <usize>a * rowBytes;
  const yb = y + <usize>b * rowBytes;
  const ha = xhat + <usize>a * rowBytes;
  const hb = xhat + <usize>b * rowBytes;
  for (let d: usize = 0; d < rowBytes; d += 16) {
    const s = v128.load(scale + d);
    const t = v128.load(bias + d);
    const xhA = f32x4.mul(f32x4.sub(v128.load(xa + d), meanA), vA);
    const xhB = f32x4.mul(f32x4.sub(v128.load(xb + d), meanB), vB);
    v128.store(ha + d, xhA);
    v128.store(hb + d, xhB);
    v128.store(ya + d, f32x4.add(f32x4.mul(xhA, s), t));
    v128.store(yb + d, f32x4.add(f32x4.mul(xhB, s), t));
  }
}

/**
 * Per row of x [rows, width]: x̂ = (x − mean) / sqrt(var + ε), y = x̂·scale + bias; writes y, x̂ and
 * rstd [rows] = 1 / sqrt(var + ε) (the biased variance, as tfjs's mean of squares). Rows in pairs (layerNormRows).
 */
export function layerNormForward(
  x: usize, scale: usize, bias: usize, y: usize, xhat: usize, rstd: usize, rows: i32, width: i32, eps: f32,
): void {
  const rowBytes = <usize>width << 2;
  const invWidth: f32 = 1.0 / <f32>width;
  let r = 0;
  for (; r + 2 <= rows; r += 2) layerNormRows(x, scale, bias, y, xhat, rstd, r, r + 1, rowBytes, invWidth, eps);
  if (r < rows) layerNormRows(x, scale, bias, y, xhat, rstd, r, r, rowBytes, invWidth, eps);
}

/**
 * LayerNorm backward of rows a and b (`two` false: row a alone), side by side as layerNormRows; row a's terms are
 * added to dscale and dbias before row b's, as one row at a time adds them.
 */
// @ts-ignore: decorator
@inline function layerNormGradientRows(
  dy: usize, xhat: usize, rstd: usize, scale: usize, dx: usize, dscale: usize, dbias: usize, a: i32, b: i32, two: bool, rowBytes: usize, invWidth: f32,
): void {
  const dyA = dy + <usize>a * rowBytes;
  const dyB = dy + <usize>b * rowBytes;
  const hA = xhat + <usize>a * rowBytes;
  const hB = xhat + <usize>b * rowBytes;
  let sgA = f32x4.splat(0);
  let sgxA = f32x4.splat(0);
  let sgB = f32x4.splat(0);
  let sgxB = f32x4.splat(0);
  for (let d: usize = 0; d < rowBytes; d += 16) {
    const s = v128.load(scale + d);
    const dyvA = v128.load(dyA + d);
    const xhA = v128.load(hA + d);
    const gA = f32x4.mul(dyvA, s);
    sgA = f32x4.add(sgA, gA);
    sgxA = f32x4.add(sgxA, f32x4.mul(gA, xhA));
    const dyvB = v128.load(dyB + d);
    const xhB = v128.load(hB + d);
    const gB = f32x4.mul(dyvB, s);
    sgB = f32x4.add(sgB, gB);
    sgxB = f32x4.add(sgxB, f32x4.mul(gB, xhB));
    let ds = f32x4.add(v128.load(dscale + d), f32x4.mul(dyvA, xhA));
    let db = f32x4.add(v128.load(dbias + d), dyvA);
    if (two) {
      ds = f32x4.add(ds, f32x4.mul(dyvB, xhB));
      db = f32x4.add(db, dyvB);
    }
    v128.store(dscale + d, ds);
    v128.store(dbias + d, db);
  }
  const meanGA = f32x4.splat(hsum(sgA) * invWidth);
  const meanGxA = f32x4.splat(hsum(sgxA) * invWidth);
  const meanGB = f32x4.splat(hsum(sgB) * invWidth);
  const meanGxB = f32x4.splat(hsum(sgxB) * invWidth);
  const rsA = f32x4.splat(load<f32>(rstd + (<usize>a << 2)));
  const rsB = f32x4.splat(load<f32>(rstd + (<usize>b << 2)));
  const dxA = dx + <usize>a * rowBytes;
  const dxB = dx + <usize>b * rowBytes;
  for (let d: usize = 0; d < rowBytes; d += 16) {
    const s = v128.load(scale + d);
    const gA = f32x4.mul(v128.load(dyA + d), s);
    const gB = f32x4.mul(v128.load(dyB + d), s);
    const cA = f32x4.sub(f32x4.sub(gA, meanGA), f32x4.mul(v128.load(hA + d), meanGxA));
    const cB = f32x4.sub(f32x4.sub(gB, meanGB), f32x4.mul(v128.load(hB + d), meanGxB));
    v128.store(dxA + d, ftz(f32x4.mul(cA, rsA)));
    v128.store(dxB + d, ftz(f32x4.mul(cB, rsB)));
  }
}

/**
 * The gradient of layerNormForward: g = dy·scale;  dx = (g − mean(g) − x̂·mean(g·x̂))·rstd;
 * dscale = Σ_rows dy·x̂;  dbias = Σ_rows dy (both written in full, summed in row order). Rows in pairs.
 */
export function layerNormBackward(
  dy: usize, xhat: usize, rstd: usize, scale: usize, dx: usize, dscale: usize, dbias: usize, rows: i32, width: i32,
): void {
  const rowBytes = <usize>width << 2;
  const invWidth: f32 = 1.0 / <f32>width;
  clearFloats(dscale, width);
  clearFloats(dbias, width);
  let r = 0;
  for (; r + 2 <= rows; r += 2) layerNormGradientRows(dy, xhat, rstd, scale, dx, dscale, dbias, r, r + 1, true, rowBytes, invWidth);
  if (r < rows) layerNormGradientRows(dy, xhat, rstd, scale, dx, dscale, dbias, r, r, false, rowBytes, invWidth);
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

/**
 * y = x·σ(1.702x) over n floats (n a multiple of 4). Four vectors per iteration: V8 runs one exp chain per
 * iteration of a loop nearly serially, and four independent ones in flight measured 2.1x faster (0.218 against
 * 0.453 ms on [1008, 128]), the same numbers.
 */
export function geluForward(x: usize, y: usize, n: i32): void {
  const bytes = <usize>n << 2;
  let i: usize = 0;
  for (; i + 64 <= bytes; i += 64) {
    const a = v128.load(x + i);
    const b = v128.load(x + i, 16);
    const c = v128.load(x + i, 32);
    const d = v128.load(x + i, 48);
    v128.store(y + i, f32x4.mul(a, geluSigmoid(a)));
    v128.store(y + i, f32x4.mul(b, geluSigmoid(b)), 16);
    v128.store(y + i, f32x4.mul(c, geluSigmoid(c)), 32);
    v128.store(y + i, f32x4.mul(d, geluSigmoid(d)), 48);
  }
  for (; i < bytes; i += 16) {
    const a = v128.load(x + i);
    v128.store(y + i, f32x4.mul(a, geluSigmoid(a)));
  }
}

/** dy·(s + 1.702·x·s·(1 − s)), s = σ(1.702x), per lane, flushed to zero where subnormal. */
// @ts-ignore: decorator
@inline function geluGradient(dy: v128, x: v128): v128 {
  const s = geluSigmoid(x);
  const slope = f32x4.add(s, f32x4.mul(f32x4.mul(f32x4.mul(f32x4.splat(GELU_K), x), s), f32x4.sub(f32x4.splat(1.0), s)));
  return ftz(f32x4.mul(dy, slope));
}

/** dx = dy·(s + 1.702·x·s·(1 − s)), s = σ(1.702x), over n floats (n a multiple of 4); four vectors per iteration (geluForward). */
export function geluBackward(dy: usize, x: usize, dx: usize, n: i32): void {
  const bytes = <usize>n << 2;
  let i: usize = 0;
  for (; i + 64 <= bytes; i += 64) {
    const a = geluGradient(v128.load(dy + i), v128.load(x + i));
    const b = geluGradient(v128.load(dy + i, 16), v128.load(x + i, 16));
    const c = geluGradient(v128.load(dy + i, 32), v128.load(x + i, 32));
    const d = geluGradient(v128.load(dy + i, 48), v128.load(x + i, 48));
    v128.store(dx + i, a);
    v128.store(dx + i, b, 16);
    v128.store(dx + i, c, 32);
    v128.store(dx + i, d, 48);
  }
  for (; i < bytes; i += 16) v128.store(dx + i, geluGradient(v128.load(dy + i), v128.load(x + i)));
}

// ---------------------------------------------------------------------------------------------
// Matrix products: a·b (+ bias) and aᵀ·b, in register tiles of 2 rows by 16 (or 8, or 4) columns, k in blocks

/**
 * Rows i0 and i0 + 1 (`rows` 1 or 2) of c, columns j0 … j0 + width − 1 (width 16, 8 or 4), summed over k in
 * registers: c[i, j] = init[j] + Σ_k a(i, k)·b[k, j] in k order, where a(i, k) lies at a + i·aRow + k·aCol
 * (a·b: aRow = K·4, aCol = 4; aᵀ·b: aRow = 4, aCol = M·4) and init is the bias row or zeros. Two rows by
 * 16 columns measured fastest on V8 (8 accumulators, 4 loads of b and 2 of a per k, within x64's 16 vector
 * registers). With one row, row 0 is read twice and stored once (no branches in the loop).
 */
// @ts-ignore: decorator
@inline function tile(
  a: usize, b: usize, c: usize, bias: usize, k0: i32, k1: i32, carry: bool, last: bool, N: i32, aRow: usize, aCol: usize, i0: i32, j0: i32, rows: i32, width: i32,
): void {
  const bStride = <usize>N << 2;
  const r1: usize = rows > 1 ? aRow : 0;
  const pc = c + <usize>i0 * bStride + (<usize>j0 << 2);
  const pc1 = rows > 1 ? pc + bStride : pc;
  let pa = a + <usize>i0 * aRow + <usize>k0 * aCol;
  let pb = b + <usize>k0 * bStride + (<usize>j0 << 2);
  const pBias = bias + (<usize>j0 << 2);
  const zero = f32x4.splat(0);
  const init0 = bias !== 0 ? v128.load(pBias) : zero;
  const init1 = bias !== 0 && width > 4 ? v128.load(pBias, 16) : zero;
  const init2 = bias !== 0 && width > 8 ? v128.load(pBias, 32) : zero;
  const init3 = bias !== 0 && width > 8 ? v128.load(pBias, 48) : zero;
  let c00 = init0, c01 = init1, c02 = init2, c03 = init3, c10 = init0, c11 = init1, c12 = init2, c13 = init3;
  if (carry) {
    // A later block of k: carry on from the sums so far (the same additions, in the same order, as one pass).
    c00 = v128.load(pc);
    c10 = v128.load(pc1);
    if (width > 4) {
      c01 = v128.load(pc, 16);
      c11 = v128.load(pc1, 16);
    }
    if (width > 8) {
      c02 = v128.load(pc, 32);
      c03 = v128.load(pc, 48);
      c12 = v128.load(pc1, 32);
      c13 = v128.load(pc1, 48);
    }
  }
  if (width === 16) {
    for (let k = k0; k < k1; k++, pa += aCol, pb += bStride) {
      const b0 = v128.load(pb);
      const b1 = v128.load(pb, 16);
      const b2 = v128.load(pb, 32);
      const b3 = v128.load(pb, 48);
      let s = v128.load32_splat(pa);
      c00 = madd(s, b0, c00);
      c01 = madd(s, b1, c01);
      c02 = madd(s, b2, c02);
      c03 = madd(s, b3, c03);
      s = v128.load32_splat(pa + r1);
      c10 = madd(s, b0, c10);
      c11 = madd(s, b1, c11);
      c12 = madd(s, b2, c12);
      c13 = madd(s, b3, c13);
    }
  } else if (width === 8) {
    for (let k = k0; k < k1; k++, pa += aCol, pb += bStride) {
      const b0 = v128.load(pb);
      const b1 = v128.load(pb, 16);
      let s = v128.load32_splat(pa);
      c00 = madd(s, b0, c00);
      c01 = madd(s, b1, c01);
      s = v128.load32_splat(pa + r1);
      c10 = madd(s, b0, c10);
      c11 = madd(s, b1, c11);
    }
  } else {
    for (let k = k0; k < k1; k++, pa += aCol, pb += bStride) {
      const b0 = v128.load(pb);
      c00 = madd(v128.load32_splat(pa), b0, c00);
      c10 = madd(v128.load32_splat(pa + r1), b0, c10);
    }
  }
  v128.store(pc, flushIfLast(c00, last));
  if (width > 4) v128.store(pc, flushIfLast(c01, last), 16);
  if (width > 8) {
    v128.store(pc, flushIfLast(c02, last), 32);
    v128.store(pc, flushIfLast(c03, last), 48);
  }
  if (rows > 1) {
    v128.store(pc1, flushIfLast(c10, last));
    if (width > 4) v128.store(pc1, flushIfLast(c11, last), 16);
    if (width > 8) {
      v128.store(pc1, flushIfLast(c12, last), 32);
      v128.store(pc1, flushIfLast(c13, last), 48);
    }
  }
}

/** The tiles of rows i0 … i0 + rows − 1 of c across all N columns (a multiple of 4): 16 wide, then 8, then 4. */
// @ts-ignore: decorator
@inline function rowTiles(a: usize, b: usize, c: usize, bias: usize, k0: i32, k1: i32, carry: bool, last: bool, N: i32, aRow: usize, aCol: usize, i0: i32, rows: i32): void {
  let j0 = 0;
  for (; j0 + 16 <= N; j0 += 16) tile(a, b, c, bias, k0, k1, carry, last, N, aRow, aCol, i0, j0, rows, 16);
  if (j0 + 8 <= N) {
    tile(a, b, c, bias, k0, k1, carry, last, N, aRow, aCol, i0, j0, rows, 8);
    j0 += 8;
  }
  if (j0 < N) tile(a, b, c, bias, k0, k1, carry, last, N, aRow, aCol, i0, j0, rows, 4);
}

/**
 * k per block: the rows of a and b one block reads stay in L1 while every tile of c takes its share
 * (measured 10-20 % faster for aᵀ·b with K = 1008 than one pass over all K per tile).
 */
const K_BLOCK = 64;

/**
 * Every tile of c [M, N] (N a multiple of 4) for k in [0, K), block of k by block: rows in pairs, the last odd
 * row alone. With `carry` the sums go on from what c holds (a later part of a longer sum); with `last` they
 * are final (flushed to zero where subnormal).
 */
// @ts-ignore: decorator
@inline function tilesOf(a: usize, b: usize, c: usize, bias: usize, M: i32, K: i32, N: i32, aRow: usize, aCol: usize, carry: bool, last: bool): void {
  const M2 = M & ~1;
  for (let k0 = 0; k0 < K || k0 === 0; k0 += K_BLOCK) {
    const k1 = min(K, k0 + K_BLOCK);
    const carrying = carry || k0 > 0;
    const final = last && k1 === K;
    for (let i0 = 0; i0 < M2; i0 += 2) rowTiles(a, b, c, bias, k0, k1, carrying, final, N, aRow, aCol, i0, 2);
    if (M2 < M) rowTiles(a, b, c, bias, k0, k1, carrying, final, N, aRow, aCol, M2, 1);
  }
}

/** Every tile of c [M, N] = the whole sum over k in [0, K) (see tilesOf). */
// @ts-ignore: decorator
@inline function tiles(a: usize, b: usize, c: usize, bias: usize, M: i32, K: i32, N: i32, aRow: usize, aCol: usize): void {
  tilesOf(a, b, c, bias, M, K, N, aRow, aCol, false, true);
}

/**
 * c [M, N] = a·b (+ bias) for a [M, K], b [K, N], bias [N] (address 0: none), row-major; N a multiple of 4.
 * The forward pass of a dense layer (x·W + b) and its input gradient (dy·Wᵀ, with Wᵀ given).
 */
export function matMul(a: usize, b: usize, bias: usize, c: usize, M: i32, K: i32, N: i32): void {
  tiles(a, b, c, bias, M, K, N, <usize>K << 2, 4);
}

/**
 * c [M, N] = aᵀ·b for a [K, M], b [K, N], row-major, reading a as it lies (no transpose); N a multiple of 4.
 * The weight gradient of a dense layer: xᵀ·dy.
 */
export function matMulTN(a: usize, b: usize, c: usize, K: i32, M: i32, N: i32): void {
  tiles(a, b, c, 0, M, K, N, 4, <usize>M << 2);
}

// ---------------------------------------------------------------------------------------------
// Copies and sums that tie a transformer block's kernels together (fused.ts's block kernels)

/**
 * out = a + b over n floats, each sum rounded to float32 once, then (with `divide`) each divided by `divisor` and
 * rounded again: tf.add, and tf.add then tf.div, exactly. `divide` is a constant at each call, so the loop has no branch.
 */
// @ts-ignore: decorator
@inline function sumLoop(a: usize, b: usize, out: usize, n: i32, divide: bool, divisor: f32): void {
  const bytes = <usize>n << 2;
  const d = f32x4.splat(divisor);
  let i: usize = 0;
  for (; i + 16 <= bytes; i += 16) {
    const sum = f32x4.add(v128.load(a + i), v128.load(b + i));
    v128.store(out + i, divide ? f32x4.div(sum, d) : sum);
  }
  for (; i < bytes; i += 4) {
    const sum = load<f32>(a + i) + load<f32>(b + i);
    store<f32>(out + i, divide ? sum / divisor : sum);
  }
}

/** out = a + b over n floats (tfjs's Add, exactly): a transformer block's residual sums. */
export function sumFloats(a: usize, b: usize, out: usize, n: i32): void {
  sumLoop(a, b, out, n, false, 1);
}

/** out = (a + b) / divisor over n floats (tf.add then tf.div, exactly): the average of a step's micro-batch gradients (src/train/workers). */
export function sumFloatsDivided(a: usize, b: usize, out: usize, n: i32, divisor: f32): void {
  sumLoop(a, b, out, n, true, divisor);
}

/** y[0 … n) = x[0 … n), floats (copyFloats, exported: the regions do not overlap). */
export function copyFloatArray(y: usize, x: usize, n: i32): void {
  copyFloats(y, x, n);
}

/**
 * dst[r, c] = src[r, c] for r < rows, c < cols, with row strides in floats: a block of columns copied, as
 * concatenating or splitting matrices along their columns does.
 */
export function copyColumns(src: usize, srcStride: i32, dst: usize, dstStride: i32, rows: i32, cols: i32): void {
  const n = <usize>cols << 2;
  for (let r = 0; r < rows; r++) memory.copy(dst + ((<usize>(r * dstStride)) << 2), src + ((<usize>(r * srcStride)) << 2), n);
}

/** out [cols, rows] = xᵀ for x [rows, cols], row-major. */
export function transpose(x: usize, out: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>(r * cols)) << 2);
    for (let c = 0; c < cols; c++) store<f32>(out + ((<usize>(c * rows + r)) << 2), load<f32>(xr + (<usize>c << 2)));
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

// ---------------------------------------------------------------------------------------------
// Convolutions: products of patch rows (im2col) with the kernel, a chunk of output pixels at a time
//
// Images are NHWC, x [batch, H, W, C]; kernels [k, k, C, N] read as a [k·k·C, N] matrix; outputs
// [batch, OH, OW, N] read as [P, N] with P = batch·OH·OW output pixels. The image is first copied with its
// zero padding into xpad [batch, Hp, Wp, C], Hp = (OH − 1)·s + k, Wp = (OW − 1)·s + k (the rows and columns
// the convolution reads: xpad[b, y, x] = x[b, y − top, x − left] inside the image, 0 outside), so that
// patch row i of output pixel (b, oy, ox) is the k·C contiguous floats at xpad[b, oy·s + i, ox·s], and the
// patch row holds x[b, oy·s + i − top, ox·s + j − left, c] at column (i·k + j)·C + c.
// Scratch (floats, convScratchFloats): batch·Hp·Wp·C + 4 for xpad, then CONV_CHUNK·k·k·C + 4 for a chunk of
// patch rows; the 4 floats after each are slack that whole-vector copies may touch.

/**
 * Output pixels per chunk: a chunk's patch rows (CONV_CHUNK × k·k·C floats) stay in cache while every tile
 * reads them; for the kernel gradient the chunk is one block of the sum, as K_BLOCK is for a product.
 */
const CONV_CHUNK = 64;

/** y[0 … n) = x[0 … n): vectors, then the last n mod 4 floats. */
// @ts-ignore: decorator
@inline function copyFloats(y: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), v128.load(x + (<usize>i << 2)));
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), load<f32>(x + (<usize>i << 2)));
}

/** y[0 … n) += x[0 … n). */
// @ts-ignore: decorator
@inline function addFloats(y: usize, x: usize, n: i32): void {
  sumLoop(y, x, y, n, false, 1);
}


/**
 * xpad [batch, Hp, Wp, C] = x [batch, H, W, C] shifted by (top, left) with zeros around (toPadded), or the
 * reverse, x = the (top, left)-shifted window of xpad, zero where xpad does not reach.
 */
// @ts-ignore: decorator
@inline function padded(x: usize, xpad: usize, toPadded: bool, batch: i32, H: i32, W: i32, C: i32, k: i32, s: i32, OH: i32, OW: i32, top: i32, left: i32): void {
  const Hp = paddedSize(k, s, OH);
  const Wp = paddedSize(k, s, OW);
  const inside = min(W, Wp - left) * C; // floats of an image row that fall inside xpad
  const xRow = <usize>(W * C) << 2;
  const padRow = <usize>(Wp * C) << 2;
  for (let b = 0; b < batch; b++) {
    if (toPadded) {
      for (let y = 0; y < Hp; y++) {
        const dst = xpad + <usize>(b * Hp + y) * padRow;
        const sy = y - top;
        if (sy < 0 || sy >= H) {
          clearFloats(dst, Wp * C);
          continue;
        }
        clearFloats(dst, left * C);
        copyFloats(dst + (<usize>(left * C) << 2), x + <usize>(b * H + sy) * xRow, inside);
        clearFloats(dst + (<usize>(left * C + inside) << 2), Wp * C - left * C - inside);
      }
    } else {
      for (let y = 0; y < H; y++) {
        const dst = x + <usize>(b * H + y) * xRow;
        if (y + top >= Hp) {
          clearFloats(dst, W * C);
          continue;
        }
        copyFloats(dst, xpad + <usize>(b * Hp + y + top) * padRow + (<usize>(left * C) << 2), inside);
        clearFloats(dst + (<usize>inside << 2), W * C - inside);
      }
    }
  }
}

/**
 * The patch rows of output pixels p0 … p0 + rows − 1 from xpad into cols [rows, k·k·C] (gather = true), in
 * whole vectors (up to 3 floats past a segment, overwritten by the next one or falling in the slack), or, with
 * gather = false, the reverse: each patch row of cols added into xpad where it was read from (col2im).
 */
// @ts-ignore: decorator
@inline function patchRows(xpad: usize, cols: usize, gather: bool, p0: i32, rows: i32, C: i32, k: i32, s: i32, OH: i32, OW: i32): void {
  const Hp = paddedSize(k, s, OH);
  const Wp = paddedSize(k, s, OW);
  const kC = k * C;
  const segmentBytes = <usize>kC << 2;
  const padRow = <usize>(Wp * C) << 2;
  const pixels = OH * OW;
  let b = p0 / pixels;
  let oy = (p0 - b * pixels) / OW;
  let ox = p0 - b * pixels - oy * OW;
  let dst = cols;
  for (let r = 0; r < rows; r++) {
    let src = xpad + <usize>(b * Hp + oy * s) * padRow + (<usize>(ox * s * C) << 2);
    for (let i = 0; i < k; i++, src += padRow, dst += segmentBytes) {
      if (gather) {
        for (let t = 0; t < kC; t += 4) v128.store(dst + (<usize>t << 2), v128.load(src + (<usize>t << 2)));
      } else {
        addFloats(src, dst, kC);
      }
    }
    if (++ox === OW) {
      ox = 0;
      if (++oy === OH) {
        oy = 0;
        b++;
      }
    }
  }
}

/** The padded height and width (Hp, Wp) of a convolution's input. */
// @ts-ignore: decorator
@inline function paddedSize(k: i32, s: i32, outSize: i32): i32 {
  return (outSize - 1) * s + k;
}

/** Floats of scratch the conv kernels need: xpad and a chunk of patch rows, each with its 4 floats of slack. */
export function convScratchFloats(batch: i32, C: i32, k: i32, s: i32, OH: i32, OW: i32): i32 {
  return batch * paddedSize(k, s, OH) * paddedSize(k, s, OW) * C + 4 + CONV_CHUNK * k * k * C + 4;
}

/** Where the chunk of patch rows starts in the scratch: after xpad and its slack. */
// @ts-ignore: decorator
@inline function patchScratch(scratch: usize, batch: i32, C: i32, k: i32, s: i32, OH: i32, OW: i32): usize {
  return scratch + (<usize>(batch * paddedSize(k, s, OH) * paddedSize(k, s, OW) * C + 4) << 2);
}

/**
 * y [P, N] = patches(x)·w + bias for x [batch, H, W, C], w [k·k·C, N], bias [N] (address 0: none); N a
 * multiple of 4. The forward pass of a convolution layer.
 */
export function convForward(
  x: usize, w: usize, bias: usize, y: usize, scratch: usize, batch: i32, H: i32, W: i32, C: i32, k: i32, s: i32, OH: i32, OW: i32, top: i32, left: i32, N: i32,
): void {
  const P = batch * OH * OW;
  const K = k * k * C;
  const cols = patchScratch(scratch, batch, C, k, s, OH, OW);
  padded(x, scratch, true, batch, H, W, C, k, s, OH, OW, top, left);
  for (let p0 = 0; p0 < P; p0 += CONV_CHUNK) {
    const rows = min(CONV_CHUNK, P - p0);
    patchRows(scratch, cols, true, p0, rows, C, k, s, OH, OW);
    tiles(cols, w, y + (<usize>(p0 * N) << 2), bias, rows, K, N, <usize>K << 2, 4);
  }
}

/**
 * dw [k·k·C, N] = patches(x)ᵀ·dy and db [N] = Σ dy over output pixels, for x [batch, H, W, C], dy [P, N]; N a
 * multiple of 4. Both summed over the output pixels in order (a chunk at a time, carried in dw and db; db
 * exactly as columnSums sums).
 */
export function convKernelGradient(
  x: usize, dy: usize, dw: usize, db: usize, scratch: usize, batch: i32, H: i32, W: i32, C: i32, k: i32, s: i32, OH: i32, OW: i32, top: i32, left: i32, N: i32,
): void {
  const P = batch * OH * OW;
  const K = k * k * C;
  const cols = patchScratch(scratch, batch, C, k, s, OH, OW);
  const rowBytes = <usize>N << 2;
  clearFloats(db, N);
  if (P === 0) clearFloats(dw, K * N);
  padded(x, scratch, true, batch, H, W, C, k, s, OH, OW, top, left);
  for (let p0 = 0; p0 < P; p0 += CONV_CHUNK) {
    const rows = min(CONV_CHUNK, P - p0);
    const dyChunk = dy + <usize>p0 * rowBytes;
    patchRows(scratch, cols, true, p0, rows, C, k, s, OH, OW);
    tilesOf(cols, dyChunk, dw, 0, K, rows, N, 4, <usize>K << 2, p0 > 0, p0 + rows === P);
    for (let j = 0; j < N; j += 4) {
      const at = db + (<usize>j << 2);
      let acc = v128.load(at);
      let q = dyChunk + (<usize>j << 2);
      for (let r = 0; r < rows; r++, q += rowBytes) acc = f32x4.add(acc, v128.load(q));
      v128.store(at, acc);
    }
  }
}

/**
 * dx [batch, H, W, C] = col2im(dy·wᵀ) for dy [P, N] and wt = wᵀ [N, k·k·C]; k·k·C a multiple of 4. Each
 * pixel of dx sums its patch entries in output-pixel order.
 */
export function convInputGradient(
  dy: usize, wt: usize, dx: usize, scratch: usize, batch: i32, H: i32, W: i32, C: i32, k: i32, s: i32, OH: i32, OW: i32, top: i32, left: i32, N: i32,
): void {
  const P = batch * OH * OW;
  const K = k * k * C;
  const cols = patchScratch(scratch, batch, C, k, s, OH, OW);
  clearFloats(scratch, batch * paddedSize(k, s, OH) * paddedSize(k, s, OW) * C);
  for (let p0 = 0; p0 < P; p0 += CONV_CHUNK) {
    const rows = min(CONV_CHUNK, P - p0);
    tiles(dy + (<usize>(p0 * N) << 2), wt, cols, 0, rows, N, K, <usize>N << 2, 4);
    patchRows(scratch, cols, false, p0, rows, C, k, s, OH, OW);
  }
  padded(dx, scratch, false, batch, H, W, C, k, s, OH, OW, top, left);
}

// ---------------------------------------------------------------------------------------------
// Max-pooling, p×p windows with stride p, optionally of relu(x), and its gradient

/**
 * y [batch, ⌊H/p⌋, ⌊W/p⌋, C] = the max of each window of x [batch, H, W, C] (of max(x, 0) with relu; trailing
 * rows and columns that fill no window are not read); C a multiple of 4. NaN propagates.
 */
export function maxPoolForward(x: usize, y: usize, batch: i32, H: i32, W: i32, C: i32, p: i32, relu: bool): void {
  const OH = H / p;
  const OW = W / p;
  const rowBytes = <usize>(W * C) << 2;
  const pixelBytes = <usize>C << 2;
  let out = y;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const corner = x + <usize>(b * H + oy * p) * rowBytes + <usize>(ox * p) * pixelBytes;
        for (let c = 0; c < C; c += 4, out += 16) {
          const q = corner + (<usize>c << 2);
          let m = relu ? f32x4.splat(0) : v128.load(q);
          if (p === 2) {
            // The usual window, unrolled: V8 runs the generic two-iteration loops 2x slower.
            m = f32x4.max(f32x4.max(m, v128.load(q)), v128.load(q + pixelBytes));
            m = f32x4.max(f32x4.max(m, v128.load(q + rowBytes)), v128.load(q + rowBytes + pixelBytes));
          } else {
            for (let i = 0; i < p; i++) {
              let at = q + <usize>i * rowBytes;
              for (let j = 0; j < p; j++, at += pixelBytes) m = f32x4.max(m, v128.load(at));
            }
          }
          v128.store(out, m);
        }
      }
    }
  }
}

/**
 * dx [batch, H, W, C] for y = maxPoolForward(x): each window's dy goes to the positions equal to its max,
 * shared equally among ties (a valid subgradient), times relu′(x) = [x > 0] with relu; zero on the trailing
 * rows and columns no window reads. C a multiple of 4.
 */
export function maxPoolBackward(x: usize, y: usize, dy: usize, dx: usize, batch: i32, H: i32, W: i32, C: i32, p: i32, relu: bool): void {
  const OH = H / p;
  const OW = W / p;
  if (OH * p !== H || OW * p !== W) clearFloats(dx, batch * H * W * C);
  const rowBytes = <usize>(W * C) << 2;
  const pixelBytes = <usize>C << 2;
  let at = <usize>0;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const offset = <usize>(b * H + oy * p) * rowBytes + <usize>(ox * p) * pixelBytes;
        for (let c = 0; c < C; c += 4, at += 16) {
          const m = v128.load(y + at);
          const q = offset + (<usize>c << 2);
          if (p === 2) {
            // The usual window, unrolled (see maxPoolForward).
            const q1 = q + pixelBytes;
            const q2 = q + rowBytes;
            const q3 = q2 + pixelBytes;
            const v0 = v128.load(x + q);
            const v1 = v128.load(x + q1);
            const v2 = v128.load(x + q2);
            const v3 = v128.load(x + q3);
            const e0 = isMax(v0, m, relu);
            const e1 = isMax(v1, m, relu);
            const e2 = isMax(v2, m, relu);
            const e3 = isMax(v3, m, relu);
            const count = f32x4.add(f32x4.add(ones(e0), ones(e1)), f32x4.add(ones(e2), ones(e3)));
            const g = f32x4.div(v128.load(dy + at), count);
            v128.store(dx + q, v128.and(passes(e0, v0, relu), g));
            v128.store(dx + q1, v128.and(passes(e1, v1, relu), g));
            v128.store(dx + q2, v128.and(passes(e2, v2, relu), g));
            v128.store(dx + q3, v128.and(passes(e3, v3, relu), g));
            continue;
          }
          let count = f32x4.splat(0);
          for (let i = 0; i < p; i++) {
            let r = x + q + <usize>i * rowBytes;
            for (let j = 0; j < p; j++, r += pixelBytes) count = f32x4.add(count, ones(isMax(v128.load(r), m, relu)));
          }
          const g = f32x4.div(v128.load(dy + at), count);
          for (let i = 0; i < p; i++) {
            let r = q + <usize>i * rowBytes;
            for (let j = 0; j < p; j++, r += pixelBytes) {
              const v = v128.load(x + r);
              v128.store(dx + r, v128.and(passes(isMax(v, m, relu), v, relu), g));
            }
          }
        }
      }
    }
  }
}

/** Lanes where v (relu(v) with relu) equals the window's max m: all ones, else zero. */
// @ts-ignore: decorator
@inline function isMax(v: v128, m: v128, relu: bool): v128 {
  return f32x4.eq(relu ? f32x4.max(v, f32x4.splat(0)) : v, m);
}

/** 1.0 in the lanes of a mask, else 0. */
// @ts-ignore: decorator
@inline function ones(mask: v128): v128 {
  return v128.and(mask, f32x4.splat(1));
}

/** The mask of lanes the gradient passes: at a max, and with relu only where v > 0 (relu′). */
// @ts-ignore: decorator
@inline function passes(mask: v128, v: v128, relu: bool): v128 {
  return relu ? v128.and(mask, f32x4.gt(v, f32x4.splat(0))) : mask;
}
