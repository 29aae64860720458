/**
 * Kernels: a WGSL source with one or more entry points, compiled once per (entry, override constants)
 * and cached — never per shape: shapes travel in uniforms. Binding 0 is the uniform block, bindings
 * 1..n are storage buffers in the order given. This is the mechanism built-in ops use, and the public
 * API for user kernels.
 */
import { gpu } from './device';
import { recordDispatch, stageUniforms } from './queue';
import type { Tensor } from './tensor';

/** Largest tensor rank supported by the generic (shape-in-uniforms) kernels. */
export const MAX_RANK = 8;

/** A WGSL module registered with the library. */
export interface Kernel {
  readonly name: string;
  readonly source: string;
  /** Bindings declared in group 0 (every entry point of the module shares one layout). */
  readonly bindings: readonly KernelBinding[];
}

/** A `@group(0) @binding(n) var<...>` declaration. */
export interface KernelBinding {
  binding: number;
  type: 'uniform' | 'storage' | 'read-only-storage';
}

interface DeviceCache {
  modules: Map<string, GPUShaderModule>;
  layouts: Map<string, GPUBindGroupLayout>;
  pipelines: Map<string, GPUComputePipeline>;
  /** Placeholder buffers for bindings an entry point does not use (one per binding slot). */
  placeholders: Map<string, GPUBuffer>;
}

/** Reads the group-0 binding declarations of a WGSL module. */
export function parseBindings(name: string, source: string): KernelBinding[] {
  const code = source.replace(/\/\/[^\n]*/g, '');
  const found = new Map<number, KernelBinding>();
  for (const match of code.matchAll(/((?:@\w+\s*\(\s*\w+\s*\)\s*)+)var\s*<([^>]*)>/g)) {
    const attrs = match[1];
    const binding = /@binding\s*\(\s*(\d+)\s*\)/.exec(attrs);
    const group = /@group\s*\(\s*(\d+)\s*\)/.exec(attrs);
    if (!binding || (group && group[1] !== '0')) continue;
    const [space, access] = match[2].split(',').map((p) => p.trim());
    const type = space === 'uniform' ? 'uniform' : access === 'read_write' ? 'storage' : 'read-only-storage';
    const index = Number(binding[1]);
    if (found.has(index)) throw new Error(`scratchgpt: kernel '${name}' declares @binding(${index}) twice`);
    found.set(index, { binding: index, type });
  }
  return [...found.values()].sort((a, b) => a.binding - b.binding);
}

const caches = new WeakMap<GPUDevice, DeviceCache>();
const kernelsByName = new Map<string, Kernel>();

/**
 * Registers a WGSL kernel. Names must be unique (they key the pipeline cache).
 * @example
 * ```ts
 * const scale = defineKernel('user_scale', `
 *   struct P { n: u32, s: f32 }
 *   @group(0) @binding(0) var<uniform> p: P;
 *   @group(0) @binding(1) var<storage, read> x: array<f32>;
 *   @group(0) @binding(2) var<storage, read_write> y: array<f32>;
 *   @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
 *     if (g.x < p.n) { y[g.x] = x[g.x] * p.s; }
 *   }`);
 * ```
 */
export function defineKernel(name: string, source: string): Kernel {
  const existing = kernelsByName.get(name);
  if (existing) {
    if (existing.source !== source) throw new Error(`scratchgpt: a different kernel named '${name}' is already defined`);
    return existing;
  }
  const kernel = { name, source, bindings: parseBindings(name, source) };
  kernelsByName.set(name, kernel);
  return kernel;
}

/** A storage binding: a whole tensor, or a byte range of one (offset aligned to the device's minStorageBufferOffsetAlignment). */
export type StorageBinding = Tensor | { tensor: Tensor; offset: number; size: number };

export interface DispatchOptions {
  /** Entry point (default `main`). */
  entry?: string;
  /** Values for WGSL `override` constants (dtype/rank/op codes): part of the pipeline key. */
  constants?: Record<string, number | boolean>;
  /** Uniform block for `@binding(0)`. */
  uniforms?: Uniforms | ArrayBuffer;
  /** Storage buffers for `@binding(1)`, `@binding(2)`, ...; `null` leaves a binding number unused. */
  storage: (StorageBinding | null)[];
  /** Workgroup counts; use {@link grid} for a 1-D problem of any size. */
  workgroups: readonly [number, number?, number?] | number;
}

function cacheFor(device: GPUDevice): DeviceCache {
  let cache = caches.get(device);
  if (!cache) caches.set(device, (cache = { modules: new Map(), layouts: new Map(), pipelines: new Map(), placeholders: new Map() }));
  return cache;
}

function pipelineFor(kernel: Kernel, entry: string, constants: Record<string, number | boolean> | undefined): GPUComputePipeline {
  const { device } = gpu();
  const cache = cacheFor(device);
  const constantKey = constants
    ? Object.keys(constants)
        .sort()
        .map((k) => `${k}=${Number(constants[k])}`)
        .join(',')
    : '';
  const key = `${kernel.name}:${entry}:${constantKey}`;
  let pipeline = cache.pipelines.get(key);
  if (!pipeline) {
    let module = cache.modules.get(kernel.name);
    if (!module) {
      module = device.createShaderModule({ code: kernel.source, label: kernel.name });
      cache.modules.set(kernel.name, module);
    }
    const numeric = constants
      ? Object.fromEntries(Object.entries(constants).map(([k, v]) => [k, Number(v)]))
      : undefined;
    pipeline = device.createComputePipeline({
      label: key,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layoutFor(kernel)] }),
      compute: { module, entryPoint: entry, constants: numeric },
    });
    cache.pipelines.set(key, pipeline);
  }
  return pipeline;
}

/** One explicit layout per kernel: entry points that skip a binding still share it (unlike `layout: 'auto'`). */
function layoutFor(kernel: Kernel): GPUBindGroupLayout {
  const { device } = gpu();
  const cache = cacheFor(device);
  let layout = cache.layouts.get(kernel.name);
  if (!layout) {
    layout = device.createBindGroupLayout({
      label: kernel.name,
      entries: kernel.bindings.map(({ binding, type }) => ({ binding, visibility: 0x4 /* COMPUTE */, buffer: { type } })),
    });
    cache.layouts.set(kernel.name, layout);
  }
  return layout;
}

/** A small zeroed buffer standing in for a binding the dispatched entry point does not use. */
function placeholder(binding: KernelBinding): GPUBufferBinding {
  const { device } = gpu();
  const cache = cacheFor(device);
  const key = `${binding.type}:${binding.binding}`;
  let buffer = cache.placeholders.get(key);
  if (!buffer) {
    const usage = binding.type === 'uniform' ? 0x40 /* UNIFORM */ : 0x80 /* STORAGE */;
    buffer = device.createBuffer({ size: 256, usage, label: `placeholder ${key}` });
    cache.placeholders.set(key, buffer);
  }
  return { buffer, offset: 0, size: 256 };
}

/** Number of distinct compiled pipelines (tests use it to prove shapes do not recompile). */
export function pipelineCount(): number {
  return cacheFor(gpu().device).pipelines.size;
}

function storageResource(kernel: Kernel, binding: StorageBinding): GPUBufferBinding {
  const { limits } = gpu();
  const whole = 'buffer' in binding;
  const tensor = whole ? binding : binding.tensor;
  const offset = whole ? 0 : binding.offset;
  const size = whole ? Math.max(4, Math.ceil(binding.byteLength / 4) * 4) : binding.size;
  if (size > limits.maxStorageBufferBindingSize) {
    throw new Error(
      `scratchgpt: kernel '${kernel.name}' would bind ${size} bytes of a tensor of shape [${tensor.shape.join(', ')}], ` +
        `more than this device's maxStorageBufferBindingSize (${limits.maxStorageBufferBindingSize}); this op does not split large tensors`,
    );
  }
  return { buffer: tensor.buffer, offset, size };
}

/** Records one dispatch of `kernel` (submitted at the next flush/readback). */
export function dispatch(kernel: Kernel, options: DispatchOptions): void {
  const { device } = gpu();
  const pipeline = pipelineFor(kernel, options.entry ?? 'main', options.constants);
  const entries: GPUBindGroupEntry[] = [];
  for (const declared of kernel.bindings) {
    const n = declared.binding;
    let resource: GPUBufferBinding;
    if (n === 0 && options.uniforms) {
      const data = options.uniforms instanceof Uniforms ? options.uniforms.toArrayBuffer() : options.uniforms;
      resource = stageUniforms(data);
    } else {
      const given = n > 0 ? options.storage[n - 1] : null;
      resource = given ? storageResource(kernel, given) : placeholder(declared);
    }
    entries.push({ binding: n, resource });
  }
  if (options.storage.length > 0 && !kernel.bindings.some((b) => b.binding === options.storage.length)) {
    throw new Error(`scratchgpt: kernel '${kernel.name}' declares no @binding(${options.storage.length}) but ${options.storage.length} storage buffers were given`);
  }
  const bindGroup = device.createBindGroup({ layout: layoutFor(kernel), entries });
  const wg = typeof options.workgroups === 'number' ? [options.workgroups, 1, 1] : options.workgroups;
  const groups = [wg[0], wg[1] ?? 1, wg[2] ?? 1] as const;
  if (groups[0] === 0 || groups[1] === 0 || groups[2] === 0) return;
  const maxGroups = gpu().limits.maxComputeWorkgroupsPerDimension;
  if (groups.some((g) => g > maxGroups)) {
    throw new Error(`scratchgpt: kernel '${kernel.name}' dispatch [${groups.join(', ')}] exceeds ${maxGroups} workgroups per dimension`);
  }
  recordDispatch(pipeline, bindGroup, groups);
}

/**
 * Workgroup grid for `n` independent items with `workgroupSize` threads each, folded into 2-D when
 * it exceeds the per-dimension limit. In WGSL recover the linear index as
 * `gid.x + gid.y * nwg.x * WG` (`@builtin(num_workgroups) nwg`).
 */
export function grid(n: number, workgroupSize: number): [number, number, number] {
  const groups = Math.ceil(n / workgroupSize);
  const maxX = Math.min(65535, gpu().limits.maxComputeWorkgroupsPerDimension);
  if (groups <= maxX) return [groups, 1, 1];
  const y = Math.ceil(groups / maxX);
  return [Math.ceil(groups / y), y, 1];
}

type Field = { kind: 'u32' | 'i32' | 'f32'; value: number };

/**
 * Builds a uniform block with WGSL layout rules: scalars are 4-byte aligned, `vec4`s and arrays of
 * `vec4` 16-byte aligned, the struct padded to 16 bytes.
 * @example
 * ```ts
 * new Uniforms().u32(n).f32(scale).shape(t.shape) // struct { n: u32, scale: f32, shape: array<vec4u, 2> }
 * ```
 */
export class Uniforms {
  private fields: Field[] = [];

  u32(...values: number[]): this {
    for (const value of values) this.fields.push({ kind: 'u32', value });
    return this;
  }

  i32(...values: number[]): this {
    for (const value of values) this.fields.push({ kind: 'i32', value });
    return this;
  }

  f32(...values: number[]): this {
    for (const value of values) this.fields.push({ kind: 'f32', value });
    return this;
  }

  /** Pads to a 16-byte boundary (start of a vec4 or array of vec4). */
  align16(): this {
    while (this.fields.length % 4 !== 0) this.fields.push({ kind: 'u32', value: 0 });
    return this;
  }

  /** An `array<vec4<u32>, MAX_RANK / 4>` holding `values` (zero-padded), 16-byte aligned. */
  dims(values: readonly number[], fill = 0): this {
    if (values.length > MAX_RANK) throw new Error(`scratchgpt: rank ${values.length} exceeds the maximum of ${MAX_RANK}`);
    this.align16();
    for (let i = 0; i < MAX_RANK; i++) this.fields.push({ kind: 'u32', value: i < values.length ? values[i] : fill });
    return this;
  }

  toArrayBuffer(): ArrayBuffer {
    const words = Math.max(4, Math.ceil(this.fields.length / 4) * 4);
    const buffer = new ArrayBuffer(words * 4);
    const view = new DataView(buffer);
    this.fields.forEach((field, i) => {
      if (field.kind === 'f32') view.setFloat32(i * 4, field.value, true);
      else if (field.kind === 'i32') view.setInt32(i * 4, field.value, true);
      else view.setUint32(i * 4, field.value >>> 0, true);
    });
    return buffer;
  }
}

/** Elements per chunk when an op must split a tensor larger than one storage binding (256-byte aligned). */
export function chunkElements(): number {
  const maxBytes = gpu().limits.maxStorageBufferBindingSize;
  return Math.floor(maxBytes / 256) * 64;
}

/** Splits `n` elements into ranges that each fit one storage binding. */
export function chunks(n: number): { start: number; count: number }[] {
  const per = chunkElements();
  const out: { start: number; count: number }[] = [];
  for (let start = 0; start < n; start += per) out.push({ start, count: Math.min(per, n - start) });
  if (out.length === 0) out.push({ start: 0, count: 0 });
  return out;
}

/** Binding of elements `[start, start + count)` of a tensor (start must come from {@link chunks}). */
export function range(tensor: Tensor, start: number, count: number): StorageBinding {
  return { tensor, offset: start * 4, size: Math.max(4, count * 4) };
}
