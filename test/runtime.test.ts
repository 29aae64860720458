/**
 * The runtime side of the npm packages: one import for Node and browsers (vitest, like Node, resolves
 * `@scratchgpt/core` through its `node` export condition), the error before `init()`, the guard against two
 * copies of core, the unknown-preset error, and quiet runs — a tiny script's stderr stays empty (Dawn's
 * native notices go to the log, shown with SCRATCHGPT_LOG=debug), whether stderr is a pipe or a terminal.
 * The child processes use the built Node entry (packages/core/dist): needs `pnpm build` first.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as core from '@scratchgpt/core';
import { gptConfig, init as gptInit } from '@scratchgpt/gpt';
import { describe, expect, it } from 'vitest';
import { hasVulkanDriver, vulkanDriverSearchPaths } from '../packages/core/src/dawn/vulkan';
import { ROOT } from './consumer/packed';

const DIST = join(ROOT, 'packages/core/dist');
/** Scratch folder inside the workspace, so that children resolve `webgpu` from its node_modules. */
const SCRATCH = join(ROOT, 'node_modules/.cache/scratchgpt-runtime-test');

/** A child script that initialises the GPU and prints one result line on stdout. */
function tinyScript(entry = pathToFileURL(join(DIST, 'node.js')).href): string {
  return `
const core = await import(${JSON.stringify(entry)});
await core.init();
const t = core.add(core.fromArray([1, 2, 3], [3]), core.fromArray([10, 20, 30], [3]));
console.log('result', Array.from(await t.toArray()).join(','));
core.destroyGpu();
`;
}

function writeScript(name: string, code: string): string {
  mkdirSync(SCRATCH, { recursive: true });
  const file = join(SCRATCH, name);
  writeFileSync(file, code);
  return file;
}

/** Runs `node file` with stderr into a shell pipe (stdout to a file); returns both. */
function runWithPipedStderr(file: string, env: Record<string, string> = {}): { stdout: string; stderr: string; status: number | null } {
  const out = `${file}.stdout`;
  const run = spawnSync('bash', ['-c', 'set -o pipefail; node "$SCRIPT" 2>&1 >"$OUT" | cat'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, SCRATCHGPT_LOG: '', SCRATCHGPT_BACKEND: '', ...env, SCRIPT: file, OUT: out },
  });
  return { stdout: readFileSync(out, 'utf8'), stderr: run.stdout, status: run.status };
}

describe('one import for Node and browsers', () => {
  it('before init(), creating a tensor says how to initialise (and which import to use)', () => {
    expect(() => core.fromArray([1], [1])).toThrow(/no GPU yet — call `await init\(\)` once before creating tensors or models \(`import \{ init \} from '@scratchgpt\/core'`/);
  });

  it("vitest resolves '@scratchgpt/core' through the node condition: init() finds Dawn", async () => {
    expect(gptInit).toBe(core.init); // @scratchgpt/gpt re-exports core's init
    const gpu = await core.init();
    expect(gpu.backend).toMatch(/^dawn/);
    const t = core.fromArray([1, 2], [2]);
    expect(Array.from(await t.toArray())).toEqual([1, 2]);
    t.dispose();
  });

  it('VERSION is the package version', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'packages/core/package.json'), 'utf8')) as { version: string };
    expect(core.VERSION).toBe(pkg.version);
  });

  it('an unknown log level is an error naming the valid ones', () => {
    expect(() => core.setLog('verbose' as never)).toThrow(/unknown log level 'verbose' \(expected debug, info, warn, error, silent or a function\)/);
  });
});

describe('gptConfig', () => {
  it('names an unknown preset and the valid ones', () => {
    expect(() => gptConfig('gpt2-huge' as never)).toThrow("scratchgpt: unknown GPT-2 preset 'gpt2-huge' (expected one of: gpt2-small, gpt2-medium, gpt2-large, gpt2-xl)");
    expect(gptConfig('gpt2-medium').embDim).toBe(1024);
  });
});

describe('two copies of @scratchgpt/core in one process', () => {
  it('warn when the second loads, and the uninitialised copy says another one was initialised', () => {
    if (!existsSync(join(DIST, 'node.js'))) throw new Error(`${DIST} is missing — run \`pnpm build\` first`);
    // Two copies of the built package (as two nested node_modules copies would be).
    const copies = ['a', 'b'].map((name) => {
      const dir = join(SCRATCH, `copy-${name}`);
      rmSync(dir, { recursive: true, force: true });
      cpSync(DIST, dir, { recursive: true });
      return pathToFileURL(join(dir, 'node.js')).href;
    });
    const file = writeScript(
      'two-copies.mjs',
      `
const a = await import(${JSON.stringify(copies[0])});
const b = await import(${JSON.stringify(copies[1])});
await a.init();
try { b.fromArray([1], [1]); console.log('no error'); } catch (err) { console.log('error:', err.message); }
a.destroyGpu();
`,
    );
    const { stdout, stderr, status } = runWithPipedStderr(file);
    expect(status).toBe(0);
    expect(stderr).toMatch(/^scratchgpt: two copies of @scratchgpt\/core are loaded \(0\.\d+\.\d+ at file:.*copy-a\/.*; 0\.\d+\.\d+ at file:.*copy-b\/.*\)\. Each has its own GPU device/);
    expect(stderr).toContain('npm ls @scratchgpt/core');
    expect(stdout).toMatch(/error: scratchgpt: no GPU yet .* Another copy of @scratchgpt\/core \(0\.\d+\.\d+ at file:.*copy-a\/.*\) was initialised instead of this one/);
  });
});

describe('quiet runs', () => {
  it('a tiny script prints nothing on stderr when it is a pipe', () => {
    const { stdout, stderr, status } = runWithPipedStderr(writeScript('tiny.mjs', tinyScript()));
    expect(status).toBe(0);
    expect(stdout).toBe('result 11,22,33\n');
    expect(stderr).toBe('');
  });

  it('nor in a terminal (a pseudo-terminal through util-linux script)', () => {
    const file = writeScript('tiny-tty.mjs', tinyScript());
    const run = spawnSync('script', ['-qec', `node ${JSON.stringify(file)}`, '/dev/null'], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, SCRATCHGPT_LOG: '', SCRATCHGPT_BACKEND: '' },
    });
    expect(run.status).toBe(0);
    expect(run.stdout.replace(/\r/g, '')).toBe('result 11,22,33\n');
  });

  it('SCRATCHGPT_LOG=debug shows the adapter search and what Dawn said, on stderr', () => {
    const { stdout, stderr, status } = runWithPipedStderr(writeScript('tiny-debug.mjs', tinyScript()), { SCRATCHGPT_LOG: 'debug' });
    expect(status).toBe(0);
    expect(stdout).toBe('result 11,22,33\n');
    expect(stderr).toMatch(/^\[info\] scratchgpt: using .+ through dawn/m);
    expect(stderr).toMatch(/^\[debug\] scratchgpt: /m);
  });

  it('native writes to descriptor 2 during an adapter request are captured, and stderr works afterwards', async () => {
    const esbuild = (await import('esbuild')) as unknown as { build(o: Record<string, unknown>): Promise<unknown> };
    const out = join(SCRATCH, 'capture.mjs');
    await esbuild.build({
      stdin: {
        contents: `
import { writeSync } from 'node:fs';
import { captureNativeStderr } from './packages/core/src/dawn/stderr';
process.stderr.write('before\\n');
const { result, output } = captureNativeStderr(() => { writeSync(2, 'from native code\\n'); return 42; });
console.log(JSON.stringify({ result, output }));
process.stderr.write('after\\n');`,
        resolveDir: ROOT,
        loader: 'ts',
      },
      outfile: out,
      bundle: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
    });
    const { stdout, stderr, status } = runWithPipedStderr(out);
    expect(status).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ result: 42, output: 'from native code\n' });
    expect(stderr).toBe('before\nafter\n');
  });
});

describe('Vulkan driver detection (decides whether auto asks the platform Vulkan)', () => {
  it('follows the loader: explicit driver files replace the search, else the icd.d folders', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scratchgpt-icd-'));
    try {
      const empty = { HOME: dir, XDG_CONFIG_DIRS: join(dir, 'none'), XDG_DATA_DIRS: join(dir, 'none') };
      expect(vulkanDriverSearchPaths({ ...empty, VK_DRIVER_FILES: '/x/a.json:/x/b.json' })).toEqual(['/x/a.json', '/x/b.json']);
      expect(hasVulkanDriver({ ...empty, VK_ICD_FILENAMES: join(dir, 'missing.json') })).toBe(false);
      mkdirSync(join(dir, 'share/vulkan/icd.d'), { recursive: true });
      expect(vulkanDriverSearchPaths({ ...empty, XDG_DATA_DIRS: join(dir, 'share') })).toContain(join(dir, 'share/vulkan/icd.d'));
      // (/etc/vulkan/icd.d and /usr/local/etc/vulkan/icd.d are always searched: only without drivers there.)
      if (!hasVulkanDriver({ ...empty, XDG_DATA_DIRS: join(dir, 'none') })) {
        expect(hasVulkanDriver({ ...empty, XDG_DATA_DIRS: join(dir, 'share') })).toBe(false); // an empty icd.d folder
      }
      writeFileSync(join(dir, 'share/vulkan/icd.d/test_icd.json'), '{}');
      expect(hasVulkanDriver({ ...empty, XDG_DATA_DIRS: join(dir, 'share') })).toBe(true);
      expect(hasVulkanDriver({ ...empty, VK_DRIVER_FILES: join(dir, 'share/vulkan/icd.d/test_icd.json') })).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
