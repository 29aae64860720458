/**
 * Adapter and device acquisition. Browser code reaches `navigator.gpu`; Node code reaches Dawn through
 * `./node.ts` (picked by the package's `node` export condition), which registers an {@link AdapterSource}
 * here. This module never imports `webgpu` itself, so browser bundles never see it.
 */
import { VERSION } from './version';
import { registerCopy, otherInitialisedCopies, type LoadedCopy } from './copies';
import { ScratchGPTError } from './errors';
import { clearLastLoss, lastLoss, markLost } from './lost';
import { logMessage, setLog, type LogSetting } from './log';

/**
 * The WebGPU types the public API names (`GPUDevice`, `GPUBuffer`, ...), declared as empty global
 * interfaces. Interfaces merge: where a project has WebGPU's types — TypeScript's DOM library from 6.0
 * on, or `@webgpu/types` in `compilerOptions.types` — these add nothing and the full types apply; in a
 * Node-only project (`lib: ["es2022"]`, no DOM) they stand in, so the published declarations type-check
 * with `skipLibCheck: false` everywhere. (Referencing `@webgpu/types` from the declarations instead
 * would break both: it needs DOM types, and it clashes with the DOM library's own WebGPU types.)
 * Only interfaces belong here: type aliases (`GPUPowerPreference`, ...) cannot merge, so the API spells
 * those out.
 */
declare global {
  interface GPU {}
  interface GPUAdapter {}
  interface GPUBuffer {}
  interface GPUDevice {}
  interface GPURequestAdapterOptions {}
  interface GPUSupportedLimits {}
}

/** Which WebGPU implementation/backend to use. `auto` picks the best available. */
export type Backend = 'auto' | 'browser' | 'default' | 'vulkan' | 'opengles' | 'swiftshader' | 'lavapipe' | 'd3d12' | 'metal';

/** WebGPU feature level: `core` (full WebGPU) or `compatibility` (OpenGL ES class hardware/drivers). */
export type FeatureLevel = 'core' | 'compatibility';

export interface DeviceOptions {
  /** Force a backend. In Node the env var `SCRATCHGPT_BACKEND` does the same. Default `auto`. */
  backend?: Backend;
  /** Force a feature level (default: what the backend does best). */
  featureLevel?: FeatureLevel;
  /** Which adapter to prefer where there are several (WebGPU's `GPUPowerPreference`). */
  powerPreference?: 'low-power' | 'high-performance';
  /**
   * What the library logs: a threshold (`'warn'` by default: only its own warnings and errors; `'debug'`
   * adds the adapter search and Dawn's native notices; `'silent'`), or a function receiving every message.
   * In Node the env var `SCRATCHGPT_LOG` sets the threshold when this is not given.
   */
  log?: LogSetting;
}

/** One adapter request to try, produced by an {@link AdapterSource}. */
export interface AdapterCandidate {
  /** Human-readable name of the path, e.g. `dawn opengles (compat)`. */
  label: string;
  gpu: GPU;
  options: GPURequestAdapterOptions;
  /** Runs just before this candidate's adapter is requested (not when an earlier candidate succeeds). */
  prepare?: () => void;
  /**
   * Makes the adapter request (`request` calls `gpu.requestAdapter`); Node uses it to route what Dawn
   * prints natively while it discovers adapters into the log. Default: call `request()`.
   */
  around?: (request: () => Promise<GPUAdapter | null>) => Promise<GPUAdapter | null>;
  /** Why this candidate is not tried at all (e.g. no Vulkan driver is installed); logged at debug level. */
  skip?: string;
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

const thisCopy: LoadedCopy = { version: VERSION, url: import.meta.url, initialised: () => current !== null };
registerCopy(thisCopy);

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
    if (candidate.skip !== undefined) {
      failures.push(`${candidate.label}: skipped (${candidate.skip})`);
      logMessage('debug', `scratchgpt: adapter ${candidate.label}: skipped (${candidate.skip})`);
      continue;
    }
    let adapter: GPUAdapter | null = null;
    try {
      candidate.prepare?.();
      const request = () => candidate.gpu.requestAdapter(candidate.options);
      adapter = await (candidate.around ? candidate.around(request) : request());
    } catch (err) {
      failures.push(`${candidate.label}: ${(err as Error).message}`);
      logMessage('debug', `scratchgpt: adapter ${candidate.label}: ${(err as Error).message}`);
      continue;
    }
    if (!adapter) {
      failures.push(`${candidate.label}: no adapter`);
      logMessage('debug', `scratchgpt: adapter ${candidate.label}: no adapter`);
      continue;
    }
    return openDevice(candidate, adapter);
  }
  throw noAdapterError(backend, failures);
}

/** Creates the library's device on `adapter`, with the adapter's own limits and the optional features it has. */
async function openDevice(candidate: AdapterCandidate, adapter: GPUAdapter): Promise<Gpu> {
  const requiredLimits: Record<string, number> = {};
  for (const key of WANTED_LIMITS) {
    const value = (adapter.limits as unknown as Record<string, number | undefined>)[key];
    if (typeof value === 'number') requiredLimits[key] = value;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const isCore = adapter.features.has('core-features-and-limits');
  if (isCore) requiredFeatures.push('core-features-and-limits' as GPUFeatureName);
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'scratchgpt' });
  device.lost.then((info) => {
    markLost(device, info.reason, info.message);
    if (info.reason !== 'destroyed') logMessage('error', `scratchgpt: WebGPU device lost (${info.reason}): ${info.message}`);
    if (current?.device === device) current = null;
  });
  logMessage('info', `scratchgpt: using ${adapterName(adapter)} through ${candidate.label} (${isCore ? 'core' : 'compatibility'})`);
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

function noAdapterError(backend: Backend, failures: string[]): Error {
  const hint =
    adapterSource === null && !(globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu
      ? 'This environment has no navigator.gpu. In Node, `@scratchgpt/core` (its `node` export condition) uses Dawn from the npm package "webgpu": ' +
        'install it (`npm install webgpu`); a bundle for Node must keep that condition (esbuild: --platform=node).'
      : 'On Linux without a GPU install a software adapter: `apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri libegl-dev` ' +
        '(Mesa llvmpipe through OpenGL ES) or `apt-get install chromium-common libvulkan1` (SwiftShader Vulkan). ' +
        'In a browser, use one with WebGPU enabled (Chrome/Edge 113+, or --enable-unsafe-webgpu).';
  return new ScratchGPTError('device',
    `scratchgpt: no WebGPU adapter found (backend '${backend}'). Tried: ${failures.join('; ') || 'nothing'}. ${hint} ` +
      "init({ log: 'debug' }) (in Node also env SCRATCHGPT_LOG=debug) shows what each backend said.",
  );
}

/**
 * Initialises the library's GPU (once; later calls return the same one unless it was lost or reset).
 * Call it before creating tensors or models: acquiring a device is asynchronous, creating a tensor is not.
 * The same import works in Node (Dawn, from the npm package `webgpu`) and in browsers (`navigator.gpu`).
 * @example
 * ```ts
 * import { init } from '@scratchgpt/core';
 * const gpu = await init(); // init({ log: 'debug' }) shows the adapter search
 * console.log(gpu.adapterName, gpu.featureLevel);
 * ```
 */
export async function init(options: DeviceOptions = {}): Promise<Gpu> {
  if (options.log !== undefined) setLog(options.log);
  if (current) return current;
  if (!pending) {
    pending = acquire(options).then(
      (gpu) => {
        current = gpu;
        pending = null;
        clearLastLoss();
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
  if (!current) {
    const loss = lastLoss();
    if (loss !== null && !pending) {
      throw new ScratchGPTError('device',
        `scratchgpt: the GPU device was lost (${loss}); call \`await init()\` again for a new device, ` +
          'then recreate tensors, models and optimizers (reload weights from a checkpoint)',
      );
    }
    throw new ScratchGPTError('state',
      'scratchgpt: no GPU yet — call `await init()` once before creating tensors or models ' +
        "(`import { init } from '@scratchgpt/core'`, the same import in Node and browsers; @scratchgpt/gpt re-exports it)." +
        (pending ? ' An init() is still in progress: await it.' : '') +
        otherInitialisedCopies(thisCopy),
    );
  }
  return current;
}

/** Destroys the current device (all tensors become invalid); the next `init()` acquires a new one. */
export function destroyGpu(): void {
  if (current) {
    const { device } = current;
    current = null;
    markLost(device, 'destroyed', 'destroyGpu() was called');
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
