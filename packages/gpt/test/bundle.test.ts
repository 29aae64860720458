/**
 * What bundlers see: `@scratchgpt/gpt` bundled for the browser (esbuild, as a web app would) must not
 * reach any Node built-in, while the Node build keeps its `node:` imports; both entries export the
 * same names. esbuild comes from tsup's dependencies; bundling reads sources only (fast, no GPU).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** The part of esbuild's API used here (its types are not a dependency of the workspace root). */
interface EsbuildResult {
  errors: { text: string }[];
  outputFiles: { text: string }[];
  metafile: { inputs: Record<string, { imports: { path: string; external?: boolean }[] }> };
}
interface Esbuild {
  build(options: Record<string, unknown>): Promise<EsbuildResult>;
}

const require = createRequire(import.meta.url);
const esbuild = createRequire(require.resolve('tsup'))('esbuild') as Esbuild;
const root = fileURLToPath(new URL('../../..', import.meta.url));

/** Bundles a tiny app that uses the package, as a user's bundler would. */
function bundle(platform: 'browser' | 'node'): Promise<EsbuildResult> {
  return esbuild.build({
    stdin: {
      contents: "import * as gpt from '@scratchgpt/gpt';\nexport const api = gpt;\n",
      resolveDir: root,
      loader: 'ts',
    },
    bundle: true,
    platform,
    format: 'esm',
    ...(platform === 'browser' ? { conditions: ['browser'] } : {}),
    loader: { '.wgsl': 'text' },
    external: platform === 'node' ? ['webgpu'] : [],
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
}

const NODE_BUILTIN = /^(node:)?(fs|fs\/promises|path|os|crypto|http|https|net|url|module|child_process|stream|buffer|util|worker_threads)$/;

describe('bundling @scratchgpt/gpt', () => {
  it('for the browser: resolves with no Node built-in and no Node-only module', async () => {
    const result = await bundle('browser');
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((f) => f.endsWith('packages/gpt/src/index.ts'))).toBe(true);
    expect(inputs.filter((f) => /index\.node\.ts$|platform\/node|webgpu/.test(f))).toEqual([]);
    const imported = Object.values(result.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
    expect(imported.filter((p) => NODE_BUILTIN.test(p))).toEqual([]);
    const code = result.outputFiles[0].text;
    expect(code).not.toMatch(/\b(?:from|import)\s*\(?\s*["'](?:node:)?(?:fs|path|os|crypto)(?:\/promises)?["']/);
    console.log(`browser bundle of @scratchgpt/gpt (unminified): ${(code.length / 1024).toFixed(0)} KiB, ${inputs.length} inputs, no Node built-ins`);
  });

  it('for Node: takes the node entry and keeps the node: protocol', async () => {
    const result = await bundle('node');
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((f) => f.endsWith('packages/gpt/src/index.node.ts'))).toBe(true);
    const code = result.outputFiles[0].text;
    expect(code).toMatch(/from\s*"node:fs\/promises"/);
    expect(code).not.toMatch(/from\s*"(?:fs\/promises|fs|path|os|crypto)"/);
  });

  it('both entries export the same names; only the platform functions differ', async () => {
    const browser = await import('../src/index');
    const node = await import('../src/index.node');
    expect(Object.keys(node).sort()).toEqual(Object.keys(browser).sort());
    const platform = ['fetchCached', 'loadCheckpoint', 'loadGPT2', 'readFileBytes', 'saveCheckpoint', 'saveGPT2', 'writeFileAtomic'] as const;
    for (const name of Object.keys(node) as (keyof typeof node)[]) {
      expect(node[name] === browser[name], name).toBe(!(platform as readonly string[]).includes(name));
    }
  });

  it('in a browser without OPFS, saveCheckpoint says what to use instead', async () => {
    const { saveCheckpoint, readFileBytes } = await import('../src/index');
    // Node has no navigator.storage: the browser entry behaves as in a browser without OPFS.
    await expect(saveCheckpoint('ckpt.safetensors', null as never)).rejects.toThrow(/saveCheckpoint\('ckpt\.safetensors'\) needs a file system; in browsers it uses the origin-private file system \(OPFS\).*checkpointBytes\(model, optimizer\)/);
    await expect(readFileBytes('a/b.bin')).rejects.toThrow(/readFileBytes\('a\/b\.bin'\) needs a file system/);
  });
});
