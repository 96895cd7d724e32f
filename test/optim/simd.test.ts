// The WebAssembly SIMD kernels (assembly/optim.ts) and the two ways they reach tensors: in place on
// tfjs-backend-wasm's heap, and staged run by run through a private memory on cpu.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuSimdHeapBytes, fusedImplementation } from '../../src/optim/kernel.js';
import { backendMemory, STAGE_ELEMENTS, type EmscriptenModule } from '../../src/optim/simd.js';
import { OPTIM_WASM_BASE64 } from '../../src/optim/simd-wasm.generated.js';
import {
  BACKENDS,
  disposeAll,
  firstMismatch,
  KINDS,
  makeOptimizer,
  PATHS,
  selectImplementation,
  useBackend,
  type OptimizerKind,
} from './helpers.js';

const CONFIGS: Array<[string, OptimizerKind, Record<string, unknown>]> = [
  ['lion', 'lion', { learningRate: 1e-3, weightDecay: 0.3 }],
  ['adamw', 'adamw', { learningRate: 1e-2, weightDecay: 0.1 }],
  ['adafactor relative step', 'adafactor', {}],
  ['adafactor lr + beta1 + wd', 'adafactor', { learningRate: 1e-2, beta1: 0.9, weightDecay: 0.1, scaleParameter: false }],
];

// Larger than one staged run on cpu (STAGE_ELEMENTS), odd sizes (SIMD tails), several slices, a
// row longer than a run.
const SHAPES: Record<string, number[]> = {
  vector: [70001],
  matrix: [301, 257],
  slabs: [3, 129, 97],
  wide: [2, 40000],
};

interface WasmBackendLike {
  wasm: EmscriptenModule;
  getMemoryOffset(dataId: tf.DataId): number;
}

// This project's TypeScript libs do not declare the WebAssembly JS API.
interface ModuleDescriptor {
  module?: string;
  name: string;
  kind: string;
}
const WA = (globalThis as unknown as {
  WebAssembly: {
    Module: { new (bytes: Uint8Array): object; imports(m: object): ModuleDescriptor[]; exports(m: object): ModuleDescriptor[] };
  };
}).WebAssembly;

const wasmBackend = (): WasmBackendLike => tf.backend() as unknown as WasmBackendLike;

function wasmSections(bytes: Uint8Array): number[] {
  const ids: number[] = [];
  let at = 8;
  while (at < bytes.length) {
    ids.push(bytes[at++]);
    let size = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[at++];
      size |= (b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
    }
    at += size;
  }
  return ids;
}

describe('the compiled kernel module', () => {
  const bytes = Uint8Array.from(atob(OPTIM_WASM_BASE64), (c) => c.charCodeAt(0));

  it('imports only env.memory and exports only functions', () => {
    const mod = new WA.Module(bytes);
    expect(WA.Module.imports(mod)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    const exports = WA.Module.exports(mod);
    expect(exports.map((e) => e.kind).every((k) => k === 'function')).toBe(true);
    expect(exports.map((e) => e.name)).toEqual(expect.arrayContaining(['lion', 'adamw', 'adafactorFinish', 'copy']));
  });

  it('owns no memory: no memory, global, start or data section', () => {
    const ids = wasmSections(bytes);
    for (const forbidden of [5, 6, 8, 11]) expect(ids).not.toContain(forbidden);
  });
});

describe.each(BACKENDS)('on the %s backend', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });
  afterAll(() => selectImplementation(undefined));

  it("fused: 'auto' runs the SIMD kernels", () => {
    selectImplementation(undefined);
    expect(fusedImplementation(backend)).toBe('simd');
    const opt = makeOptimizer('lion', {});
    expect(opt.usesFusedPath()).toBe(true);
    opt.dispose();
  });

  describe.each(CONFIGS)('%s', (_label, kind, options) => {
    it('SIMD kernels, JS loop and tfjs ops agree on tensors larger than a staged run', () => {
      const results = PATHS.map((path) => {
        selectImplementation(path.implementation);
        const vars = Object.fromEntries(
          Object.entries(SHAPES).map(([name, shape], i) => [
            name,
            tf.variable(tf.randomNormal(shape, 0, 0.5, 'float32', 20 + i), true, `simd.${name}`),
          ]),
        );
        const opt = makeOptimizer(kind, { ...options, fused: path.fused });
        try {
          for (let k = 0; k < 4; k++) {
            const grads = Object.entries(SHAPES).map(([name, shape], i) => ({
              name: `simd.${name}`,
              tensor: tf.randomNormal(shape, 0, k === 2 ? 1e-4 : 1, 'float32', 100 * k + i + 1),
            }));
            opt.applyGradients(grads);
            tf.dispose(grads.map((g) => g.tensor));
          }
          return Object.values(vars).map((v) => Float32Array.from(v.dataSync()));
        } finally {
          opt.dispose();
          disposeAll(vars);
          selectImplementation(undefined);
        }
      });
      const [simd, js, ops] = results;
      const names = Object.keys(SHAPES);
      for (const [label, got] of [['SIMD', simd], ['JS loop', js]] as const) {
        got.forEach((values, i) => {
          const problem = firstMismatch(values, ops[i]);
          if (problem !== null) throw new Error(`${label}, ${names[i]}: ${problem}`);
        });
      }
      expect(SHAPES.vector[0]).toBeGreaterThan(STAGE_ELEMENTS);
    });
  });

  it('Adafactor recomputes RMS(p) when the variable was assigned from outside between updates', () => {
    const run = (fused: boolean): Float32Array => {
      selectImplementation(fused ? 'simd' : undefined);
      const v = tf.variable(tf.randomNormal([40, 30], 0, 1, 'float32', 5), true, 'simd.memo');
      const opt = makeOptimizer('adafactor', { fused });
      try {
        for (let k = 0; k < 4; k++) {
          if (k === 2) v.assign(tf.tidy(() => tf.mul(v, 3)));
          const g = tf.randomNormal([40, 30], 0, 1, 'float32', k + 1); // (seed 0: unseeded)
          opt.applyGradients({ [v.name]: g });
          g.dispose();
        }
        return Float32Array.from(v.dataSync());
      } finally {
        opt.dispose();
        v.dispose();
        selectImplementation(undefined);
      }
    };
    expect(firstMismatch(run(true), run(false))).toBeNull();
  });
});

describe('on the wasm backend, in place on the heap', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    selectImplementation('simd');
  });
  afterAll(() => selectImplementation(undefined));

  it.each(KINDS)('%s writes new tensors and leaves its inputs and the rest of the heap alone', (kind) => {
    const shape = [33, 65];
    const canary = tf.randomNormal([1000], 0, 1, 'float32', 1);
    const v = tf.variable(tf.randomNormal(shape, 0, 1, 'float32', 2), true, `simd.inplace.${kind}`);
    const g = tf.randomNormal(shape, 0, 1, 'float32', 3);
    const opt = makeOptimizer(kind, { beta1: kind === 'adafactor' ? 0.9 : undefined });
    opt.applyGradients({ [v.name]: g }); // creates the state
    const before = tf.clone(v); // shares the variable's data: an in-place write would change it
    const [canaryValues, vValues, gValues] = [canary, v, g].map((t) => Float32Array.from(t.dataSync()));
    const oldOffset = wasmBackend().getMemoryOffset(v.dataId);
    opt.applyGradients({ [v.name]: g });
    expect(wasmBackend().getMemoryOffset(v.dataId)).not.toBe(oldOffset);
    expect(Float32Array.from(before.dataSync())).toEqual(vValues);
    expect(Float32Array.from(g.dataSync())).toEqual(gValues);
    expect(Float32Array.from(canary.dataSync())).toEqual(canaryValues);
    expect(Float32Array.from(v.dataSync())).not.toEqual(vValues);
    tf.dispose([canary, v, g, before]);
    opt.dispose();
  });

  it.each(KINDS)('%s keeps updating correctly after the heap grows between steps', (kind) => {
    const memory = backendMemory(wasmBackend().wasm);
    expect(memory).not.toBeNull();
    const shape = [50, 70];
    const names = ['simd', 'js'].map((impl) => `simd.growth.${kind}.${impl}`);
    const vars = names.map((n) => tf.variable(tf.randomNormal(shape, 0, 1, 'float32', 7), true, n));
    const opts = names.map(() => makeOptimizer(kind, { beta1: kind === 'adafactor' ? 0.9 : undefined }));
    const step = (k: number): void => {
      const g = tf.randomNormal(shape, 0, 1, 'float32', k + 1);
      (['simd', 'js'] as const).forEach((impl, i) => {
        selectImplementation(impl);
        opts[i].applyGradients({ [names[i]]: g });
      });
      selectImplementation('simd');
      g.dispose();
    };
    for (let k = 0; k < 3; k++) step(k);
    const buffer = (memory as { buffer: ArrayBuffer }).buffer;
    const grownFrom = buffer.byteLength;
    // More than the heap holds: malloc must grow the memory, which detaches the old buffer.
    const big = tf.zeros([Math.ceil(grownFrom / 4) + (1 << 20)]);
    expect((memory as { buffer: ArrayBuffer }).buffer.byteLength).toBeGreaterThan(grownFrom);
    expect(buffer.byteLength).toBe(0);
    step(3);
    big.dispose();
    for (let k = 4; k < 8; k++) step(k);
    const [simd, js] = vars.map((v) => v.dataSync());
    expect(firstMismatch(simd, js)).toBeNull();
    tf.dispose(vars);
    opts.forEach((o) => o.dispose());
  });

  it('a model trained with Lion through the kernels keeps learning after the heap grows', async () => {
    const x = tf.randomNormal([200, 16], 0, 1, 'float32', 3);
    const y = tf.tidy(() => tf.matMul(tf.relu(tf.matMul(x, tf.randomNormal([16, 8], 0, 0.5, 'float32', 4))), tf.randomNormal([8, 1], 0, 1, 'float32', 5)));
    const model = tf.sequential();
    model.add(tf.layers.dense({ units: 32, activation: 'relu', inputShape: [16], kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }));
    model.add(tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }));
    const optimizer = makeOptimizer('lion', { learningRate: 3e-3, weightDecay: 0.1 });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const lossOf = (): number => tf.tidy(() => (model.evaluate(x, y, { batchSize: 200 }) as tf.Scalar).dataSync()[0]);
    const initial = lossOf();
    await model.fit(x, y, { epochs: 5, batchSize: 40, shuffle: false, verbose: 0 });
    const middle = lossOf();
    const memory = backendMemory(wasmBackend().wasm) as { buffer: ArrayBuffer };
    const big = tf.zeros([Math.ceil(memory.buffer.byteLength / 4) + (1 << 20)]);
    await model.fit(x, y, { epochs: 1, batchSize: 40, shuffle: false, verbose: 0 });
    big.dispose();
    await model.fit(x, y, { epochs: 10, batchSize: 40, shuffle: false, verbose: 0 });
    const final = lossOf();
    expect(optimizer.usesFusedPath()).toBe(true);
    expect(fusedImplementation('wasm')).toBe('simd');
    expect(middle).toBeLessThan(initial);
    expect(final).toBeLessThan(0.5 * middle);
    model.dispose();
    optimizer.dispose();
    tf.dispose([x, y]);
  });
});

describe('on the cpu backend, staged through a private memory', () => {
  beforeAll(async () => {
    await useBackend('cpu');
    selectImplementation('simd');
  });
  afterAll(() => selectImplementation(undefined));

  it('the private memory holds a few runs, not copies of the tensors', () => {
    const n = 1_000_000;
    const v = tf.variable(tf.randomNormal([n / 1000, 1000], 0, 1, 'float32', 1), true, 'simd.cpu.heap');
    const g = tf.randomNormal([n / 1000, 1000], 0, 1, 'float32', 2);
    const opt = makeOptimizer('adamw', {});
    opt.applyGradients({ [v.name]: g });
    opt.applyGradients({ [v.name]: g });
    expect(cpuSimdHeapBytes()).toBeGreaterThan(0);
    expect(cpuSimdHeapBytes()).toBeLessThan(8 * 4 * STAGE_ELEMENTS + (1 << 20));
    expect(cpuSimdHeapBytes()).toBeLessThan(4 * n);
    tf.dispose([v, g]);
    opt.dispose();
  });
});
