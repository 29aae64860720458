/** Shared tsup config for every package: ESM + .d.ts, WGSL inlined, workspace deps left external. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig, type Options } from 'tsup';
import { wgslEsbuildLoader } from './wgsl';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  exports: Record<string, string | Record<string, string>>;
  sideEffects?: boolean | string[];
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
};
// Every source file an export points at is an entry named after the file (`./src/node.ts` → `node`), so a
// conditional export (`{ browser, node, default }`) builds one entry per distinct file. Other exports
// (`./package.json`) are not built.
const isSource = (file: string) => /^\.\/src\/.+\.ts$/.test(file);
const entry: Record<string, string> = Object.fromEntries(
  Object.values(pkg.exports)
    .flatMap((target) => (typeof target === 'string' ? [target] : Object.values(target)))
    .filter(isSource)
    .map((file) => [file.replace(/^.*\//, '').replace(/\.ts$/, ''), file]),
);

// Source modules listed in `sideEffects` that are not entries yet (core's `autograd/backward.ts`, which
// installs `Tensor.prototype.backward`) get a dist file of their own, named after their path under src/
// (`autograd-backward.js`), and every import of them stays an import of that file. Bundlers honouring
// `sideEffects` then keep them although nothing uses their exports, instead of the code being merged
// into a shared chunk that they may treat as side-effect free.
const effectModules = new Map<string, string>();
for (const path of Array.isArray(pkg.sideEffects) ? pkg.sideEffects : []) {
  if (!isSource(path) || Object.values(entry).includes(path)) continue;
  const name = path.slice('./src/'.length, -'.ts'.length).replaceAll('/', '-');
  entry[name] = path;
  effectModules.set(resolve(path), name);
}
const keepSideEffectModules: NonNullable<Options['esbuildPlugins']>[number] = {
  name: 'keep-side-effect-modules',
  setup(build) {
    build.onResolve({ filter: /^\./ }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      const target = resolve(args.resolveDir, args.path);
      const name = effectModules.get(target) ?? effectModules.get(`${target}.ts`);
      // Entries have flat names and chunks land beside them: from every output file the path is the same.
      return name === undefined ? undefined : { path: `./${name}.js`, external: true };
    });
  },
};

export default defineConfig({
  entry,
  format: ['esm'],
  dts: true,
  clean: true,
  splitting: true,
  sourcemap: true,
  target: 'es2022',
  platform: 'neutral',
  // Keep `node:fs/promises` as written: a bare `fs/promises` looks like an npm package to bundlers.
  removeNodeProtocol: false,
  loader: wgslEsbuildLoader,
  esbuildPlugins: [keepSideEffectModules],
  external: [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {}), /^node:/],
});
