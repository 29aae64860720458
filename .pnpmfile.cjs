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
  // The packages are released together (changesets' `fixed` group), so a sibling peer is published as a caret
  // range of this release's version. In the tree it reads `workspace:>=0.1.0`: changesets forces a major bump
  // on dependents whose peer range a release leaves, which any `^0.x` range (and `workspace:*`/`^`) would.
  for (const name of Object.keys(pkg.peerDependencies ?? {})) {
    if (name.startsWith('@scratchgpt/')) pkg.peerDependencies[name] = `^${pkg.version}`;
  }
  // `sideEffects` names the shipped files only.
  if (Array.isArray(pkg.sideEffects)) {
    const targets = exportTargets(pkg.exports);
    pkg.sideEffects = pkg.sideEffects.map((file) => (file.startsWith('./src/') ? builtFile(file, targets) : file));
  }
  return pkg;
}

module.exports = { hooks: { beforePacking } };
