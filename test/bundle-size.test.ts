/**
 * Bundle sizes of small apps (scripts/size.mjs, also `pnpm size`): esbuild, browser, minified. The GPT-2
 * token ranks (~460 KiB, most of a tokenizing app) must reach only apps that tokenize: a core-only app and
 * a GPT app that works on token ids stay free of them (`sideEffects: false` and the ranks' import being
 * tree-shakeable). Prints the sizes.
 */
import { describe, expect, it } from 'vitest';

interface SizeResult {
  name: string;
  bytes: number;
  gzip: number;
  tokenizerRanks: boolean;
  top: { file: string; bytes: number }[];
}

describe('bundle sizes', () => {
  it('the GPT-2 token ranks are bundled only into apps that tokenize', async () => {
    const script = new URL('../scripts/size.mjs', import.meta.url).href;
    const { measure } = (await import(/* @vite-ignore */ script)) as { measure: () => Promise<SizeResult[]> };
    const results = await measure();
    for (const r of results) console.log(`${r.name}: ${(r.bytes / 1024).toFixed(1)} KiB minified, ${(r.gzip / 1024).toFixed(1)} KiB gzipped; ranks ${r.tokenizerRanks}`);
    const byName = (prefix: string) => results.find((r) => r.name.startsWith(prefix))!;
    expect(byName('core only').tokenizerRanks).toBe(false);
    expect(byName('gpt model on token ids').tokenizerRanks).toBe(false);
    expect(byName('gpt app').tokenizerRanks).toBe(true);
    // The ranks dominate a tokenizing app; without them a GPT app is a fraction of its size.
    expect(byName('gpt model on token ids').bytes).toBeLessThan(byName('gpt app').bytes / 2);
    expect(byName('core only').bytes).toBeLessThan(byName('gpt model on token ids').bytes);
  });
});
