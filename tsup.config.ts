/** Top-level bundles: the `scratchgpt` CLI and the benchmark runner (Node), workspace packages inlined. */
import { defineConfig } from 'tsup';
import { wgslEsbuildLoader } from './tools/wgsl';

export default defineConfig({
  entry: { cli: 'src/cli.ts', bench: 'bench/index.ts' },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  outDir: 'dist',
  clean: true,
  sourcemap: true,
  loader: wgslEsbuildLoader,
  noExternal: [/^@scratchgpt\//],
  // TF.js (bench only) is bundled: its ESM files use extensionless imports that Node cannot resolve.
  external: ['webgpu', 'playwright-core'],
  banner: { js: '#!/usr/bin/env node' },
});
