/**
 * The one text loader: every kernel in `shaders/` (`.wgsl`) and every bundled text file (`.txt`: the
 * CLI's built-in corpus, `data/the-verdict.txt`) is imported as a string and inlined into the bundles
 * at build time, so nothing is read from disk or fetched at run time (browser-safe, CSP-safe).
 * tsup (esbuild) uses the `text` loader; vitest (vite) uses the tiny plugin below. Both yield the
 * file's exact text. (The names say WGSL for history: shaders were its first use.)
 */

import { readFileSync } from 'node:fs';

/** The subset of a Vite plugin this loader needs (avoids a direct dependency on vite's types). */
interface VitePlugin {
  name: string;
  enforce: 'pre';
  load(id: string): string | null;
  transform(code: string, id: string): { code: string; map: null } | null;
}

/** esbuild loader table for tsup's `loader` option: `.wgsl` and `.txt` as text. */
export const wgslEsbuildLoader = { '.wgsl': 'text', '.txt': 'text' } as const;

/** Vite/vitest plugin: `import src from '.../x.wgsl'` (or `.txt`) → the file's text as the default export. */
export function wgslVitePlugin(): VitePlugin {
  return {
    name: 'scratchgpt-text',
    enforce: 'pre',
    // Vite serves `.txt` as an asset (its URL): read the text before its asset loader does.
    load(id) {
      return id.endsWith('.txt') ? `export default ${JSON.stringify(readFileSync(id, 'utf8'))};` : null;
    },
    transform(code, id) {
      if (!id.endsWith('.wgsl')) return null;
      return { code: `export default ${JSON.stringify(code)};`, map: null };
    },
  };
}
