/**
 * Node entry point: the only module that imports the npm package `webgpu` (Dawn). Importing it
 * registers Dawn as the adapter source, then re-exports the whole library.
 *
 * Backend choice (`init({ backend })` or env `SCRATCHGPT_BACKEND`):
 * - `auto` (default): the platform's GPU (Vulkan/Metal/D3D12, core), then on Linux the software
 *   adapters: Mesa llvmpipe through OpenGL ES (compatibility mode; fastest on CPU), then SwiftShader Vulkan.
 * - `default`, `vulkan`, `opengles`, `swiftshader`, `d3d12`, `metal`: only that one.
 */
import { existsSync } from 'node:fs';
import { create } from 'webgpu';
import { setAdapterSource, type AdapterCandidate, type Backend, type DeviceOptions } from './engine/device';

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
    options: { featureLevel: 'compatibility', powerPreference: options.powerPreference } as GPURequestAdapterOptions,
  };
}

function swiftShader(): AdapterCandidate | null {
  const icd = process.env.VK_ICD_FILENAMES ?? SWIFTSHADER_ICDS.find((path) => existsSync(path));
  if (!icd) return null;
  return {
    label: 'dawn vulkan (swiftshader)',
    gpu: dawn(['backend=vulkan']),
    options: {},
    // Only when this candidate is tried: the Vulkan loader reads the variable when Dawn enumerates adapters,
    // so setting it earlier would hide the real Vulkan drivers (and llvmpipe's turn) from the candidates before it.
    prepare: () => {
      process.env.VK_ICD_FILENAMES = icd;
    },
  };
}

function nodeCandidates(options: DeviceOptions): AdapterCandidate[] {
  const backend = (options.backend ?? (process.env.SCRATCHGPT_BACKEND as Backend | undefined) ?? 'auto') as Backend;
  const level = options.featureLevel;
  const native = (flags: string[], label: string): AdapterCandidate => ({
    label,
    gpu: dawn(flags),
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
    case 'vulkan':
    case 'd3d12':
    case 'metal':
      return [native([`backend=${backend}`], `dawn ${backend}`)];
    case 'default':
      return [native([], 'dawn')];
    case 'browser':
      return [];
    case 'auto': {
      const tries = [native([], 'dawn')];
      if (process.platform === 'linux') {
        if (level !== 'core') tries.push(openGles(options));
        const sw = swiftShader();
        if (sw) tries.push(sw);
      }
      return tries;
    }
    default:
      throw new Error(
        `scratchgpt: unknown backend '${backend as string}' (expected auto, default, vulkan, opengles, swiftshader, d3d12 or metal)`,
      );
  }
}

setAdapterSource(nodeCandidates, () => (process.env.SCRATCHGPT_BACKEND as Backend | undefined) || 'auto');

export * from './index';
