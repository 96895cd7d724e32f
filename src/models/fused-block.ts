/**
 * A whole pre-LayerNorm transformer block (transformer.ts) as one wasm kernel forward and one backward:
 *   h2 = h + attn(norm1(h));  y = h2 + fc2(gelu(fc1(norm2(h2))))
 * with attn the packed projection [q | k | v], fused attention and the out projection. Each kernel calls the
 * layer kernels of assembly/layers.ts in turn, on the same operands and in the same order as the block built
 * from fused.ts's ops, so it gives the same numbers bit for bit; what it saves is the engine: one tfjs kernel
 * call each way instead of ~55 per block (each ~15-20 µs of tape, tidy and tensor bookkeeping), and no
 * tensor per intermediate. The residual sums are float32 additions as tfjs's Add makes them; where the ops
 * path sums two gradients into one tensor (the block's input and h2, each read by a LayerNorm and a residual
 * sum), a sum of two is the same in either order.
 *
 * The forward kernel writes y and one `saved` tensor holding what the backward pass reads (blockLayout).
 */
import * as tf from '../tf.js';
import { BLOCK_CALLS, fusedKernel, heapOffsets, registerWasmKernel, runKernel, up4, withScratch, type LayerKernels, type WasmBackend } from './fused.js';
import type { TransformerBlock } from './transformer.js';

const BLOCK = 'LionTrainBlock';
const BLOCK_GRAD = 'LionTrainBlockGrad';
const BLOCK_INFERENCE = 'LionTrainBlockInference';

/** The block's parameters in the order the kernels take them (after the input h). */
const BLOCK_PARAMETERS = [
  'norm1.scale', 'norm1.bias', 'attn.q.kernel', 'attn.q.bias', 'attn.k.kernel', 'attn.k.bias', 'attn.v.kernel', 'attn.v.bias',
  'attn.out.kernel', 'attn.out.bias', 'norm2.scale', 'norm2.bias', 'mlp.fc1.kernel', 'mlp.fc1.bias', 'mlp.fc2.kernel', 'mlp.fc2.bias',
] as const;

/** The parameters the backward kernel reads (after dy and the saved activations). */
const GRAD_PARAMETERS = ['norm1.scale', 'attn.out.kernel', 'norm2.scale', 'mlp.fc1.kernel', 'mlp.fc2.kernel'] as const;

const PARAMETER_PATHS = BLOCK_PARAMETERS.map((name) => name.split('.'));

/** A block's parameters by their names in BLOCK_PARAMETERS (`attn.q.kernel` is block.attn.q.kernel). */
function parametersOf(block: TransformerBlock): tf.NamedTensorMap {
  return Object.fromEntries(BLOCK_PARAMETERS.map((name, i) => [name, PARAMETER_PATHS[i].reduce((node: unknown, key) => (node as Record<string, unknown>)[key], block) as tf.Tensor]));
}

interface BlockAttrs {
  batch: number;
  tokens: number;
  heads: number;
  causal: boolean;
  epsilon: number;
}

/** Sizes of one call: rows = batch·tokens, width d, MLP width m, head width hd. */
function sizes(rows: number, d: number, m: number, a: BlockAttrs) {
  return { rows, d, m, d3: 3 * d, hd: d / a.heads, scale: 1 / Math.sqrt(d / a.heads) };
}

/** Float offsets of consecutive regions of the given sizes, each rounded up to a multiple of 4 (16-byte aligned vectors), and their total. */
function carve(floats: number[]): { starts: number[]; total: number } {
  const starts: number[] = [];
  let total = 0;
  for (const n of floats) {
    starts.push(total);
    total += up4(n);
  }
  return { starts, total };
}

/**
 * Float offsets of the activations in the saved tensor (carve): LayerNorm 1's output, x̂ and 1/σ; q|k|v [rows,
 * 3d]; the attention probabilities [batch, heads, tokens, tokens]; attention's output [rows, d]; LayerNorm 2's x̂,
 * 1/σ and output; fc1's output and its GELU [rows, m]; the packed projection kernel [d, 3d].
 */
function blockLayout(rows: number, d: number, m: number, a: BlockAttrs) {
  const { starts, total } = carve([rows * d, rows * d, rows, rows * 3 * d, a.batch * a.heads * a.tokens * a.tokens, rows * d, rows * d, rows, rows * d, rows * m, rows * m, d * 3 * d]);
  const [y1, xhat1, rstd1, qkv, probs, att, xhat2, rstd2, y2, f1, g, wp] = starts;
  return { y1, xhat1, rstd1, qkv, probs, att, xhat2, rstd2, y2, f1, g, wp, total };
}

/** Runs `body` with scratch buffers of the given float counts (one malloc, carved). */
function withBuffers(b: WasmBackend, floats: number[], what: string, body: (at: number[]) => void): void {
  const { starts, total } = carve(floats);
  withScratch(b, total, what, (scratch) => body(starts.map((s) => scratch + 4 * s)));
}

/** Heap addresses of a block's input and parameters, in BLOCK_PARAMETERS order after x. */
type BlockAddresses = number[];

/**
 * The packed projection's kernel [d, 3d] into `wp` and its bias [3d] into `bp`: q, k and v side by side, as
 * fused.ts's ops path packs them.
 */
function packProjection(k: LayerKernels, p: BlockAddresses, wp: number, bp: number, d: number): void {
  const [, , , wq, bq, wk, bk, wv, bv] = p;
  [[wq, bq], [wk, bk], [wv, bv]].forEach(([w, bias], j) => {
    k.copyColumns(w, d, wp + 4 * j * d, 3 * d, d, d);
    k.copyColumns(bias, d, bp + 4 * j * d, 3 * d, 1, d);
  });
}

/**
 * The forward pass of `batch` examples (rows = batch·tokens) from p[0] into y: every activation the backward
 * pass reads lands at `work` in blockLayout(rows, …). `packed`: the packed projection's kernel and bias
 * (packProjection); `sum`, `h2` [rows, d] and `attention` attentionForward's scratch. Each row's numbers
 * depend on its own example only, so a batch computed in parts gives the same bits as computed whole.
 */
function forwardRows(k: LayerKernels, p: BlockAddresses, y: number, work: number, packed: { wp: number; bp: number }, scratch: { sum: number; h2: number; attention: number }, rows: number, d: number, m: number, a: BlockAttrs): void {
  const [px, s1, n1, , , , , , , wo, bo, s2, n2, pw1, pb1, pw2, pb2] = p;
  const { wp, bp } = packed;
  const { sum, h2, attention } = scratch;
  const { d3, hd, scale } = sizes(rows, d, m, a);
  const L = blockLayout(rows, d, m, a);
  const at = (offset: number) => work + 4 * offset;
  k.layerNormForward(px, s1, n1, at(L.y1), at(L.xhat1), at(L.rstd1), rows, d, a.epsilon);
  k.matMul(at(L.y1), wp, bp, at(L.qkv), rows, d, d3);
  const qkv = at(L.qkv);
  k.attentionForward(qkv, qkv + 4 * d, qkv + 8 * d, at(L.att), at(L.probs), attention, a.batch, a.tokens, a.heads, hd, d3, a.causal, scale);
  k.matMul(at(L.att), wo, bo, sum, rows, d, d);
  k.sumFloats(px, sum, h2, rows * d);
  k.layerNormForward(h2, s2, n2, at(L.y2), at(L.xhat2), at(L.rstd2), rows, d, a.epsilon);
  k.matMul(at(L.y2), pw1, pb1, at(L.f1), rows, d, m);
  k.geluForward(at(L.f1), at(L.g), rows * m);
  k.matMul(at(L.g), pw2, pb2, sum, rows, m, d);
  k.sumFloats(h2, sum, y, rows * d);
}

/**
 * Examples per part of an inference call: 512 rows, so its scratch stays ~1.7 MB (3.3 KB a row at width 64,
 * MLP 128, 16 tokens) whatever the batch, where the training kernel's `saved` holds a whole batch's
 * activations (53 MB a block at 1000 images). In speed, parts of 128 to 16,000 rows measured within noise of
 * each other.
 */
const inferencePart = (a: BlockAttrs) => Math.max(1, Math.min(a.batch, Math.floor(512 / a.tokens)));

/**
 * The block's output y [rows, d] for its `x` and parameters (`inputs` in BLOCK_PARAMETERS order after x).
 * Training (`save`): the batch as one part, its activations in a new `saved` tensor (blockLayout of the batch)
 * where the backward pass reads them; returns [y, saved]. Inference: inferencePart examples at a time, each
 * part's activations in a scratch of one part's layout, overwritten part by part; returns [y]. The packed
 * projection is written once, where a whole part's layout puts it.
 */
function blockForward(k: LayerKernels, b: WasmBackend, inputs: tf.TensorInfo[], a: BlockAttrs, save: boolean): tf.TensorInfo[] {
  const [x, , , , , , , , , , , , , w1] = inputs;
  const [rows, d] = x.shape;
  const m = w1.shape[1];
  const part = save ? a.batch : inferencePart(a);
  const partRows = part * a.tokens;
  const L = blockLayout(partRows, d, m, { ...a, batch: part });
  const y = b.makeOutput([rows, d], 'float32');
  const saved = save ? b.makeOutput([L.total], 'float32') : undefined;
  const scratch = [3 * d, partRows * d, partRows * d, (d / a.heads + 1) * up4(a.tokens), saved ? 0 : L.total];
  withBuffers(b, scratch, save ? BLOCK : BLOCK_INFERENCE, ([bp, sum, h2, attention, ownWork]) => {
    const p = heapOffsets(b, inputs);
    const [py] = heapOffsets(b, [y]);
    const at = saved ? heapOffsets(b, [saved])[0] : ownWork;
    const wp = at + 4 * L.wp; // a smaller last part lays out fewer rows below it: its own layout's wp is not this
    packProjection(k, p, wp, bp, d);
    for (let first = 0; first < a.batch; first += part) {
      const batch = Math.min(part, a.batch - first);
      const offset = 4 * first * a.tokens * d; // bytes to the part's first row of x and y
      forwardRows(k, [p[0] + offset, ...p.slice(1)], py + offset, at, { wp, bp }, { sum, h2, attention }, batch * a.tokens, d, m, { ...a, batch });
    }
  });
  return saved ? [y, saved] : [y];
}

registerWasmKernel(BLOCK, ['x', ...BLOCK_PARAMETERS], (k: LayerKernels, b, inputs, attrs) => blockForward(k, b, inputs, attrs as unknown as BlockAttrs, true));
registerWasmKernel(BLOCK_INFERENCE, ['x', ...BLOCK_PARAMETERS], (k: LayerKernels, b, inputs, attrs) => blockForward(k, b, inputs, attrs as unknown as BlockAttrs, false));

registerWasmKernel(BLOCK_GRAD, ['dy', 'saved', ...GRAD_PARAMETERS], (k: LayerKernels, b, inputs, attrs) => {
  const a = attrs as unknown as BlockAttrs;
  const [dy, , , , , w1] = inputs;
  const { rows, d, m, d3, hd, scale } = sizes(dy.shape[0], dy.shape[1], w1.shape[1], a);
  const L = blockLayout(rows, d, m, a);
  const shapes = [[rows, d], [d], [d], [d, d], [d], [d, d], [d], [d, d], [d], [d, d], [d], [d], [d], [d, m], [m], [m, d], [d]];
  const outs = shapes.map((shape) => b.makeOutput(shape, 'float32'));
  const scratch = [d * Math.max(d, m), rows * m, rows * m, rows * d, rows * d, rows * d, rows * d, rows * d3, d3 * d, d * d3, d3, (hd + a.tokens) * up4(a.tokens)];
  withBuffers(b, scratch, BLOCK_GRAD, ([wt, dg, df1, dy2, dh2, datt, dy1, dqkv, wpt, dwp, dbp, attention]) => {
    const [pdy, ps, s1, wo, s2, pw1, pw2, ...grads] = heapOffsets(b, [...inputs, ...outs]);
    const [dx, ds1, dn1, dwq, dbq, dwk, dbk, dwv, dbv, dwo, dbo, ds2, dn2, dw1, db1, dw2, db2] = grads;
    const at = (offset: number) => ps + 4 * offset;
    // fc2 and GELU
    k.transpose(pw2, wt, m, d);
    k.matMul(pdy, wt, 0, dg, rows, d, m);
    k.matMulTN(at(L.g), pdy, dw2, rows, m, d);
    k.columnSums(pdy, db2, rows, d);
    k.geluBackward(dg, at(L.f1), df1, rows * m);
    // fc1, LayerNorm 2 (its dx in datt's scratch, unused until the out projection), the residual sum into h2
    k.transpose(pw1, wt, d, m);
    k.matMul(df1, wt, 0, dy2, rows, m, d);
    k.matMulTN(at(L.y2), df1, dw1, rows, d, m);
    k.columnSums(df1, db1, rows, m);
    k.layerNormBackward(dy2, at(L.xhat2), at(L.rstd2), s2, datt, ds2, dn2, rows, d);
    k.sumFloats(pdy, datt, dh2, rows * d);
    // the out projection and attention
    k.transpose(wo, wt, d, d);
    k.matMul(dh2, wt, 0, datt, rows, d, d);
    k.matMulTN(at(L.att), dh2, dwo, rows, d, d);
    k.columnSums(dh2, dbo, rows, d);
    const qkv = at(L.qkv);
    k.attentionBackward(datt, qkv, qkv + 4 * d, qkv + 8 * d, at(L.probs), dqkv, dqkv + 4 * d, dqkv + 8 * d, attention, a.batch, a.tokens, a.heads, hd, d3, a.causal, scale);
    // the packed projection, split back into q, k and v
    k.transpose(at(L.wp), wpt, d, d3);
    k.matMul(dqkv, wpt, 0, dy1, rows, d3, d);
    k.matMulTN(at(L.y1), dqkv, dwp, rows, d, d3);
    k.columnSums(dqkv, dbp, rows, d3);
    [[dwq, dbq], [dwk, dbk], [dwv, dbv]].forEach(([dw, db], j) => {
      k.copyColumns(dwp + 4 * j * d, d3, dw, d, d, d);
      k.copyColumns(dbp + 4 * j * d, d3, db, d, 1, d);
    });
    // LayerNorm 1 (its dx in datt's scratch again: attention's gradient has read it) and the residual sum into the block's input
    k.layerNormBackward(dy1, at(L.xhat1), at(L.rstd1), s1, datt, ds1, dn1, rows, d);
    k.sumFloats(dh2, datt, dx, rows * d);
  });
  return outs;
});

/**
 * Whether a block of `width` features, `heads` heads and MLP width `mlpWidth` can run as one kernel now: the
 * block kind and every kernel it calls switched on (on wasm), and the widths multiples of 4.
 */
export function canFuseBlock(width: number, heads: number, mlpWidth: number): boolean {
  return width % heads === 0 && (width / heads) % 4 === 0 && width % 4 === 0 && mlpWidth % 4 === 0 && ['block' as const, ...BLOCK_CALLS].every((kind) => fusedKernel(kind));
}

/**
 * `block` on h [batch·tokens, width] → [batch·tokens, width] (GELU in its sigmoid form, no dropout, LayerNorm ε
 * `epsilon`; with `causal` token i attends to tokens ≤ i only). Gradients for h and all 16 parameters. Check
 * canFuseBlock first.
 */
export function fusedTransformerBlock(h: tf.Tensor2D, block: TransformerBlock, shape: { batch: number; tokens: number; heads: number; causal: boolean }, epsilon: number): tf.Tensor2D {
  const attrs = { ...shape, epsilon } as unknown as tf.NamedAttrMap;
  const parameters = parametersOf(block);
  // No gradient is being recorded (an evaluation, a sample): nothing to save for a backward pass.
  if (!tf.engine().isTapeOn()) return runKernel(BLOCK_INFERENCE, { x: h, ...parameters }, attrs)[0] as tf.Tensor2D;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor2D;
    const params = Object.fromEntries(BLOCK_PARAMETERS.map((name, i) => [name, args[1 + i] as tf.Tensor]));
    const save = args[1 + BLOCK_PARAMETERS.length] as tf.GradSaveFunc;
    const [y, saved] = runKernel(BLOCK, { x, ...params }, attrs);
    save([saved, ...GRAD_PARAMETERS.map((name) => params[name])]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [s, ...read]: tf.Tensor[]) =>
        runKernel(BLOCK_GRAD, { dy, saved: s, ...Object.fromEntries(GRAD_PARAMETERS.map((name, i) => [name, read[i]])) }, attrs),
    };
  });
  return op(h, ...BLOCK_PARAMETERS.map((name) => parameters[name])) as tf.Tensor2D;
}
