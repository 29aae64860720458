/**
 * Each software WebGPU path in Node, through the built Node entry (packages/core/dist/node.js): Mesa
 * llvmpipe via Dawn's OpenGL ES backend (compatibility level) and SwiftShader via Dawn's Vulkan backend
 * (core level), plus the errors for an unknown backend and for a backend without an adapter.
 * The device is a process-wide singleton, so every case runs in its own `node` child process.
 * Needs `pnpm build` first (the root `pnpm test` does it).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DeviceOptions } from '../packages/core/src/engine/device';
import { addRef, expectClose, geluRef, randomInput, type Shaped } from './browser/reference';
import { collectOutput } from './cli-bundle';

const here = dirname(fileURLToPath(import.meta.url));
const nodeEntry = resolve(here, '../packages/core/dist/node.js');
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** What the child prints (one JSON line). */
type ChildReport =
  | {
      ok: true;
      backend: string;
      adapterName: string;
      featureLevel: 'core' | 'compatibility';
      coreFeature: boolean;
      fill: Shaped;
      add: Shaped;
      gelu: Shaped;
      liveTensors: number;
    }
  | { ok: false; error: string };

const inputs = {
  b: randomInput([1, 37], 21, -2, 2),
  g: randomInput([257], 22, -6, 6),
};

/** Runs in the child: init (options from the parent, else env SCRATCHGPT_BACKEND), fill, broadcast add, gelu, read back. */
const CHILD = `
const core = await import(process.env.SCRATCHGPT_TEST_CORE);
const inputs = JSON.parse(process.env.SCRATCHGPT_TEST_INPUTS);
const options = JSON.parse(process.env.SCRATCHGPT_TEST_OPTIONS);
const read = async (t) => ({ shape: [...t.shape], data: Array.from(await t.toArray()) });
let report;
try {
  const gpu = await core.init(options);
  const a = core.full([3, 1], 1.5);
  const b = core.fromArray(inputs.b.data, inputs.b.shape);
  const g = core.fromArray(inputs.g.data, inputs.g.shape);
  const sum = core.add(a, b);
  const y = core.gelu(g);
  report = {
    ok: true,
    backend: gpu.backend,
    adapterName: gpu.adapterName,
    featureLevel: gpu.featureLevel,
    coreFeature: gpu.adapter.features.has('core-features-and-limits'),
    fill: await read(a),
    add: await read(sum),
    gelu: await read(y),
  };
  for (const t of [a, b, g, sum, y]) t.dispose();
  report.liveTensors = core.memory().liveTensors;
  core.destroyGpu();
} catch (err) {
  report = { ok: false, error: String(err && err.message) };
}
process.stdout.write(JSON.stringify(report) + '\\n', () => process.exit(0));
`;

/** Spawns the child with `env` on top of a clean environment (no inherited backend/ICD choice); `options` go to `init()`. */
function runChild(env: Record<string, string>, options: DeviceOptions = {}): Promise<ChildReport> {
  const base = { ...process.env };
  for (const name of ['SCRATCHGPT_BACKEND', 'VK_ICD_FILENAMES', 'VK_DRIVER_FILES']) delete base[name];
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    env: {
      ...base,
      SCRATCHGPT_TEST_CORE: pathToFileURL(nodeEntry).href,
      SCRATCHGPT_TEST_INPUTS: JSON.stringify(inputs),
      SCRATCHGPT_TEST_OPTIONS: JSON.stringify(options),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  return collectOutput(child).then(({ code, signal, stdout, stderr }) => {
    const line = stdout.trim().split('\n').pop() ?? '';
    try {
      return JSON.parse(line) as ChildReport;
    } catch {
      throw new Error(`child (${JSON.stringify(env)}) exited with ${code ?? signal} without a report.\nstdout: ${stdout}\nstderr: ${stderr}`);
    }
  });
}

function checkOps(report: ChildReport, label: string): void {
  if (!report.ok) expect.fail(`${label}: init or ops failed: ${report.error}`);
  expect(report.fill).toEqual({ shape: [3, 1], data: [1.5, 1.5, 1.5] });
  const a: Shaped = { shape: [3, 1], data: [1.5, 1.5, 1.5] };
  expectClose(report.add, addRef(a, inputs.b), `${label} add [3,1]+[1,37]`, { rtol: 1e-6, atol: 1e-7 });
  expectClose(report.gelu, { shape: inputs.g.shape, data: inputs.g.data.map(geluRef) }, `${label} gelu`, { rtol: 1e-5, atol: 1e-6 });
  expect(report.liveTensors, `${label}: every tensor disposed`).toBe(0);
}

beforeAll(() => {
  if (!existsSync(nodeEntry)) {
    throw new Error(`test/backends.test.ts: ${nodeEntry} is missing — run \`pnpm build\` (or \`pnpm --filter @scratchgpt/core build\`) first`);
  }
});

describe('Node backends (one child process each)', () => {
  it('opengles: Dawn OpenGL ES (Mesa llvmpipe without a GPU) at the compatibility feature level', async () => {
    const report = await runChild({ SCRATCHGPT_BACKEND: 'opengles' });
    checkOps(report, 'opengles');
    if (!report.ok) return;
    expect(report.featureLevel).toBe('compatibility');
    expect(report.coreFeature).toBe(false);
    expect(report.backend).toBe('dawn opengles (compat)');
  });

  it('swiftshader: SwiftShader Vulkan at the core feature level', async () => {
    expect(existsSync(SWIFTSHADER_ICD), `${SWIFTSHADER_ICD} is missing: install Debian's chromium (or chromium-common) and libvulkan1`).toBe(true);
    const report = await runChild({ SCRATCHGPT_BACKEND: 'swiftshader' });
    checkOps(report, 'swiftshader');
    if (!report.ok) return;
    expect(report.featureLevel).toBe('core');
    expect(report.coreFeature).toBe(true);
    expect(report.backend).toBe('dawn vulkan (swiftshader)');
    expect(report.adapterName).toMatch(/swiftshader/i);
  });

  it('auto prefers a native GPU, then llvmpipe (OpenGL ES) over SwiftShader', async () => {
    const report = await runChild({});
    checkOps(report, 'auto');
    if (!report.ok) return;
    if (report.backend === 'dawn') {
      // A machine with a GPU. The native candidate must not be handed SwiftShader through VK_ICD_FILENAMES.
      expect(report.adapterName).not.toMatch(/swiftshader/i);
    } else {
      expect(report.backend).toBe('dawn opengles (compat)');
      expect(report.featureLevel).toBe('compatibility');
    }
  });

  it('init({ featureLevel: "core" }) skips the compatibility-only path', async () => {
    const report = await runChild({}, { featureLevel: 'core' });
    checkOps(report, 'auto core');
    if (!report.ok) return;
    expect(report.featureLevel).toBe('core');
    expect(report.coreFeature).toBe(true);
  });

  it('init({ backend }) overrides SCRATCHGPT_BACKEND', async () => {
    const report = await runChild({ SCRATCHGPT_BACKEND: 'swiftshader' }, { backend: 'opengles' });
    checkOps(report, 'override');
    if (!report.ok) return;
    expect(report.backend).toBe('dawn opengles (compat)');
  });

  it('an unknown backend name is a clear error', async () => {
    const report = await runChild({ SCRATCHGPT_BACKEND: 'cuda' });
    expect(report.ok).toBe(false);
    if (report.ok) return;
    expect(report.error).toMatch(/unknown backend 'cuda'/);
    expect(report.error).toMatch(/opengles/);
    expect(report.error).toMatch(/swiftshader/);
  });

  it('a forced backend without an adapter rejects and says what to install', async () => {
    const report = await runChild({ SCRATCHGPT_BACKEND: 'vulkan', VK_ICD_FILENAMES: '/nonexistent.json' });
    expect(report.ok).toBe(false);
    if (report.ok) return;
    expect(report.error).toMatch(/no WebGPU adapter found \(backend 'vulkan'\)/);
    expect(report.error).toMatch(/dawn vulkan: /);
    expect(report.error).toMatch(/apt-get install .*libegl-mesa0/);
    expect(report.error).toMatch(/apt-get install .*libvulkan1/);
  });
});
