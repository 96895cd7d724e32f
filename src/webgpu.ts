/**
 * WebGPU in Node through Dawn (the npm package `webgpu`): makes `navigator.gpu`, asks it for an adapter and
 * describes that adapter. tfjs-backend-webgpu registers its backend only if `navigator.gpu` exists when it is
 * imported, so this runs first (backend.ts). Dawn on Linux uses Vulkan: it loads `libvulkan.so.1` and the
 * drivers the Vulkan loader finds (or those `VK_ICD_FILENAMES` names). Never `create(['backend=null'])`:
 * Dawn's null backend hands out an adapter that computes garbage.
 */
import { execFile } from 'node:child_process';

/** The adapter a run trains on, as WebGPU reports it (GPUAdapterInfo). */
export interface AdapterInfo {
  /** `nvidia`, `amd`, `intel`, `apple`, `mesa`, … */
  vendor: string;
  /** `hopper`, `rdna-3`, `software`, … */
  architecture: string;
  /** The device as its driver names it (`llvmpipe-llvm-15-0-6-256-bits-`, `nvidia-h200`, …). */
  device: string;
  /** The driver's own description, with its version (`llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)`). */
  driver: string;
  /** A CPU-based or fallback adapter (lavapipe, SwiftShader): right numbers, no speed. */
  fallback: boolean;
}

/** Where to get an adapter, for the message when there is none. */
export const NO_ADAPTER_HINT =
  'install the GPU\u2019s driver with Vulkan support and the Vulkan loader (Debian: libvulkan1 and the vendor\u2019s ICD), ' +
  'or, for a software adapter, point VK_ICD_FILENAMES at a Mesa \u2265 24 lvp_icd.json (`npm run system-pieces` unpacks one into .cache/lavapipe/)';

type Found = { missing: string } | { adapter: AdapterInfo | null; why: string };

let gpu: { requestAdapter(options?: object): Promise<unknown> } | undefined;

/** Run in a child process by `probeAdapter`: prints the adapter's info as JSON (null when there is none). */
const PROBE = `
const { create } = await import(process.argv[1]);
const adapter = await create([]).requestAdapter({ powerPreference: 'high-performance' });
const i = adapter?.info;
console.log(JSON.stringify(i ? { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter } : null));
process.exit(0);
`;

/**
 * Asks Dawn for an adapter in a child process, so that what the Vulkan loader and drivers print while Dawn looks
 * (and a driver that crashes) stays out of this process: `auto` does this before loading Dawn here.
 */
function probeAdapter(): Promise<{ adapter: AdapterInfo | null; why: string }> {
  return new Promise((resolve) => {
    const url = import.meta.resolve('webgpu');
    execFile(process.execPath, ['--input-type=module', '-e', PROBE, url], { timeout: 30_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        const info = JSON.parse(last) as Record<string, unknown> | null;
        if (info) return resolve({ adapter: adapterInfo(info), why: '' });
      } catch {
        const said = (stderr.split('\n').find((l) => l.trim() !== '') ?? error?.message ?? '').trim();
        return resolve({ adapter: null, why: `Dawn's adapter probe failed${said ? `: ${said}` : ''}` });
      }
      resolve({ adapter: null, why: noneFound() });
    });
  });
}

function noneFound(): string {
  const icd = process.env.VK_ICD_FILENAMES;
  return `Dawn found none on Vulkan${icd ? ` with VK_ICD_FILENAMES=${icd}` : ', VK_ICD_FILENAMES unset'}`;
}

/**
 * Sets `navigator.gpu` from Dawn (once per process) and asks it for an adapter (high performance).
 * `missing` when the `webgpu` package cannot load; `adapter: null` with what was found when Dawn has none.
 * `acceptable(adapter)` false (auto: a software adapter) returns the adapter without starting Dawn here.
 */
export async function requestAdapter(
  importModule: (specifier: string) => Promise<unknown>,
  { isolated = false, acceptable = () => true }: { isolated?: boolean; acceptable?: (a: AdapterInfo) => boolean } = {},
): Promise<Found> {
  if (gpu === undefined) {
    let dawn: { create(flags: string[]): typeof gpu; globals: object };
    try {
      dawn = (await importModule('webgpu')) as typeof dawn;
    } catch (error) {
      return { missing: `the package webgpu (Dawn) is not installed or failed to load (${(error instanceof Error ? error.message : String(error)).split('\n')[0]})` };
    }
    if (isolated) {
      const probed = await probeAdapter();
      if (probed.adapter === null || !acceptable(probed.adapter)) return probed;
    }
    Object.assign(globalThis, dawn.globals);
    const g = globalThis as { navigator?: { gpu?: unknown } };
    if (g.navigator === undefined) Object.defineProperty(globalThis, 'navigator', { value: {}, writable: true, configurable: true });
    gpu = dawn.create([]);
    g.navigator!.gpu = gpu;
  }
  const adapter = (await gpu!.requestAdapter({ powerPreference: 'high-performance' })) as { info?: Record<string, unknown> } | null;
  if (adapter === null) return { adapter: null, why: noneFound() };
  return { adapter: adapterInfo(adapter.info ?? {}), why: '' };
}

/** AdapterInfo from a GPUAdapterInfo (whose fields are getters: copy them). */
export function adapterInfo(info: Record<string, unknown>): AdapterInfo {
  const text = (key: string) => (typeof info[key] === 'string' ? (info[key] as string) : '');
  return {
    vendor: text('vendor'),
    architecture: text('architecture'),
    device: text('device'),
    driver: text('description'),
    fallback: info.isFallbackAdapter === true || text('architecture') === 'software',
  };
}

/** `mesa software llvmpipe-… (llvmpipe: Mesa 25.0.7 …; fallback)`. */
export function describeAdapter(a: AdapterInfo): string {
  const what = [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'unnamed adapter';
  return `${what} (${[a.driver, a.fallback ? 'software/fallback adapter' : ''].filter(Boolean).join('; ') || 'no driver description'})`;
}

let deviceError: string | undefined;

/**
 * Records the first error the GPU device reports outside any error scope (a shader that fails validation,
 * out of memory). WebGPU reports these asynchronously and drops the failed work, so without this a step could
 * silently lose its update; the loop fails the run with it instead (takeDeviceError).
 */
export function watchDeviceErrors(device: unknown): void {
  const target = device as { addEventListener?(type: string, listener: (event: { error?: { message?: string } }) => void): void } | undefined;
  target?.addEventListener?.('uncapturederror', (event) => {
    deviceError ??= (event.error?.message ?? 'unknown GPU error').split('\n')[0];
  });
}

/** The first uncaptured GPU error since the last call, or undefined. */
export function takeDeviceError(): string | undefined {
  const error = deviceError;
  deviceError = undefined;
  return error;
}
