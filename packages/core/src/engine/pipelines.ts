/**
 * Compiled state per device, for engine/kernel.ts: shader modules, one explicit bind group layout per
 * kernel, pipelines keyed by (kernel, entry, override constants), and placeholder buffers for
 * bindings an entry point does not use.
 */
import { forgetBuffers } from './bindgroups';
import { BufferUsage, gpu } from './device';
import { ERRORS_BINDING } from './gpuerrors';
import type { Constants, Kernel } from './kernel';
import type { KernelBinding } from './wgsl';

/** `GPUShaderStage` values from the spec (Node has no such global). */
export const ShaderStage = { VERTEX: 0x1, FRAGMENT: 0x2, COMPUTE: 0x4 } as const;

interface DeviceCache {
  modules: Map<string, GPUShaderModule>;
  layouts: Map<string, GPUBindGroupLayout>;
  pipelines: Map<string, GPUComputePipeline>;
  /** Placeholder buffers for bindings an entry point does not use (one per binding slot). */
  placeholders: Map<string, GPUBuffer>;
}

const caches = new WeakMap<GPUDevice, DeviceCache>();

function cacheFor(device: GPUDevice): DeviceCache {
  let cache = caches.get(device);
  if (!cache) {
    // Bind groups of a previous device hold its buffers: drop them.
    forgetBuffers();
    caches.set(device, (cache = { modules: new Map(), layouts: new Map(), pipelines: new Map(), placeholders: new Map() }));
  }
  return cache;
}

export function pipelineFor(kernel: Kernel, entry: string, constants: Constants | undefined): GPUComputePipeline {
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
    const numeric = constants ? Object.fromEntries(Object.entries(constants).map(([k, v]) => [k, Number(v)])) : undefined;
    pipeline = device.createComputePipeline({
      label: key,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layoutFor(kernel)] }),
      compute: { module, entryPoint: entry, constants: numeric },
    });
    cache.pipelines.set(key, pipeline);
  }
  return pipeline;
}

/** The engine's error-report buffer (shaders/errors.wgsl, engine/gpuerrors.ts): bound by the engine, never by callers. */
export function isErrorsBinding(binding: KernelBinding): boolean {
  return binding.name === ERRORS_BINDING && binding.type === 'storage';
}

/** The uniform block at binding 0 takes a dynamic offset into the staging arena (so bind groups can be reused). */
export function isUniformBlock(binding: KernelBinding): boolean {
  return binding.binding === 0 && binding.type === 'uniform';
}

/** One explicit layout per kernel: entry points that skip a binding still share it (unlike `layout: 'auto'`). */
export function layoutFor(kernel: Kernel): GPUBindGroupLayout {
  const { device } = gpu();
  const cache = cacheFor(device);
  let layout = cache.layouts.get(kernel.name);
  if (!layout) {
    layout = device.createBindGroupLayout({
      label: kernel.name,
      entries: kernel.bindings.map((b) => ({
        binding: b.binding,
        visibility: ShaderStage.COMPUTE,
        buffer: { type: b.type, hasDynamicOffset: isUniformBlock(b) },
      })),
    });
    cache.layouts.set(kernel.name, layout);
  }
  return layout;
}

/** A small zeroed buffer standing in for a binding the dispatched entry point does not use. */
export function placeholder(binding: KernelBinding): GPUBufferBinding {
  const { device } = gpu();
  const cache = cacheFor(device);
  const key = `${binding.type}:${binding.binding}`;
  let buffer = cache.placeholders.get(key);
  if (!buffer) {
    const usage = binding.type === 'uniform' ? BufferUsage.UNIFORM : BufferUsage.STORAGE;
    buffer = device.createBuffer({ size: 256, usage, label: `placeholder ${key}` });
    cache.placeholders.set(key, buffer);
  }
  return { buffer, offset: 0, size: 256 };
}

/** Number of distinct compiled pipelines (tests use it to prove shapes do not recompile). */
export function pipelineCount(): number {
  return cacheFor(gpu().device).pipelines.size;
}

