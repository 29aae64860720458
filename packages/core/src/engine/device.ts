/**
 * Adapter and device acquisition. Browser code reaches `navigator.gpu`; Node code reaches Dawn through
 * `./node.ts`, which registers an {@link AdapterSource} here. This module never imports `webgpu` itself,
 * so browser bundles never see it.
 */

/** Which WebGPU implementation/backend to use. `auto` picks the best available. */
export type Backend = 'auto' | 'browser' | 'default' | 'vulkan' | 'opengles' | 'swiftshader' | 'd3d12' | 'metal';

/** WebGPU feature level: `core` (full WebGPU) or `compatibility` (OpenGL ES class hardware/drivers). */
export type FeatureLevel = 'core' | 'compatibility';

export interface DeviceOptions {
  /** Force a backend. In Node the env var `SCRATCHGPT_BACKEND` does the same. Default `auto`. */
  backend?: Backend;
  /** Force a feature level (default: what the backend does best). */
  featureLevel?: FeatureLevel;
  powerPreference?: GPUPowerPreference;
}

/** One adapter request to try, produced by an {@link AdapterSource}. */
export interface AdapterCandidate {
  /** Human-readable name of the path, e.g. `dawn opengles (compat)`. */
  label: string;
  gpu: GPU;
  options: GPURequestAdapterOptions;
  /** Runs just before this candidate's adapter is requested (not when an earlier candidate succeeds). */
  prepare?: () => void;
}

/** Produces the adapter requests to try, best first (the Node entry registers one). */
export type AdapterSource = (options: DeviceOptions) => AdapterCandidate[];

/** A ready device plus what the library needs to know about it. */
export interface Gpu {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  /** Which path produced the adapter (`browser`, `dawn opengles (compat)`, ...). */
  readonly backend: string;
  /** Adapter name as reported by the driver, e.g. `llvmpipe ...` or `SwiftShader Device`. */
  readonly adapterName: string;
  readonly featureLevel: FeatureLevel;
  readonly limits: GPUSupportedLimits;
  readonly features: ReadonlySet<string>;
}

/** Limits we ask for at the adapter's maximum (compat devices default to tiny values). */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxUniformBufferBindingSize',
  'maxBindGroups',
] as const;

const OPTIONAL_FEATURES = ['timestamp-query', 'subgroups', 'shader-f16'] as const;

let adapterSource: AdapterSource | null = null;
let defaultBackend: () => Backend = () => 'auto';
let current: Gpu | null = null;
let pending: Promise<Gpu> | null = null;

/**
 * Registers where adapters come from outside the browser (used by `@scratchgpt/core/node`), and
 * optionally the backend used when `init()` names none (Node: env `SCRATCHGPT_BACKEND`).
 */
export function setAdapterSource(source: AdapterSource, backendDefault?: () => Backend): void {
  adapterSource = source;
  if (backendDefault) defaultBackend = backendDefault;
}

function browserCandidates(options: DeviceOptions): AdapterCandidate[] {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (!nav?.gpu) return [];
  const level = options.featureLevel;
  const base: GPURequestAdapterOptions = { powerPreference: options.powerPreference ?? 'high-performance' };
  const tries: AdapterCandidate[] = [];
  if (level !== 'compatibility') tries.push({ label: 'browser', gpu: nav.gpu, options: base });
  if (level !== 'core') {
    tries.push({ label: 'browser (compat)', gpu: nav.gpu, options: { ...base, featureLevel: 'compatibility' } as GPURequestAdapterOptions });
  }
  return tries;
}

function adapterName(adapter: GPUAdapter): string {
  const info = adapter.info as GPUAdapterInfo | undefined;
  if (!info) return 'unknown adapter';
  const parts = [info.description, info.device, info.vendor, info.architecture].filter((s) => s && s.length > 0);
  return parts.length > 0 ? [...new Set(parts)].join(' / ') : 'unknown adapter';
}

async function acquire(options: DeviceOptions): Promise<Gpu> {
  const backend = options.backend ?? defaultBackend();
  const resolved: DeviceOptions = { ...options, backend };
  const candidates =
    backend === 'browser' || !adapterSource
      ? browserCandidates(resolved)
      : [...adapterSource(resolved), ...(backend === 'auto' ? browserCandidates(resolved) : [])];
  const failures: string[] = [];
  for (const candidate of candidates) {
    let adapter: GPUAdapter | null = null;
    try {
      candidate.prepare?.();
      adapter = await candidate.gpu.requestAdapter(candidate.options);
    } catch (err) {
      failures.push(`${candidate.label}: ${(err as Error).message}`);
      continue;
    }
    if (!adapter) {
      failures.push(`${candidate.label}: no adapter`);
      continue;
    }
    const requiredLimits: Record<string, number> = {};
    for (const key of WANTED_LIMITS) {
      const value = (adapter.limits as unknown as Record<string, number | undefined>)[key];
      if (typeof value === 'number') requiredLimits[key] = value;
    }
    const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter!.features.has(f)) as GPUFeatureName[];
    const isCore = adapter.features.has('core-features-and-limits');
    if (isCore) requiredFeatures.push('core-features-and-limits' as GPUFeatureName);
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'scratchgpt' });
    device.lost.then((info) => {
      if (info.reason !== 'destroyed') console.error(`scratchgpt: WebGPU device lost (${info.reason}): ${info.message}`);
      if (current?.device === device) current = null;
    });
    return {
      device,
      adapter,
      backend: candidate.label,
      adapterName: adapterName(adapter),
      featureLevel: isCore ? 'core' : 'compatibility',
      limits: device.limits,
      features: new Set(device.features as unknown as Iterable<string>),
    };
  }
  const hint =
    adapterSource === null && !(globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu
      ? 'This environment has no navigator.gpu. In Node, import "@scratchgpt/core/node" (needs the npm package "webgpu").'
      : 'On Linux without a GPU install a software adapter: `apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri libegl-dev` ' +
        '(Mesa llvmpipe through OpenGL ES) or `apt-get install chromium-common libvulkan1` (SwiftShader Vulkan). ' +
        'In a browser, use one with WebGPU enabled (Chrome/Edge 113+, or --enable-unsafe-webgpu).';
  throw new Error(`scratchgpt: no WebGPU adapter found (backend '${backend}'). Tried: ${failures.join('; ') || 'nothing'}. ${hint}`);
}

/**
 * Initialises the library's GPU (once; later calls return the same one unless it was lost or reset).
 * @example
 * ```ts
 * import { init } from '@scratchgpt/core/node'; // or '@scratchgpt/core' in a browser
 * const gpu = await init();
 * console.log(gpu.adapterName, gpu.featureLevel);
 * ```
 */
export async function init(options: DeviceOptions = {}): Promise<Gpu> {
  if (current) return current;
  if (!pending) {
    pending = acquire(options).then(
      (gpu) => {
        current = gpu;
        pending = null;
        return gpu;
      },
      (err) => {
        pending = null;
        throw err;
      },
    );
  }
  return pending;
}

/** Returns a ready `GPUDevice` (initialising the library's GPU if needed). */
export async function getDevice(options: DeviceOptions = {}): Promise<GPUDevice> {
  return (await init(options)).device;
}

/** The initialised GPU; throws a clear error if `init()` has not completed. */
export function gpu(): Gpu {
  if (!current) throw new Error('scratchgpt: GPU not initialised — call `await init()` first.');
  return current;
}

/** Destroys the current device (all tensors become invalid); the next `init()` acquires a new one. */
export function destroyGpu(): void {
  if (current) {
    const { device } = current;
    current = null;
    device.destroy();
  }
}

/** `GPUBufferUsage` values from the spec (Node has no such global). */
export const BufferUsage = {
  MAP_READ: 0x1,
  MAP_WRITE: 0x2,
  COPY_SRC: 0x4,
  COPY_DST: 0x8,
  UNIFORM: 0x40,
  STORAGE: 0x80,
} as const;

/** `GPUMapMode` values from the spec. */
export const MapMode = { READ: 0x1, WRITE: 0x2 } as const;
