/**
 * Node entry point: the only module that imports the npm package `webgpu` (Dawn). Node resolves
 * `@scratchgpt/core` here through the package's `node` export condition (`@scratchgpt/core/node` is an
 * explicit alias); importing it registers Dawn as the adapter source, then re-exports the whole library.
 *
 * Backend choice (`init({ backend })` or env `SCRATCHGPT_BACKEND`):
 * - `auto` (default): the platform's GPU (Vulkan/Metal/D3D12, core; a software Vulkan driver such as
 *   lavapipe does not count), then on Linux the software adapters: Mesa llvmpipe through OpenGL ES
 *   (compatibility mode; fastest on CPU), then Mesa lavapipe Vulkan (core, shader-f16 and subgroups; Mesa ≥ 24),
 *   then SwiftShader Vulkan.
 * - `default`, `vulkan`, `opengles`, `swiftshader`, `lavapipe`, `d3d12`, `metal`: only that one.
 *
 * Quiet by default: on Linux the platform's Vulkan is only asked when a Vulkan driver is installed, and
 * what Dawn prints natively while it finds adapters goes to the log at debug level (`SCRATCHGPT_LOG=debug`).
 */
import { existsSync } from 'node:fs';
import { create } from 'webgpu';
import { captureNativeStderr, nativeMessages } from './dawn/stderr';
import { hasVulkanDriver } from './dawn/vulkan';
import { setAdapterSource, type AdapterCandidate, type Backend, type DeviceOptions } from './engine/device';
import { ScratchGPTError } from './engine/errors';
import { isLogLevel, logMessage, setDefaultLogSink, setLog, type LogLevel } from './engine/log';

const SWIFTSHADER_ICDS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/usr/share/vulkan/icd.d/vk_swiftshader_icd.json',
];

const gpus = new Map<string, GPU>();

/** One Dawn instance per flag set (creating instances is cheap, but adapters keep them alive). */
function dawn(flags: string[]): GPU {
  const key = flags.join(' ');
  let gpu = gpus.get(key);
  if (!gpu) {
    gpu = create(flags) as unknown as GPU;
    gpus.set(key, gpu);
  }
  return gpu;
}

/** Requests the adapter with Dawn's native output captured into the log (see `dawn/stderr.ts`). */
function quietly(label: string): NonNullable<AdapterCandidate['around']> {
  return (request) => {
    const { result, output } = captureNativeStderr(request);
    for (const message of nativeMessages(output)) logMessage('debug', `scratchgpt: dawn (${label}): ${message}`);
    return result;
  };
}

function setDefaultEnv(name: string, value: string): void {
  if (!process.env[name]) process.env[name] = value;
}

function openGles(options: DeviceOptions): AdapterCandidate {
  // Dawn's GL backend on a headless machine needs a surfaceless EGL platform.
  setDefaultEnv('EGL_PLATFORM', 'surfaceless');
  setDefaultEnv('XDG_RUNTIME_DIR', '/tmp');
  return {
    label: 'dawn opengles (compat)',
    gpu: dawn(['backend=opengles']),
    around: quietly('opengles'),
    options: { featureLevel: 'compatibility', powerPreference: options.powerPreference } as GPURequestAdapterOptions,
  };
}

function swiftShader(): AdapterCandidate | null {
  const icd = process.env.VK_ICD_FILENAMES ?? SWIFTSHADER_ICDS.find((path) => existsSync(path));
  if (!icd) return null;
  return {
    label: 'dawn vulkan (swiftshader)',
    gpu: dawn(['backend=vulkan']),
    around: quietly('swiftshader'),
    options: {},
    // Only when this candidate is tried: the Vulkan loader reads the variable when Dawn enumerates adapters,
    // so setting it earlier would hide the real Vulkan drivers (and llvmpipe's turn) from the candidates before it.
    prepare: () => {
      process.env.VK_ICD_FILENAMES = icd;
    },
  };
}

const LAVAPIPE_ICDS = ['/usr/share/vulkan/icd.d/lvp_icd.json', '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json', '/usr/share/vulkan/icd.d/lvp_icd.aarch64.json'];

/** Mesa lavapipe (Vulkan on the CPU, package `mesa-vulkan-drivers`): core, shader-f16 and subgroups from Mesa 24 on. */
function lavapipe(): AdapterCandidate | null {
  const icd = LAVAPIPE_ICDS.find((path) => existsSync(path));
  if (!icd) return null;
  return {
    label: 'dawn vulkan (lavapipe)',
    gpu: dawn(['backend=vulkan']),
    around: quietly('lavapipe'),
    options: {},
    prepare: () => {
      process.env.VK_ICD_FILENAMES = icd;
    },
  };
}

/** A CPU rasteriser behind the platform's Vulkan (lavapipe): `auto` prefers llvmpipe through OpenGL ES to it. */
function isSoftwareAdapter(adapter: GPUAdapter): boolean {
  const info = adapter.info as GPUAdapterInfo | undefined;
  const text = [info?.description, info?.device, info?.architecture].join(' ');
  return /llvmpipe|lavapipe|softpipe|swiftshader/i.test(text);
}

function hardwareOnly(label: string): NonNullable<AdapterCandidate['around']> {
  const request = quietly(label);
  return async (make) => {
    const adapter = await request(make);
    if (adapter && isSoftwareAdapter(adapter)) {
      logMessage('debug', `scratchgpt: adapter ${label}: a software Vulkan driver (${adapter.info?.description ?? 'unknown'}); trying the other software paths in order`);
      return null;
    }
    return adapter;
  };
}

function nodeCandidates(options: DeviceOptions): AdapterCandidate[] {
  const backend = (options.backend ?? (process.env.SCRATCHGPT_BACKEND as Backend | undefined) ?? 'auto') as Backend;
  const level = options.featureLevel;
  const native = (flags: string[], label: string): AdapterCandidate => ({
    label,
    gpu: dawn(flags),
    around: quietly(label),
    options: {
      powerPreference: options.powerPreference ?? 'high-performance',
      ...(level === 'compatibility' ? { featureLevel: 'compatibility' } : {}),
    } as GPURequestAdapterOptions,
  });
  switch (backend) {
    case 'opengles':
      return [openGles(options)];
    case 'swiftshader': {
      const candidate = swiftShader();
      return candidate ? [candidate] : [];
    }
    case 'lavapipe': {
      const candidate = lavapipe();
      return candidate ? [candidate] : [];
    }
    case 'vulkan':
    case 'd3d12':
    case 'metal':
      return [native([`backend=${backend}`], `dawn ${backend}`)];
    case 'default':
      return [native([], 'dawn')];
    case 'browser':
      return [];
    case 'auto': {
      // Dawn's default backend on Linux is Vulkan: without a driver manifest there is nothing to find,
      // and the loader would only complain ("Found no drivers!"), so go straight to the software paths.
      const platformGpu = native([], 'dawn');
      if (process.platform === 'linux' && !hasVulkanDriver()) platformGpu.skip = 'no Vulkan driver installed';
      if (process.platform === 'linux') platformGpu.around = hardwareOnly('dawn');
      const tries = [platformGpu];
      if (process.platform === 'linux') {
        if (level !== 'core') tries.push(openGles(options));
        const lvp = lavapipe();
        if (lvp) tries.push(lvp);
        const sw = swiftShader();
        if (sw) tries.push(sw);
      }
      return tries;
    }
    default:
      throw new ScratchGPTError('value',
        `scratchgpt: unknown backend '${backend as string}' (expected auto, default, vulkan, opengles, swiftshader, lavapipe, d3d12 or metal)`,
      );
  }
}

setAdapterSource(nodeCandidates, () => (process.env.SCRATCHGPT_BACKEND as Backend | undefined) || 'auto');

// Every level to stderr (stdout stays the program's own output).
setDefaultLogSink((level: LogLevel, message: string) => {
  process.stderr.write(level === 'warn' || level === 'error' ? `${message}\n` : `[${level}] ${message}\n`);
});
const envLog = process.env.SCRATCHGPT_LOG;
if (envLog) {
  if (isLogLevel(envLog)) setLog(envLog);
  else logMessage('warn', `scratchgpt: ignoring SCRATCHGPT_LOG='${envLog}' (expected debug, info, warn, error or silent)`);
}

export * from './index';
