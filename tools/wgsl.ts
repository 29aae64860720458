/**
 * The one WGSL loader: every kernel in `shaders/` is imported as a string and inlined into the
 * bundles at build time, so nothing is read from disk or fetched at run time (browser-safe, CSP-safe).
 * tsup (esbuild) uses the `text` loader; vitest (vite) uses the tiny plugin below. Both yield the
 * file's exact text.
 */

/** The subset of a Vite plugin this loader needs (avoids a direct dependency on vite's types). */
interface VitePlugin {
  name: string;
  transform(code: string, id: string): { code: string; map: null } | null;
}

/** esbuild loader table for tsup's `loader` option. */
export const wgslEsbuildLoader = { '.wgsl': 'text' } as const;

/** Vite/vitest plugin: `import src from '.../x.wgsl'` → the file's text as the default export. */
export function wgslVitePlugin(): VitePlugin {
  return {
    name: 'scratchgpt-wgsl',
    transform(code, id) {
      if (!id.endsWith('.wgsl')) return null;
      return { code: `export default ${JSON.stringify(code)};`, map: null };
    },
  };
}
