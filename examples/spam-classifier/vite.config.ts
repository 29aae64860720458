/**
 * Vite config of the spam-classifier page: `pnpm example:web` serves it, `vite build examples/spam-classifier`
 * bundles it (into examples/spam-classifier/dist). In this workspace the packages resolve to their
 * sources, whose WGSL kernels the text loader inlines (an app installing the published packages needs no
 * plugin: their dist has the kernels inlined). The SMS Spam Collection is served and emitted beside the
 * page as `SMSSpamCollection.tsv`.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { wgslVitePlugin } from '../../tools/wgsl.ts';

const here = dirname(fileURLToPath(import.meta.url));
const TSV = resolve(here, '../../packages/finetune/data/SMSSpamCollection.tsv');

/**
 * Keeps core's gradient engine when bundling the workspace sources: `autograd/backward.ts` (listed in
 * core's `sideEffects`) installs `Tensor.prototype.backward` and is loaded by core's index, which only
 * re-exports and so counts as side-effect free. Rolldown then resolves imports through the index straight
 * to the defining modules and never loads `backward.ts`: `loss.backward` would be undefined. Marking the
 * package entries (and the listed files) as having side effects keeps it. The published packages need
 * nothing of the kind (in dist the engine shares a chunk with what the index exports).
 */
function workspaceSideEffects(): Plugin {
  const files = new Set<string>();
  for (const name of ['core', 'gpt', 'finetune']) {
    const dir = resolve(here, '../../packages', name);
    const { sideEffects } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { sideEffects?: boolean | string[] };
    if (Array.isArray(sideEffects)) for (const file of sideEffects) files.add(resolve(dir, file));
    files.add(join(dir, 'src/index.ts'));
  }
  return {
    name: 'workspace-side-effects',
    transform(code, id) {
      return files.has(id) ? { code, moduleSideEffects: true } : null;
    },
  };
}

/** `SMSSpamCollection.tsv` beside the page: served by the dev server, emitted into the build. */
function smsSpamCollection(): Plugin {
  return {
    name: 'sms-spam-collection',
    configureServer(server) {
      server.middlewares.use('/SMSSpamCollection.tsv', (_req, res) => {
        res.setHeader('content-type', 'text/tab-separated-values; charset=utf-8');
        res.end(readFileSync(TSV));
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'SMSSpamCollection.tsv', source: readFileSync(TSV) });
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  plugins: [wgslVitePlugin(), workspaceSideEffects(), smsSpamCollection()],
  // The GPT-2 vocabulary makes the page's chunk big: expected, not worth a warning.
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
});
