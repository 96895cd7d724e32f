/**
 * Chooses and initialises the TensorFlow.js backend.
 * auto tries, in order: gpu (@tensorflow/tfjs-node-gpu), webgpu (Dawn through the npm package `webgpu`, on a
 * hardware adapter only), node (@tensorflow/tfjs-node), wasm, cpu.
 * The native packages are optional and loaded only through dynamic import(), never statically.
 * setBackend() returning false is a failure, never a silent fallback to something slower.
 */
import * as tf from './tf.js';
import { EXIT, UserError } from './errors.js';
import { describeAdapter, NO_ADAPTER_HINT, requestAdapter, watchDeviceErrors, type AdapterInfo } from './webgpu.js';

export type { AdapterInfo } from './webgpu.js';
export type BackendRequest = 'auto' | 'gpu' | 'webgpu' | 'node' | 'wasm' | 'cpu';
type Concrete = Exclude<BackendRequest, 'auto'>;

export interface BackendChoice {
  requested: BackendRequest;
  /** What lion-train calls it: gpu, node, wasm or cpu. */
  name: Concrete;
  /** The tfjs backend name (tensorflow, wasm, cpu). */
  tfBackend: string;
  /** Why each backend tried before this one was passed over. */
  passedOver: string[];
  /** webgpu only: the adapter the backend runs on. */
  adapter?: AdapterInfo;
  /** webgpu only: the adapter's limits on one buffer (bytes), as the backend's device was given them. */
  bufferLimits?: GpuBufferLimits;
}

/** The largest buffer and storage binding of a GPU device (tfjs-backend-webgpu asks for the adapter's). */
export interface GpuBufferLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

const PACKAGE: Record<Concrete, string> = {
  gpu: '@tensorflow/tfjs-node-gpu',
  webgpu: '@tensorflow/tfjs-backend-webgpu',
  node: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};
const TF_BACKEND: Record<Concrete, string> = { gpu: 'tensorflow', webgpu: 'webgpu', node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' };
const INSTALL_HINT: Record<Concrete, string> = {
  gpu: 'npm install @tensorflow/tfjs-node-gpu (Linux x64 with CUDA 11.8 and cuDNN 8.6; its install downloads libtensorflow)',
  webgpu: 'npm install webgpu @tensorflow/tfjs-backend-webgpu (Dawn for Node: Linux x64/arm64, macOS, Windows; nothing downloaded)',
  node: 'npm install @tensorflow/tfjs-node (its install downloads libtensorflow)',
  wasm: 'npm install @tensorflow/tfjs-backend-wasm',
  cpu: 'npm install @tensorflow/tfjs',
};

export type ModuleImporter = (specifier: string) => Promise<unknown>;

export interface BackendOptions {
  /** Replaces dynamic import(); tests use it to play a machine where packages are missing. */
  importModule?: ModuleImporter;
}

const defaultImporter: ModuleImporter = (specifier) => import(specifier);

interface Tried {
  failure?: string;
  /** webgpu: no adapter at all (as opposed to a package missing or an adapter passed over). */
  noAdapter?: boolean;
  adapter?: AdapterInfo;
  bufferLimits?: GpuBufferLimits;
}

async function tryBackend(name: Concrete, importModule: ModuleImporter, requested: BackendRequest): Promise<Tried> {
  let adapter: AdapterInfo | undefined;
  if (name === 'webgpu') {
    // tfjs-backend-webgpu registers only if navigator.gpu exists when it is imported: Dawn first.
    // auto looks in a child process first: on a machine without a GPU, Dawn and the drivers stay out of this one.
    const found = await requestAdapter(importModule, { isolated: requested === 'auto', acceptable: (a) => !a.fallback || requested !== 'auto' });
    if ('missing' in found) return { failure: `webgpu: ${found.missing}` };
    if (found.adapter === null) return { failure: `webgpu: no WebGPU adapter (${found.why})`, noAdapter: true };
    adapter = found.adapter;
    if (requested === 'auto' && adapter.fallback) {
      return { failure: `webgpu: only a software adapter (${describeAdapter(adapter)}): auto takes a hardware GPU only, train.backend: webgpu uses it` };
    }
  }
  try {
    if (name !== 'cpu') await importModule(PACKAGE[name]);
  } catch (error) {
    return { failure: `${name}: ${PACKAGE[name]} is not installed or failed to load (${firstLine(error)})` };
  }
  const backend = TF_BACKEND[name];
  if (!tf.findBackendFactory(backend)) return { failure: `${name}: ${PACKAGE[name]} loaded but registered no "${backend}" backend` };
  let ok: boolean;
  try {
    ok = await tf.setBackend(backend);
  } catch (error) {
    return { failure: `${name}: setBackend('${backend}') threw (${firstLine(error)})` };
  }
  if (!ok) return { failure: `${name}: setBackend('${backend}') returned false (the backend failed to initialise)` };
  await tf.ready();
  if (name !== 'webgpu') return {};
  const device = (tf.backend() as unknown as { device?: { limits?: Partial<GpuBufferLimits> } }).device;
  watchDeviceErrors(device);
  const limits = device?.limits;
  const bufferLimits =
    typeof limits?.maxBufferSize === 'number' && typeof limits.maxStorageBufferBindingSize === 'number'
      ? { maxBufferSize: limits.maxBufferSize, maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize }
      : undefined;
  return { adapter, ...(bufferLimits ? { bufferLimits } : {}) };
}

/** The order `auto` tries. */
export const AUTO_ORDER: readonly Concrete[] = ['gpu', 'webgpu', 'node', 'wasm', 'cpu'];

export async function initBackend(requested: BackendRequest, options: BackendOptions = {}): Promise<BackendChoice> {
  const importModule = options.importModule ?? defaultImporter;
  const candidates: readonly Concrete[] = requested === 'auto' ? AUTO_ORDER : [requested];
  const passedOver: string[] = [];
  for (const name of candidates) {
    const tried = await tryBackend(name, importModule, requested);
    if (tried.failure === undefined) {
      if (name === 'cpu') quietCpuBanner();
      return {
        requested,
        name,
        tfBackend: TF_BACKEND[name],
        passedOver,
        ...(tried.adapter ? { adapter: tried.adapter } : {}),
        ...(tried.bufferLimits ? { bufferLimits: tried.bufferLimits } : {}),
      };
    }
    if (requested === 'webgpu' && tried.noAdapter) {
      throw new UserError(`train.backend webgpu: ${tried.failure.replace(/^webgpu: /, '')}; ${NO_ADAPTER_HINT}`, EXIT.usage);
    }
    passedOver.push(tried.failure);
  }
  if (requested !== 'auto') {
    throw new UserError(`train.backend ${requested} is not available: ${passedOver[0]}; install it with: ${INSTALL_HINT[requested]}`, EXIT.usage);
  }
  throw new UserError(`no TensorFlow.js backend could be initialised: ${passedOver.join('; ')}`, EXIT.failed);
}

/** tfjs's cpu backend prints a banner about tfjs-node on first use; lion-train already says which backend it chose. */
function quietCpuBanner(): void {
  const warn = console.warn;
  console.warn = () => {};
  try {
    tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)).dataSync());
  } finally {
    console.warn = warn;
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0];
}

/**
 * One line for logs: `wasm (auto; passed over: gpu: @tensorflow/tfjs-node-gpu not installed; node: …)`,
 * `webgpu on nvidia … (requested)`. Each reason is summarised: a package that is missing says so in three
 * words; any other failure keeps the start of its error (the full text is in BackendChoice.passedOver).
 */
export function describeBackend(choice: BackendChoice): string {
  const how = choice.requested === 'auto' ? 'auto' : 'requested';
  const name = choice.adapter ? `${choice.name} on ${describeAdapter(choice.adapter)}` : choice.name;
  return choice.passedOver.length === 0 ? `${name} (${how})` : `${name} (${how}; passed over: ${choice.passedOver.map(summariseFailure).join('; ')})`;
}

const MISSING_PACKAGE = /Cannot find (package|module)|ERR_MODULE_NOT_FOUND|MODULE_NOT_FOUND/;
const REASON_CHARS = 80;

function summariseFailure(reason: string): string {
  const load = /^(\w+): (?:the package )?(\S+)(?: \([^)]*\))? is not installed or failed to load \((.*)\)$/.exec(reason);
  if (load) {
    const [, name, pkg, error] = load;
    return MISSING_PACKAGE.test(error) ? `${name}: ${pkg} not installed` : `${name}: ${pkg} failed to load: ${shorten(error)}`;
  }
  // The why matters more than the adapter's or driver's long name: parenthesised details go first.
  if (reason.length <= REASON_CHARS) return reason;
  // `name: what (long details): why` keeps `name: what: why`.
  const detailed = /^(\w+: [^(]*?) \(.*\)(: .*)$/s.exec(reason);
  const stripped = detailed ? `${detailed[1]}${detailed[2]}` : reason;
  return stripped.length <= 120 ? stripped : shorten(stripped);
}

function shorten(text: string): string {
  return text.length <= REASON_CHARS ? text : `${text.slice(0, REASON_CHARS - 1)}…`;
}
