/**
 * The thin `tf.Optimizer` adapter shared by Lion, AdamW and Adafactor.
 *
 * It owns what the pure update rules (see kernel.ts) do not: the state tensors of each variable,
 * the step counter, the learning rate at each step, the weight-decay mask, the choice between the
 * fused kernel and tfjs ops, `getWeights` / `setWeights` and `stateBytes`. A subclass supplies its
 * rule, the hyperparameters of one step (`hyper`) and its config.
 *
 * State of a variable is created (zeros) on its first update. Variables are matched to their
 * state by name. State restored by `setWeights` whose name is not among the variables of an
 * update goes, in saved order, to the variables of that update that have no state yet (the tfjs
 * convention is by order), so a model reloaded in the same process, whose variables tfjs-layers
 * renames `…_1`, continues with its saved state.
 *
 * The step counter is the optimizer's `iterations`: every `applyGradients` call is one step, for
 * every variable (a variable given no gradient at a step still counts that step, as in tfjs).
 */
import * as tf from '../tf.js';
import { hasFusedKernel, runFused, type Hyper, type StateSpec, type UpdateRule } from './kernel.js';
import {
  compileDecayMask,
  deserializeDecayExclude,
  serializeDecayExclude,
  type WeightDecayExclude,
} from './mask.js';
import {
  checkFused,
  checkKnownOptions,
  evaluateLearningRate,
  type FusedMode,
  type LearningRate,
} from './options.js';

/** tfjs-core's `NamedTensor`, which `@tensorflow/tfjs` does not export. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** Options every optimizer takes besides its hyperparameters. */
export interface CommonOptions {
  /**
   * Variables excluded from weight decay, by name: patterns (`*` matches any run of characters;
   * RegExps tested as written) or a predicate returning true for names to exclude. Default: none
   * excluded. A predicate cannot be serialised: `getConfig` leaves it out.
   */
  weightDecayExclude?: WeightDecayExclude;
  /**
   * `'auto'` (default): one fused kernel per variable on `cpu` and `wasm` (the WebAssembly SIMD
   * kernels where they can run, else a fused JS loop: see `fusedImplementation`) and on `webgpu`
   * (WGSL compute passes: wgsl.ts), tfjs ops elsewhere (webgl, tensorflow, …). `true`: always
   * fused (throws on a backend without the fused kernel). `false`: always tfjs ops. Non-float32 variables always take tfjs ops. A runtime
   * choice: not part of `getConfig`.
   */
  fused?: FusedMode;
}

export const COMMON_OPTION_NAMES = ['weightDecayExclude', 'fused'] as const;

/** What an update of one variable at one step depends on besides the options. */
export interface StepContext {
  /** 0-based index of the update being applied (the step count before it). */
  step: number;
  /** Learning rate of this step (Adafactor with relative step: its relative step size). */
  learningRate: number;
  /** Whether this variable is decayed (false when the mask excludes it). */
  decayed: boolean;
}

export interface Slot {
  /** Variable name this state belongs to. */
  name: string;
  keys: string[];
  state: tf.Variable[];
  /** Restored by `setWeights` and not yet used by any variable. */
  unclaimed: boolean;
}

export abstract class OptimizerAdapter<H extends Hyper> extends tf.Optimizer {
  protected readonly owner: string;
  /** The learning-rate option as given (a number or a schedule); undefined: none (Adafactor). */
  protected readonly learningRateOption: LearningRate | undefined;
  readonly fused: FusedMode;
  private readonly weightDecayExclude: WeightDecayExclude | undefined;
  private readonly excluded: (name: string) => boolean;
  private slots: Slot[] = [];
  private byName = new Map<string, Slot>();

  protected constructor(
    owner: string,
    options: object,
    allowed: readonly string[],
    learningRate: LearningRate | undefined,
  ) {
    super();
    this.owner = owner;
    if (options === null || typeof options !== 'object') {
      throw new RangeError(`${owner}: options must be an object`);
    }
    checkKnownOptions(owner, options, [...allowed, ...COMMON_OPTION_NAMES]);
    const common = options as CommonOptions;
    this.learningRateOption = learningRate;
    this.fused = checkFused(owner, common.fused);
    this.excluded = compileDecayMask(owner, common.weightDecayExclude);
    const exclude = common.weightDecayExclude ?? undefined;
    this.weightDecayExclude = Array.isArray(exclude) ? [...exclude] : exclude;
  }

  /** The pure update rule of this optimizer. */
  protected abstract get rule(): UpdateRule<H>;

  /** The hyperparameters of one variable's update at one step. */
  protected abstract hyper(ctx: StepContext): H;

  /** The learning rate of the update with 0-based index `step` (schedules are called with it). */
  learningRateAt(step: number): number {
    if (this.learningRateOption === undefined) return NaN;
    return evaluateLearningRate(this.owner, this.learningRateOption, step);
  }

  /** Whether weight decay applies to the variable called `name`. */
  isDecayed(name: string): boolean {
    return !this.excluded(name);
  }

  /** Whether the next update runs the fused kernel on the current backend. */
  usesFusedPath(): boolean {
    if (this.fused === false) return false;
    const available = hasFusedKernel(this.rule as unknown as UpdateRule<Hyper>, tf.getBackend());
    if (this.fused === true && !available) {
      throw new Error(
        `${this.owner}: fused: true needs the cpu, wasm or webgpu backend, the backend is '${tf.getBackend()}'; ` +
          `use fused: 'auto' or false`,
      );
    }
    return available;
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const entries: Array<[string, tf.Tensor | undefined]> = Array.isArray(variableGradients)
      ? variableGradients.map((v) => [v.name, v.tensor])
      : Object.entries(variableGradients);
    const step = this.iterations;
    const learningRate = this.learningRateAt(step);
    const fusedPath = this.usesFusedPath();
    this.bindRestored(entries.filter(([, g]) => g != null).map(([name]) => name));
    for (const [name, grad] of entries) {
      if (grad == null) continue;
      const variable = tf.engine().registeredVariables[name];
      if (variable === undefined) {
        throw new Error(`${this.owner}: got a gradient for '${name}', which is not a registered variable`);
      }
      if (!tf.util.arraysEqual(grad.shape, variable.shape)) {
        throw new Error(
          `${this.owner}: gradient of '${name}' has shape [${grad.shape}], the variable [${variable.shape}]`,
        );
      }
      const h = this.hyper({ step, learningRate, decayed: this.isDecayed(name) });
      const slot = this.slotFor(name, variable.shape, h);
      tf.tidy(() => {
        const fused = fusedPath && variable.dtype === 'float32' && grad.dtype === 'float32';
        const out = fused
          ? runFused(this.rule, variable, grad, slot.state, h)
          : this.rule.ops(variable, grad, slot.state, h);
        // Assign fresh tensors: never write into a variable's buffer (DESIGN.md, Trap).
        variable.assign(out[0]);
        slot.state.forEach((s, i) => s.assign(out[i + 1]));
      });
    }
    this.incrementIterations();
  }

  /**
   * Restored state that no name of this call claims is handed, in order, to the names of this
   * call that have no state yet.
   */
  protected bindRestored(names: string[]): void {
    const called = new Set(names);
    const pending = this.slots.filter((s) => s.unclaimed && !called.has(s.name));
    for (const name of names) {
      if (pending.length === 0) return;
      if (this.byName.has(name)) continue;
      const slot = pending.shift() as Slot;
      this.byName.delete(slot.name);
      slot.name = name;
      this.byName.set(name, slot);
    }
  }

  /** The state of `name`, created as zeros on first use. */
  protected slotFor(name: string, shape: number[], h: H): Slot {
    const specs = this.rule.state(shape, h);
    let slot = this.byName.get(name);
    if (slot === undefined) {
      slot = {
        name,
        keys: specs.map((s) => s.key),
        state: specs.map((s) => tf.tidy(() => tf.zeros(s.shape).variable(false))),
        unclaimed: false,
      };
      this.slots.push(slot);
      this.byName.set(name, slot);
    } else if (slot.unclaimed) {
      this.checkSlot(slot, specs);
      slot.unclaimed = false;
    }
    return slot;
  }

  private checkSlot(slot: Slot, specs: StateSpec[]): void {
    const ok =
      slot.keys.length === specs.length &&
      specs.every((s, i) => s.key === slot.keys[i] && tf.util.arraysEqual(s.shape, slot.state[i].shape));
    if (!ok) {
      const want = specs.map((s) => `${s.key} [${s.shape}]`).join(', ');
      const got = slot.keys.map((k, i) => `${k} [${slot.state[i].shape}]`).join(', ');
      throw new Error(`${this.owner}: restored state '${slot.name}' (${got}) does not fit this variable (${want})`);
    }
  }

  /** The state tensors (key and shape) this optimizer keeps for a variable `name` of `shape`. */
  stateLayout(name: string, shape: number[]): StateSpec[] {
    return this.rule.state(shape, this.hyper({ step: 0, learningRate: 0, decayed: this.isDecayed(name) }));
  }

  /** Bytes of optimizer state held (state tensors of every variable updated or restored so far). */
  stateBytes(): number {
    let bytes = 0;
    for (const slot of this.slots) {
      for (const s of slot.state) bytes += s.size * tf.util.bytesPerElement(s.dtype);
    }
    return bytes;
  }

  /**
   * `[iterations, <var>/<key>, …]`: the step count (int32 scalar, a new tensor the caller owns),
   * then each variable's state tensors (live: do not dispose), variables in order of first update.
   */
  override async getWeights(): Promise<NamedTensor[]> {
    const weights: NamedTensor[] = [await this.saveIterations()];
    for (const slot of this.slots) {
      slot.keys.forEach((key, i) => weights.push({ name: `${slot.name}/${key}`, tensor: slot.state[i] }));
    }
    return weights;
  }

  /** Restores what `getWeights` gave (copies it: the caller may dispose `weightValues`). */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    this.disposeState();
    for (const { name, tensor } of rest) {
      const cut = name.lastIndexOf('/');
      if (cut <= 0) throw new Error(`${this.owner}: setWeights got '${name}', expected '<variable>/<state>'`);
      const varName = name.slice(0, cut);
      let slot = this.byName.get(varName);
      if (slot === undefined) {
        slot = { name: varName, keys: [], state: [], unclaimed: true };
        this.slots.push(slot);
        this.byName.set(varName, slot);
      }
      slot.keys.push(name.slice(cut + 1));
      slot.state.push(tf.tidy(() => tf.cast(tensor, 'float32').variable(false)));
    }
  }

  private disposeState(): void {
    for (const slot of this.slots) tf.dispose(slot.state);
    this.slots = [];
    this.byName = new Map();
  }

  override dispose(): void {
    this.disposeState();
    super.dispose();
  }

  /** Shared part of `getConfig`: the decay mask (patterns only; a predicate is left out). */
  protected commonConfig(): tf.serialization.ConfigDict {
    const patterns = serializeDecayExclude(this.weightDecayExclude);
    return patterns === undefined ? {} : { weightDecayExclude: patterns };
  }

  /**
   * The learning rate for `getConfig`: a schedule cannot be serialised, so its value at the
   * current step is recorded (a restored optimizer then runs at that constant rate).
   */
  protected configLearningRate(): number | null {
    if (this.learningRateOption === undefined) return null;
    return this.learningRateAt(this.iterations);
  }

  /** Builds the optimizer from `getConfig()` output (as tfjs-layers does when loading a model). */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    // tfjs-layers adds `customObjects` to the config it passes.
    const { customObjects: _ignored, ...options } = config;
    if ('weightDecayExclude' in options) {
      options.weightDecayExclude = deserializeDecayExclude(options.weightDecayExclude) as tf.serialization.ConfigDictValue;
    }
    return new cls(options);
  }
}
