// pnpm hooks for this workspace. `beforePacking` (pnpm ≥ 10.28) shapes each package's manifest as
// `pnpm pack` / `pnpm publish` write it into the tarball; the package.json files in the tree are untouched.
'use strict';

/** Every file an `exports` map points at, however deeply nested in conditions. */
function exportTargets(exports) {
  if (typeof exports === 'string') return [exports];
  return Object.values(exports ?? {}).flatMap(exportTargets);
}

/**
 * Where tools/tsup.package.ts puts a source module: an export entry is named after its file
 * (`./src/node.ts` → `./dist/node.js`), another side-effect module after its path under src/
 * (`./src/autograd/backward.ts` → `./dist/autograd-backward.js`).
 */
function builtFile(source, targets) {
  const underSrc = source.replace(/^\.\/src\//, '').replace(/\.ts$/, '');
  const base = underSrc.replace(/^.*\//, '');
  const isEntry = targets.includes(source) || targets.includes(`./dist/${base}.js`);
  return `./dist/${isEntry ? base : underSrc.replaceAll('/', '-')}.js`;
}

function beforePacking(pkg) {
  // The build runs in the workspace (its config lives outside the package): no scripts, no dev tools.
  delete pkg.scripts;
  delete pkg.devDependencies;
  // `sideEffects` names the shipped files only.
  if (Array.isArray(pkg.sideEffects)) {
    const targets = exportTargets(pkg.exports);
    pkg.sideEffects = pkg.sideEffects.map((file) => (file.startsWith('./src/') ? builtFile(file, targets) : file));
  }
  return pkg;
}

module.exports = { hooks: { beforePacking } };
