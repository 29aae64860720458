/**
 * GPT-2 124M fine-tuned in a browser tab: the spam-classifier page (examples/spam-classifier) in
 * headless Chromium (SwiftShader without a GPU) is given a GPT-2 124M file through its file picker and
 * runs ONE optimizer step of the book's recipe (batch 8, 120 tokens per text, last block + final norm +
 * head trainable: 7,090,946 parameters, AdamW lr 5e-5). The file is made here: a randomly initialised
 * 124M model (tied embeddings, like OpenAI's) exported in the Hugging Face layout (`exportGPT2`, ~500 MB)
 * — no weights can be downloaded on the measuring machine. With `--node` the Node runner does the same
 * step on Dawn's adapter for comparison.
 *
 *   pnpm bench:spam-page [-- --node]
 *
 * Not a test: a fresh tab spends minutes on it (loading 500 MB, compiling pipelines, ~10 forward passes
 * of the 124M trunk for the evaluations around the step), too long and too heavy for CI.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { init, manualSeed } from '@scratchgpt/core';
import { exportGPT2, GPTModel, gptConfig } from '@scratchgpt/gpt';
import { startStaticServer } from '../test/browser/server';
import { launchChromium } from '../test/consumer/chromium';
import { buildSpamPage, finishRunInPage, openSpamPage, startRunInPage, type SpamRunFigures } from '../test/spam-page/page';

/** The book's setting for one step: 8 texts (one batch), 120 tokens each (its longest training text), no loss evaluations. */
const STEP = { limit: 8, epochs: 1, evalFreq: 0, maxLength: 120 } as const;

const { values } = parseArgs({ options: { node: { type: 'boolean', default: false } } });
// Bundled into node_modules/.cache by scripts/run-example.mjs: paths are taken from the current directory.
const ROOT = process.cwd();
const CONFIG = join(ROOT, 'examples/spam-classifier/vite.config.ts');
if (!existsSync(CONFIG)) throw new Error(`scratchgpt: run this from the repository root (no ${CONFIG})`);
const work = mkdtempSync(join(tmpdir(), 'scratchgpt-spam-124m-'));
const file = join(work, 'model.safetensors');
const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);

try {
  let t = performance.now();
  const gpu = await init();
  manualSeed(124);
  const gpt = new GPTModel(gptConfig('gpt2-small', { tieWeights: true, dropRate: 0 }));
  const { safetensors } = await exportGPT2(gpt);
  gpt.dispose();
  writeFileSync(file, safetensors);
  console.log(`made ${file}: ${(safetensors.byteLength / 1e6).toFixed(1)} MB, random GPT-2 124M in the Hugging Face layout (${seconds(t)} s on ${gpu.adapterName})`);

  t = performance.now();
  const warnings = await buildSpamPage(join(work, 'page'), CONFIG);
  if (warnings.length > 0) console.log(`vite warnings: ${warnings.join('\n')}`);
  const server = await startStaticServer({ '/': join(work, 'page') });
  const browser = await launchChromium();
  try {
    const view = await openSpamPage(browser, `${server.url}/index.html`);
    console.log(`page ready in ${seconds(t)} s: ${await view.page.textContent('#adapter')}`);
    // Timestamps of the page's status line: loading, data, step, evaluation.
    const started = performance.now();
    await view.page.exposeFunction('benchStatus', (text: string) => console.log(`  ${seconds(started).padStart(6)} s  ${text}`));
    await view.page.evaluate(() => {
      const status = document.getElementById('status')!;
      const report = (window as unknown as { benchStatus: (text: string) => void }).benchStatus;
      new MutationObserver(() => report(status.textContent ?? '')).observe(status, { childList: true, characterData: true, subtree: true });
    });
    await startRunInPage(view, { ...STEP, weightsFile: file });
    const run = await finishRunInPage(view, 1_800_000);
    console.log(`recipe: ${await view.page.textContent('#recipe')}`);
    console.log(`weights: ${await view.page.textContent('#weights-info')}`);
    report('chromium', run, (performance.now() - started) / 1000);
    const results = (await view.page.textContent('#results')) ?? '';
    console.log(`page: ${/[\d.]+ MiB live on the GPU/.exec(results)?.[0] ?? ''}`);
  } finally {
    await browser.close();
    await server.close();
  }

  if (values.node) {
    const out = join(work, 'node.json');
    const args = ['--weights', file, '--limit', String(STEP.limit), '--epochs', '1', '--eval-freq', 'never', '--max-length', String(STEP.maxLength)];
    t = performance.now();
    const node = spawnSync(process.execPath, ['scripts/run-example.mjs', 'examples/spam-classifier/node.ts', '--', ...args, '--out', join(work, 'node.safetensors'), '--report', out], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (node.status !== 0) throw new Error(`the Node runner failed:\n${node.stdout}`);
    report('node', JSON.parse(readFileSync(out, 'utf8')) as SpamRunFigures, (performance.now() - t) / 1000);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

function report(where: string, run: SpamRunFigures, total: number): void {
  const [step] = run.stepSeconds;
  const peak = (run.trainingPeakBytes / 2 ** 20).toFixed(0);
  console.log(`${where} (${run.adapter}): one step of the book's recipe (batch 8 × ${run.maxLength} tokens) in ${step.toFixed(2)} s, peak ${peak} MiB live on the GPU; whole run ${total.toFixed(1)} s`);
}
