/**
 * Fused optimizer updates on the `webgpu` backend: compute passes written in WGSL, recorded into the
 * tfjs-backend-webgpu command stream between its own programs.
 *
 * Why not `backend.runWebGPUProgram`: a tfjs WebGPUProgram has exactly one output, and an update makes two to
 * four (the parameter and each state tensor), so through it every update would read its inputs once per output.
 * A pass here binds any number of inputs (read) and fresh outputs (read_write) and is recorded exactly as
 * `runWebGPUProgram` records a program (the backend's encoder and compute pass, its uniform buffers, its
 * deferred-submit batching and its rules for releasing buffers still in the queue), so the order with the
 * backend's own work is the order of the calls. Outputs are new tensors the backend allocated; no pass writes
 * into its inputs (the adapter `assign`s the outputs, as on cpu and wasm).
 *
 * A WGSL shader gets at most 8 storage buffers (WebGPU's default `maxStorageBuffersPerShaderStage`, which
 * tfjs-backend-webgpu does not raise): every pass stays within it.
 *
 * Pipelines are cached per device by their WGSL text; `dispatchCounts` counts the passes run, by name, so that
 * tests and benchmarks can tell that the fused path ran.
 */
import * as tf from '../tf.js';

/** Invocations per workgroup of every pass. */
export const WORKGROUP = 64;
/** WebGPU's guaranteed `maxComputeWorkgroupsPerDimension`. */
const MAX_GROUPS_PER_DIMENSION = 65535;
/** Storage buffers a shader may bind (inputs and outputs together). */
export const MAX_STORAGE_BUFFERS = 8;

type Scalar = ['f32' | 'u32', number];

/** One compute pass: what it reads, what it writes, its scalars, its size and its WGSL. */
export interface GpuPass {
  /** Names the pass in `dispatchCounts` (`lion`, `adafactor.factors`, …). */
  name: string;
  /** Read-only float32 buffers, by the name the WGSL uses. */
  inputs: Record<string, tf.TensorInfo>;
  /** New float32 tensors written by the pass, by name, with their shapes (returned in this order). */
  outputs: Record<string, number[]>;
  /** The members of the uniform struct `u`, in order. */
  uniforms: Record<string, Scalar>;
  /**
   * Invocations to launch (the body gets `i`, the global invocation index, and must ignore i past its work);
   * `'one-workgroup'` launches a single workgroup (the body gets `lid`, for reductions with barriers).
   */
  threads: number | 'one-workgroup';
  /** Module-scope declarations (workgroup arrays, helper functions). */
  declarations?: string;
  /** The body of `main`: WGSL statements. */
  body: string;
}

/** Runs passes on the current webgpu backend; what an update rule's `webgpu` member gets. */
export interface GpuRunner {
  /** Records `pass`; returns its outputs in the order of `pass.outputs`. */
  run(pass: GpuPass): tf.TensorInfo[];
  /** Frees an intermediate output once the passes that read it are recorded. */
  release(t: tf.TensorInfo): void;
}

// The parts of tfjs-backend-webgpu's WebGPUBackend (4.22) this module uses.
interface GpuComputePass {
  setPipeline(pipeline: unknown): void;
  setBindGroup(index: number, group: unknown): void;
  dispatchWorkgroups(x: number, y: number, z: number): void;
}
interface GpuDevice {
  createShaderModule(descriptor: { code: string; label?: string }): unknown;
  createComputePipeline(descriptor: { layout: 'auto'; compute: { module: unknown; entryPoint: string }; label?: string }): {
    getBindGroupLayout(index: number): unknown;
  };
  createBindGroup(descriptor: { layout: unknown; entries: Array<{ binding: number; resource: unknown }> }): unknown;
}
interface WebGPUBackendInternals {
  device: GpuDevice;
  commandEncoder: { beginComputePass(descriptor: object): GpuComputePass & { end(): void } } | null;
  computePassEncoder: (GpuComputePass & { end(): void }) | null;
  dispatchCountInPass: number;
  commandQueueOwnedIds: WeakSet<object>;
  activeTimers: unknown;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  uploadToGPU(dataId: tf.DataId): void;
  tensorToBinding(t: tf.TensorInfo): unknown;
  makeUniforms(uniforms: Array<{ type: 'float32' | 'uint32'; data: number[] }>): unknown;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

const counts = new Map<string, number>();

/** Passes run so far, by pass name (`lion`, `adamw`, `adafactor.factors`, …). */
export function dispatchCounts(): Record<string, number> {
  return Object.fromEntries(counts);
}

const pipelines = new WeakMap<object, Map<string, ReturnType<GpuDevice['createComputePipeline']>>>();

/** The whole WGSL module of a pass: its bindings, its uniform struct, and `main` around the body. */
export function shaderOf(pass: GpuPass): string {
  const inputs = Object.keys(pass.inputs);
  const outputs = Object.keys(pass.outputs);
  if (inputs.length + outputs.length > MAX_STORAGE_BUFFERS) {
    throw new Error(`webgpu pass ${pass.name}: ${inputs.length + outputs.length} storage buffers, a shader may bind ${MAX_STORAGE_BUFFERS}`);
  }
  const members = Object.entries(pass.uniforms).map(([name, [type]]) => `  ${name}: ${type},`);
  const bindings = [
    ...inputs.map((name, i) => `@group(0) @binding(${i}) var<storage, read> ${name}: array<f32>;`),
    ...outputs.map((name, i) => `@group(0) @binding(${inputs.length + i}) var<storage, read_write> ${name}: array<f32>;`),
    `@group(0) @binding(${inputs.length + outputs.length}) var<uniform> u: Uniforms;`,
  ];
  return [
    `struct Uniforms {\n${members.join('\n')}\n};`,
    ...bindings,
    pass.declarations ?? '',
    `@compute @workgroup_size(${WORKGROUP})`,
    'fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {',
    `  let i = (wid.y * nwg.x + wid.x) * ${WORKGROUP}u + lid;`,
    pass.body,
    '}',
  ].join('\n');
}

function pipelineFor(device: GpuDevice, pass: GpuPass, code: string) {
  let cache = pipelines.get(device);
  if (cache === undefined) pipelines.set(device, (cache = new Map()));
  let pipeline = cache.get(code);
  if (pipeline === undefined) {
    const label = `LionTrain.${pass.name}`;
    pipeline = device.createComputePipeline({ layout: 'auto', label, compute: { module: device.createShaderModule({ code, label }), entryPoint: 'main' } });
    cache.set(code, pipeline);
  }
  return pipeline;
}

/** Workgroups for `threads` invocations, as [x, y] within the per-dimension limit. */
export function workgroupsFor(threads: number | 'one-workgroup'): [number, number] {
  if (threads === 'one-workgroup') return [1, 1];
  const groups = Math.max(1, Math.ceil(threads / WORKGROUP));
  const x = Math.min(groups, MAX_GROUPS_PER_DIMENSION);
  const y = Math.ceil(groups / x);
  if (y > MAX_GROUPS_PER_DIMENSION) throw new Error(`webgpu: ${threads} invocations are more than one dispatch can launch`);
  return [x, y];
}

/** A runner on `backend` (the webgpu backend a kernel function is given). */
export function gpuRunner(backend: unknown): GpuRunner {
  const b = backend as WebGPUBackendInternals;
  return {
    run(pass: GpuPass): tf.TensorInfo[] {
      const code = shaderOf(pass);
      const pipeline = pipelineFor(b.device, pass, code);
      const inputs = Object.values(pass.inputs);
      for (const t of inputs) b.uploadToGPU(t.dataId);
      const outputs = Object.values(pass.outputs).map((shape) => {
        const t = b.makeTensorInfo(shape.slice(), 'float32');
        b.uploadToGPU(t.dataId);
        return t;
      });
      const uniforms = b.makeUniforms(
        Object.values(pass.uniforms).map(([type, value]) => ({ type: type === 'f32' ? 'float32' : 'uint32', data: [value] })),
      );
      const resources = [...inputs, ...outputs].map((t) => b.tensorToBinding(t));
      const bindGroup = b.device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [...resources, uniforms].map((resource, binding) => ({ binding, resource })),
      });
      // As runWebGPUProgram records a program: buffers the queue uses are released only after the next submit.
      for (const t of [...inputs, ...outputs]) b.commandQueueOwnedIds.add(t.dataId);
      b.ensureCommandEncoderReady();
      if (b.computePassEncoder === null) b.computePassEncoder = b.commandEncoder!.beginComputePass({});
      const [x, y] = workgroupsFor(pass.threads);
      b.computePassEncoder.setPipeline(pipeline);
      b.computePassEncoder.setBindGroup(0, bindGroup);
      b.computePassEncoder.dispatchWorkgroups(x, y, 1);
      b.dispatchCountInPass++;
      counts.set(pass.name, (counts.get(pass.name) ?? 0) + 1);
      // tf.time / tf.profile time each program in a pass of its own: end ours so their next pass can begin.
      if (b.activeTimers != null || (tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number) <= b.dispatchCountInPass) {
        b.endComputePassEncoder();
        b.submitQueue();
      }
      return outputs;
    },
    release(t: tf.TensorInfo): void {
      b.disposeData(t.dataId);
    },
  };
}

/** A float32 scalar for a uniform (the value the GPU will see). */
export const f32 = (value: number): Scalar => ['f32', Math.fround(value)];
/** A u32 for a uniform. */
export const u32 = (value: number): Scalar => ['u32', value];
