/** Shared tsup config for every package: ESM + .d.ts, WGSL inlined, workspace deps left external. */
import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';
import { wgslEsbuildLoader } from './wgsl';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  exports: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
};
const entry = Object.fromEntries(
  Object.entries(pkg.exports).map(([key, src]) => [key === '.' ? 'index' : key.slice(2), src]),
);

export default defineConfig({
  entry,
  format: ['esm'],
  dts: true,
  clean: true,
  splitting: true,
  sourcemap: true,
  target: 'es2022',
  platform: 'neutral',
  loader: wgslEsbuildLoader,
  external: [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {}), /^node:/],
});
