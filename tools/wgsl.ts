/**
 * The one WGSL loader: every kernel in `shaders/` is imported as a string and inlined into the
 * bundles at build time, so nothing is read from disk or fetched at run time (browser-safe, CSP-safe).
 * tsup (esbuild) uses the `text` loader; vitest (vite) uses the tiny plugin below. Both yield the
 * file's exact text.
 */
import type { Plugin } from 'vite';

/** esbuild loader table for tsup's `loader` option. */
export const wgslEsbuildLoader = { '.wgsl': 'text' } as const;

/** Vite/vitest plugin: `import src from '.../x.wgsl'` → the file's text as the default export. */
export function wgslVitePlugin(): Plugin {
  return {
    name: 'scratchgpt-wgsl',
    transform(code, id) {
      if (!id.endsWith('.wgsl')) return null;
      return { code: `export default ${JSON.stringify(code)};`, map: null };
    },
  };
}
