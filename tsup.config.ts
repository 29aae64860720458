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
  external: ['webgpu', /^@tensorflow\//, 'playwright-core'],
  banner: { js: '#!/usr/bin/env node' },
});
