#!/usr/bin/env node
// Bundle sizes of small apps as a user's bundler makes them (esbuild, browser, minified), raw and gzipped,
// with the largest inputs of each (from esbuild's metafile). Run `pnpm size` (no build needed: it bundles
// the workspace sources, which is what dist/ holds). `--json` prints the numbers as JSON.
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(fileURLToPath(import.meta.url), '../..');

/** The apps: what each imports and does. */
export const APPS = {
  'core only (tensors, autograd, AdamW)': `
    import { AdamW, Linear, fromArray, init, mean, mul, sub } from '@scratchgpt/core';
    await init();
    const layer = new Linear(4, 1);
    const opt = new AdamW(layer.namedParameters());
    const d = sub(layer.forward(fromArray([1, 2, 3, 4], [1, 4])), fromArray([1], [1, 1]));
    mean(mul(d, d)).backward();
    opt.step();`,
  'gpt model on token ids (no tokenizer)': `
    import { GPTModel, generate, gptConfig, init } from '@scratchgpt/gpt';
    await init();
    const model = new GPTModel(gptConfig('gpt2-small', { nLayers: 2 }));
    console.log(await generate(model, [464, 3290], { maxNewTokens: 5 }));`,
  'gpt app (tokenizer, training, generation)': `
    import { GPTModel, createDataLoader, decode, encode, generate, gptConfig, init, trainModel } from '@scratchgpt/gpt';
    await init();
    const model = new GPTModel(gptConfig('gpt2-small', { nLayers: 2 }));
    const loader = createDataLoader('some text '.repeat(200), { batchSize: 2, maxLength: 16, stride: 16 });
    await trainModel(model, loader, loader, { epochs: 1 });
    console.log(decode(await generate(model, encode('some'), { maxNewTokens: 5 })));`,
};

const RANKS = /gpt-tokenizer\/.*bpeRanks/;

export async function measure() {
  const results = [];
  for (const [name, contents] of Object.entries(APPS)) {
    const out = await build({
      stdin: { contents, resolveDir: root, loader: 'ts' },
      bundle: true,
      minify: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      loader: { '.wgsl': 'text', '.txt': 'text' },
      metafile: true,
      write: false,
      logLevel: 'silent',
    });
    const code = out.outputFiles[0].contents;
    const output = Object.values(out.metafile.outputs)[0];
    const top = Object.entries(output.inputs)
      .map(([file, info]) => ({ file: file.replace(/^.*node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?/, ''), bytes: info.bytesInOutput }))
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, 4);
    results.push({
      name,
      bytes: code.length,
      gzip: gzipSync(code, { level: 9 }).length,
      tokenizerRanks: Object.keys(output.inputs).some((f) => RANKS.test(f)),
      top,
    });
  }
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = await measure();
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(results, null, 2));
  } else {
    const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
    for (const r of results) {
      console.log(`${r.name}: ${kib(r.bytes)} minified, ${kib(r.gzip)} gzipped; GPT-2 token ranks ${r.tokenizerRanks ? 'included' : 'not included'}`);
      for (const t of r.top) console.log(`    ${kib(t.bytes).padStart(10)}  ${t.file}`);
    }
  }
}
