/**
 * An optimizer written as a program in the language Lion was discovered in (src/program/): the
 * program's `update` is subtracted from each parameter and its final `m` / `v` are kept as state.
 *
 *     new ProgramOptimizer({ program: 'update = interp(g, m, 0.9)\n…', learningRate: 1e-4 })
 *
 * Inputs per parameter: w, g, lr (learningRate at this step: a number or a schedule), m, v (zeros
 * at first), step (0-based update index) and decay (1 if weight decay applies to this parameter,
 * 0 if `weightDecayExclude` excludes it). A program runs once per step over all parameters at
 * once, so whole-model reductions (global_norm, dot, cosine_sim, clip) see the whole model.
 *
 * Paths: on `cpu` and `wasm` (`fused: 'auto'`), programs whose reductions read only
 * reduction-free values run as generated loops over the Float32Arrays (a pass for the
 * reductions' sums if any, then one pass that writes w − update and the state); elsewhere, or
 * with `fused: false`, as tfjs ops inside one `tf.tidy`. State is what the program reads: m, v,
 * both or none.
 */
import * as tf from '../tf.js';
import { buildIr, checkedProgram, printProgram, type Ir, type Program } from '../program/index.js';
import { compileFused, fillReductions, type FusedProgram } from '../program/compile/fused.js';
import { runOps, type OpsInput } from '../program/compile/ops.js';
import { OptimizerAdapter, type CommonOptions, type NamedTensor, type StepContext } from './base.js';
import { FUSED_BACKENDS, type Hyper, type UpdateRule } from './kernel.js';
import { checkLearningRate, describe, type LearningRate } from './options.js';

export interface ProgramOptions extends CommonOptions {
  /** The program text (checked: a `ProgramError` lists its problems) or a parsed program. */
  program: string | Program;
  /** The program's `lr` input: a number or `(step) => number`. Default 1. */
  learningRate?: LearningRate | null;
}

const KERNEL = 'LionTrainProgramUpdate';

// tfjs-layers camel-cases strings with an underscore in a saved optimizer config (`global_norm` →
// `globalNorm`), so getConfig stores the text with `%` and `_` percent-escaped; no program text
// contains `%`, so unescaping what the constructor is given is always safe.
const escapeText = (s: string): string => s.replace(/%/g, '%25').replace(/_/g, '%5F');
const unescapeText = (s: string): string => s.replace(/%(25|5F)/g, (_m, code: string) => (code === '25' ? '%' : '_'));
const fusedPrograms = new Map<string, { fused: FusedProgram; ir: Ir }>();
let nextKey = 0;

// The parts of the cpu and wasm backends used here (no import of the backend packages).
interface CpuBackend {
  readSync(dataId: tf.DataId): unknown;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
}
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/** The Float32Array behind a tensor on cpu or wasm, without a copy (read only). */
function view(backendName: string, backend: unknown, t: tf.TensorInfo): Float32Array {
  const a = backendName === 'wasm' ? (backend as WasmBackend).typedArrayFromHeap(t) : (backend as CpuBackend).readSync(t.dataId);
  if (!(a instanceof Float32Array)) throw new Error('program: the fused path needs float32 tensors');
  return a;
}

function registerKernel(): void {
  for (const backendName of FUSED_BACKENDS) {
    if (tf.getKernel(KERNEL, backendName) !== undefined) continue;
    tf.registerKernel({
      kernelName: KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { fused, ir } = fusedPrograms.get(attrs!.key as string)!;
        const scalars = Float64Array.from(attrs!.scalars as number[]);
        const param = inputs.param as tf.TensorInfo;
        const state = ir.state.map((_, i) => inputs[`s${i}`] as tf.TensorInfo);
        const n = tf.util.sizeFromShape(param.shape);
        const shapes = [param.shape, ...state.map(() => param.shape)];
        const read = (t: tf.TensorInfo) => view(backendName, backend, t);
        // Allocate outputs before taking views: wasm's malloc may grow (and detach) the heap.
        const outs =
          backendName === 'wasm' ? shapes.map((s) => (backend as WasmBackend).makeOutput(s.slice(), 'float32')) : [];
        const outArrays = backendName === 'wasm' ? outs.map(read) : shapes.map(() => new Float32Array(n));
        const m = ir.state.findIndex((s) => s.name === 'm');
        const v = ir.state.findIndex((s) => s.name === 'v');
        fused.main(
          read(param), read(inputs.grad as tf.TensorInfo),
          m >= 0 ? read(state[m]) : null, v >= 0 ? read(state[v]) : null,
          outArrays[0], m >= 0 ? outArrays[1 + m] : null, v >= 0 ? outArrays[1 + v] : null,
          n, scalars,
        );
        if (backendName === 'wasm') return outs;
        return shapes.map((s, i) => (backend as CpuBackend).makeTensorInfo(s.slice(), 'float32', outArrays[i]));
      },
    });
  }
}

const noRule = (): never => {
  throw new Error('program: the update runs through ProgramOptimizer.applyGradients');
};

/** A program as a `tf.Optimizer`: see the module comment. */
export class ProgramOptimizer extends OptimizerAdapter<Hyper> {
  static readonly className = 'LionTrainProgram';
  /** The program as given, printed (comments and blank lines dropped). */
  readonly programText: string;
  readonly ir: Ir;
  /** The fused loops, or null where a reduction reads another reduction's result. */
  readonly fusedProgram: FusedProgram | null;
  private readonly key: string;
  private readonly pseudoRule: UpdateRule<Hyper>;

  constructor(options: ProgramOptions) {
    const owner = 'Program';
    super(owner, options, ['learningRate', 'program'], checkLearningRate(owner, options?.learningRate, 1));
    const source = options.program;
    if (typeof source !== 'string' && (source === null || typeof source !== 'object' || !Array.isArray(source.statements))) {
      throw new RangeError(`${owner}: program must be program text or a parsed program, got ${describe(source)}`);
    }
    const program = typeof source === 'string' ? checkedProgram(unescapeText(source)) : source;
    this.programText = printProgram(program);
    this.ir = buildIr(program);
    this.fusedProgram = compileFused(this.ir);
    this.key = `p${nextKey++}`;
    if (this.fusedProgram !== null) {
      fusedPrograms.set(this.key, { fused: this.fusedProgram, ir: this.ir });
      registerKernel();
    }
    const keys = this.ir.state.map((s) => s.name);
    this.pseudoRule = { name: 'Program', state: (shape) => keys.map((key) => ({ key, shape: shape.slice() })), ops: noRule, arrays: noRule, simd: noRule, webgpu: noRule };
  }

  protected get rule(): UpdateRule<Hyper> {
    return this.pseudoRule;
  }

  protected hyper(_ctx: StepContext): Hyper {
    return {};
  }

  override usesFusedPath(): boolean {
    if (this.fused === false) return false;
    const available = this.fusedProgram !== null && (FUSED_BACKENDS as readonly string[]).includes(tf.getBackend());
    if (this.fused === true && !available) {
      const why = this.fusedProgram === null ? 'this program (a reduction reads another reduction\'s result)' : `the '${tf.getBackend()}' backend`;
      throw new Error(`Program: fused: true is not possible for ${why}; use fused: 'auto' or false`);
    }
    return available;
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const entries: Array<[string, tf.Tensor | undefined]> = Array.isArray(variableGradients)
      ? variableGradients.map((v) => [v.name, v.tensor])
      : Object.entries(variableGradients);
    const given = entries.filter((e): e is [string, tf.Tensor] => e[1] != null);
    const step = this.iterations;
    const lr = this.learningRateAt(step);
    this.bindRestored(given.map(([name]) => name));
    const items = given.map(([name, grad]) => {
      const variable = tf.engine().registeredVariables[name];
      if (variable === undefined) throw new Error(`Program: got a gradient for '${name}', which is not a registered variable`);
      if (!tf.util.arraysEqual(grad.shape, variable.shape)) {
        throw new Error(`Program: gradient of '${name}' has shape [${grad.shape}], the variable [${variable.shape}]`);
      }
      return { variable, grad, state: this.slotFor(name, variable.shape, {}).state, decay: this.isDecayed(name) ? 1 : 0 };
    });
    const float32 = items.every((it) => it.variable.dtype === 'float32' && it.grad.dtype === 'float32');
    if (this.usesFusedPath() && float32) this.applyFused(items, lr, step);
    else {
      tf.tidy(() => {
        const inputs: OpsInput[] = items.map((it) => ({ w: it.variable, g: it.grad, state: it.state, decay: it.decay }));
        const outs = runOps(this.ir, inputs, lr, step);
        // Assign fresh tensors: never write into a variable's buffer (DESIGN.md, Trap).
        items.forEach((it, i) => {
          it.variable.assign(outs[i].w);
          it.state.forEach((s, k) => s.assign(outs[i].state[k]));
        });
      });
    }
    this.incrementIterations();
  }

  private applyFused(items: Array<{ variable: tf.Variable; grad: tf.Tensor; state: tf.Variable[]; decay: number }>, lr: number, step: number): void {
    const fused = this.fusedProgram!;
    const backendName = tf.getBackend();
    const backend = tf.backend();
    const scalarsOf = (decay: number): Float64Array => {
      const s = new Float64Array(fused.scalarCount);
      s.set([lr, step, decay]);
      return s;
    };
    const m = this.ir.state.findIndex((s) => s.name === 'm');
    const v = this.ir.state.findIndex((s) => s.name === 'v');
    let perTensor: Float64Array[] = [];
    const global = new Float64Array(fused.sumCount);
    if (fused.sumCount > 0) {
      const read = (t: tf.Tensor) => view(backendName, backend, t as unknown as tf.TensorInfo);
      perTensor = items.map((it) => {
        const sums = fused.prelude(read(it.variable), read(it.grad), m >= 0 ? read(it.state[m]) : null, v >= 0 ? read(it.state[v]) : null, it.variable.size, scalarsOf(it.decay));
        sums.forEach((x, k) => (global[k] += x));
        return sums;
      });
    }
    for (const [i, it] of items.entries()) {
      const scalars = scalarsOf(it.decay);
      if (fused.sumCount > 0) fillReductions(fused, perTensor[i], global, scalars);
      tf.tidy(() => {
        const inputs: tf.NamedTensorMap = { param: it.variable, grad: it.grad };
        it.state.forEach((s, k) => (inputs[`s${k}`] = s));
        const out = tf.engine().runKernel(KERNEL, inputs, { key: this.key, scalars: Array.from(scalars) }) as tf.Tensor[];
        it.variable.assign(out[0]);
        it.state.forEach((s, k) => s.assign(out[k + 1]));
      });
    }
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.configLearningRate(), program: escapeText(this.programText), ...this.commonConfig() };
  }

  override dispose(): void {
    fusedPrograms.delete(this.key);
    super.dispose();
  }
}
tf.serialization.registerClass(ProgramOptimizer);
