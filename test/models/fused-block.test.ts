import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { canFuseBlock } from '../../src/models/fused-block.js';
import { FUSED_KINDS, setFusedKernels } from '../../src/models/fused.js';
import { causalMask, ParameterStore, useAutodiffReference } from '../../src/models/layers.js';
import { transformerBlock, transformerBlockParameters, type BlockSettings } from '../../src/models/transformer.js';
import { fixedTensor, fixedValues, maxAbsDiff, useBackend } from './helpers.js';

interface Case {
  batch: number;
  tokens: number;
  heads: number;
  width: number;
  mlpWidth: number;
  causal: boolean;
}

/** A block whose every parameter (biases and LayerNorms too) holds seeded values, so every gradient is non-trivial. */
function blockOf(c: Case, seed: number) {
  const store = new ParameterStore(seed);
  const block = transformerBlockParameters(store, 'b', c.width, c.mlpWidth);
  [...store.params.values()].forEach((v, i) => v.assign(tf.tensor(fixedValues(v.size, 100 + i), v.shape).mul(0.5)));
  return { store, block };
}

function settingsOf(c: Case, extra: Partial<BlockSettings> = {}): BlockSettings {
  const shape = { batch: c.batch, tokens: c.tokens, heads: c.heads, ...(c.causal ? { mask: causalMask(c.tokens), causal: true } : {}) };
  return { shape, gelu: 'sigmoid', dropout: 0, options: { training: true, seed: 5 }, ...extra };
}

let inputs = 0;

/** Gradients of sum(block(h) ⊙ r) with respect to h and to every parameter, through tf.variableGrads. */
function gradsOf(c: Case, store: ParameterStore, block: ReturnType<typeof blockOf>['block'], settings: BlockSettings) {
  return tf.tidy(() => {
    const h = tf.variable(tf.mul(fixedTensor([c.batch * c.tokens, c.width], 21), 1.5), true, `h${++inputs}`) as tf.Variable<tf.Rank.R2>;
    const r = fixedTensor([c.batch * c.tokens, c.width], 99);
    const variables = [h, ...store.params.values()];
    let value: Float32Array | undefined;
    const { grads } = tf.variableGrads(() => {
      const y = transformerBlock(h, block, 'b', settings);
      value = y.dataSync() as Float32Array;
      return tf.sum(tf.mul(y, r)) as tf.Scalar;
    }, variables);
    const out = { value: value!, grads: variables.map((v) => grads[v.name].dataSync() as Float32Array) };
    h.dispose();
    return out;
  });
}

async function kernelsRun(c: Case, store: ParameterStore, block: ReturnType<typeof blockOf>['block'], settings: BlockSettings): Promise<Set<string>> {
  const profile = await tf.profile(() => void gradsOf(c, store, block, settings));
  return new Set(profile.kernels.map((k) => k.name));
}

afterEach(() => {
  setFusedKernels(Object.fromEntries(FUSED_KINDS.map((k) => [k, true])));
  useAutodiffReference(false);
  tf.disposeVariables();
});

const CASES: Case[] = [
  { batch: 3, tokens: 16, heads: 4, width: 64, mlpWidth: 128, causal: false }, // configs/vit.yaml's block
  { batch: 2, tokens: 5, heads: 2, width: 8, mlpWidth: 12, causal: false }, // token rows not a multiple of 4
  { batch: 2, tokens: 7, heads: 1, width: 16, mlpWidth: 20, causal: true },
  { batch: 1, tokens: 9, heads: 2, width: 24, mlpWidth: 8, causal: true }, // an MLP narrower than the block
  { batch: 3, tokens: 1, heads: 1, width: 4, mlpWidth: 4, causal: false }, // one token, one lane
];

describe.each([
  ['with fused multiply-add', true],
  ['without fused multiply-add', false],
])('a transformer block as one kernel each way (wasm), %s', (_name, fma) => {
  it.each(CASES)('gives the ops path\'s value and 17 gradients bit for bit: %o', async (c) => {
    await useBackend('wasm');
    setFusedKernels({ fma });
    const { store, block } = blockOf(c, 7);
    const settings = settingsOf(c);
    const fused = gradsOf(c, store, block, settings);
    const ran = await kernelsRun(c, store, block, settings);
    expect(ran.has('LionTrainBlock') && ran.has('LionTrainBlockGrad'), [...ran].join(' ')).toBe(true);
    expect(ran.has('LionTrainAttention') || ran.has('LionTrainLayerNorm')).toBe(false);

    setFusedKernels({ block: false });
    const opsRan = await kernelsRun(c, store, block, settings);
    expect(opsRan.has('LionTrainBlock')).toBe(false);
    expect(opsRan.has('LionTrainAttention')).toBe(true);
    const ops = gradsOf(c, store, block, settings);
    expect(fused.value).toEqual(ops.value);
    expect(fused.grads).toHaveLength(17);
    fused.grads.forEach((g, i) => expect(g, `gradient ${i}`).toEqual(ops.grads[i]));

    // And within float32 rounding of tfjs autodiff through plain ops (what the ops path is tested against).
    useAutodiffReference(true);
    const reference = gradsOf(c, store, block, settings);
    expect(maxAbsDiff(fused.value, reference.value)).toBeLessThan(1e-4);
    fused.grads.forEach((g, i) => expect(maxAbsDiff(g, reference.grads[i]), `gradient ${i}`).toBeLessThan(2e-3 * Math.max(1, ...reference.grads[i].map(Math.abs))));
    store.dispose();
  });
});

describe('where the block kernel does not run', () => {
  const c = CASES[0];

  it('dropout while training, GELU in its tanh form, a kind it needs switched off, cpu: the ops path', async () => {
    await useBackend('wasm');
    const { store, block } = blockOf(c, 3);
    const kernels = (settings: BlockSettings) => kernelsRun(c, store, block, settings);
    expect((await kernels(settingsOf(c))).has('LionTrainBlock')).toBe(true);
    expect((await kernels(settingsOf(c, { dropout: 0.1 }))).has('LionTrainBlock')).toBe(false);
    expect((await kernels(settingsOf(c, { gelu: 'tanh' }))).has('LionTrainBlock')).toBe(false);
    // Dropout is drawn only while training: evaluation runs the block's inference kernel.
    const evaluation = await tf.profile(() => void tf.tidy(() => transformerBlock(fixedTensor([c.batch * c.tokens, c.width]) as tf.Tensor2D, block, 'b', settingsOf(c, { dropout: 0.1, options: { training: false } }))));
    expect(evaluation.kernels.map((k) => k.name)).toEqual(['LionTrainBlockInference']);
    for (const kind of ['gelu', 'attention', 'matMulTN'] as const) {
      setFusedKernels({ [kind]: false });
      expect(canFuseBlock(c.width, c.heads, c.mlpWidth), kind).toBe(false);
      setFusedKernels({ [kind]: true });
    }
    expect(canFuseBlock(c.width, c.heads, c.mlpWidth)).toBe(true);
    expect(canFuseBlock(c.width, 8, c.mlpWidth)).toBe(true); // head width 8
    expect(canFuseBlock(c.width, 32, c.mlpWidth)).toBe(false); // head width 2
    expect(canFuseBlock(c.width, c.heads, 130)).toBe(false);
    store.dispose();
    await useBackend('cpu');
    expect(canFuseBlock(c.width, c.heads, c.mlpWidth)).toBe(false);
  });
});

describe('the block kernel without a gradient to record (evaluation)', () => {
  const INFERENCE_CASES: Case[] = [
    { batch: 70, tokens: 16, heads: 4, width: 64, mlpWidth: 128, causal: false }, // three parts of 32, 32 and 6 examples
    { batch: 23, tokens: 49, heads: 2, width: 16, mlpWidth: 24, causal: false }, // 10 examples a part, rows odd
    { batch: 5, tokens: 130, heads: 2, width: 8, mlpWidth: 12, causal: true }, // 3 examples a part
    { batch: 3, tokens: 600, heads: 1, width: 4, mlpWidth: 4, causal: true }, // more tokens than a part's rows: one example a part
  ];

  it.each(INFERENCE_CASES)('gives the training forward pass\'s value bit for bit, with no activations kept for a backward pass: %o', async (c) => {
    await useBackend('wasm');
    const { store, block } = blockOf(c, 11);
    const training = gradsOf(c, store, block, settingsOf(c)).value;
    const h = tf.mul(fixedTensor([c.batch * c.tokens, c.width], 21), 1.5) as tf.Tensor2D;
    const evaluation = settingsOf(c, { options: { training: false } });
    const profile = await tf.profile(() => void tf.tidy(() => transformerBlock(h, block, 'b', evaluation)));
    expect(profile.kernels.map((k) => k.name)).toEqual(['LionTrainBlockInference']);
    expect(profile.newBytes).toBe(4 * h.size); // y [rows, width] only: the training kernel's `saved` is never made
    const value = tf.tidy(() => transformerBlock(h, block, 'b', evaluation).dataSync());
    expect(value).toEqual(training);
    h.dispose();
    store.dispose();
  });
});
