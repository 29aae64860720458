#!/usr/bin/env node
// Runs a TypeScript example against the workspace's sources: `pnpm example examples/autograd.ts [-- args]`.
// esbuild bundles it (WGSL inlined as text, only the native `webgpu` left external) into
// node_modules/.cache/scratchgpt-examples/, where Node runs it from the current directory.
import { spawnSync } from 'node:child_process';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const [entry, ...rest] = process.argv.slice(2);
if (!entry) {
  console.error('usage: pnpm example <examples/file.ts> [-- args]');
  process.exit(2);
}
const args = rest[0] === '--' ? rest.slice(1) : rest;
const outfile = join(root, 'node_modules/.cache/scratchgpt-examples', `${basename(entry, '.ts')}.mjs`);
await build({
  entryPoints: [resolve(entry)],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  loader: { '.wgsl': 'text', '.txt': 'text' },
  external: ['webgpu', 'playwright-core', 'vite'], // native addon; tools a script drives (bench/spam-page-124m.ts)
  logLevel: 'warning',
});
const run = spawnSync(process.execPath, [outfile, ...args], { stdio: 'inherit' });
process.exit(run.status ?? 1);
