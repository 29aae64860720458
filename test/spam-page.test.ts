/**
 * The spam-classifier example as one script in two runtimes: the web page (examples/spam-classifier,
 * bundled once by Vite, served from 127.0.0.1) fine-tunes in headless Chromium (SwiftShader, core
 * feature level) on a reduced configuration, and the Node runner runs the same file on the same
 * configuration (llvmpipe through Dawn). Checks: validation accuracy rises well above chance, the two
 * runtimes give the same losses (within 1e-3 relative), the page's text box classifies the book's two
 * sample texts as the script did, the LoRA switch trains adapters only; one screenshot is kept in
 * test/artifacts/spam-page.png (git-ignored). Needs Debian's chromium; runs against the workspace sources.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { init } from '@scratchgpt/core/node';
import { classify, loadClassifier } from '@scratchgpt/finetune';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStaticServer, type StaticServer } from './browser/server';
import { launchChromium } from './consumer/chromium';
import { ROOT } from './consumer/packed';
import { buildSpamPage, classifyInPage, finishRunInPage, openSpamPage, startRunInPage, trainInPage, type SpamPage, type SpamRunFigures } from './spam-page/page';

/**
 * The reduced configuration: the first 64 texts of each split of the book's balanced split, 2 epochs of
 * the built-in recipe (batch 16: 8 steps), losses every 3 steps (after steps 1, 4 and 7). Most of the
 * page's time goes to SwiftShader compiling each kernel pipeline once (~30 s), then ~1 s per step.
 */
const CONFIG = { limit: 64, epochs: 2, seed: 123, evalFreq: 3 };
/** LoRA on the built-in model, one step (16 texts, batch 16) and its losses. */
const LORA_CONFIG = { limit: 16, epochs: 1, seed: 7, evalFreq: 1, lora: { rank: 4, alpha: 8 } };
const SCREENSHOT = join(ROOT, 'test/artifacts/spam-page.png');
/** The user's-data path: the three-class fixture (126 / 18 / 36 after the stratified split), 2 epochs (14 steps). */
const FILE_CONFIG = { dataFile: join(ROOT, 'test/fixtures/three-class.csv'), limit: 1000, epochs: 2, seed: 123, evalFreq: 3, maxLength: 32 };
const FILE_SCREENSHOT = join(ROOT, 'test/artifacts/text-classifier-three-class.png');

let workDir: string;
let server: StaticServer | undefined;
let browser: Browser | undefined;
let view: SpamPage | undefined;
let nodeRun: Promise<SpamRunFigures>;
const timings: Record<string, number> = {};

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    timings[label] = (performance.now() - start) / 1000;
  }
}

/** The Node runner (examples/spam-classifier/node.ts, bundled from the workspace sources) on `settings`; resolves to its --report. */
function runNode(settings: Record<string, string | number>, name: string): Promise<SpamRunFigures> {
  const report = join(workDir, `${name}.json`);
  const args = Object.entries(settings).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const child = spawn(process.execPath, ['scripts/run-example.mjs', 'examples/spam-classifier/node.ts', '--', ...args, '--out', join(workDir, `${name}.safetensors`), '--report', report], {
    cwd: ROOT,
    env: { ...process.env, SCRATCHGPT_LOG: '', SCRATCHGPT_BACKEND: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const started = performance.now();
  return new Promise((ok, fail) => {
    child.on('error', fail);
    child.on('close', (code) => {
      timings[`node ${name}`] = (performance.now() - started) / 1000;
      if (code !== 0) fail(new Error(`node runner exited with ${code}:\n${output}`));
      else ok(JSON.parse(readFileSync(report, 'utf8')) as SpamRunFigures);
    });
  });
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'scratchgpt-spam-page-'));
  // The Node run goes on while the page is bundled and Chromium starts.
  nodeRun = runNode({ limit: CONFIG.limit, epochs: CONFIG.epochs, seed: CONFIG.seed, 'eval-freq': CONFIG.evalFreq }, 'node');
  nodeRun.catch(() => undefined); // awaited (and reported) by the test that needs it
  const warnings = await timed('vite build', () => buildSpamPage(join(workDir, 'page')));
  expect(warnings, 'Vite warnings').toEqual([]);
  server = await startStaticServer({ '/': join(workDir, 'page') });
  browser = await launchChromium();
  view = await timed('page load', () => openSpamPage(browser!, `${server!.url}/index.html`));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  console.log(`spam page test: ${Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')}`);
});

describe('the spam-classifier page (examples/spam-classifier) in headless Chromium', () => {
  let page: SpamRunFigures;

  it('shows the adapter and its buffer limits', async () => {
    const adapter = (await view!.page.textContent('#adapter')) ?? '';
    console.log(adapter);
    expect(adapter).toMatch(/^adapter: .+ \((core|compatibility)\); buffers up to \d+ MiB, bindings up to \d+ MiB/);
    expect(view!.problems).toEqual([]);
  });

  it('fine-tunes the built-in model with a live progress bar and loss curve', async () => {
    await startRunInPage(view!, CONFIG);
    const started = performance.now();
    // the first loss point (after step 1) is drawn while the run goes on
    await view!.page.waitForFunction(() => document.querySelector('#loss-chart polyline') !== null || document.body.dataset.state !== 'training', undefined, { timeout: 60_000 });
    timings['page to first loss point'] = (performance.now() - started) / 1000;
    const progress = await view!.page.evaluate(() => {
      const bar = document.getElementById('progress') as HTMLProgressElement;
      return { state: document.body.dataset.state, value: bar.value, max: bar.max };
    });
    expect(progress.state, (await view!.page.textContent('#status')) ?? '').toBe('training');
    expect(progress.max).toBe(2 * Math.floor(CONFIG.limit / 16));
    expect(progress.value).toBeGreaterThanOrEqual(1);
    expect(progress.value).toBeLessThan(progress.max);
    expect(await view!.page.locator('#accuracy-chart circle').count(), 'accuracy before training').toBe(2);
  });

  it('ends with validation accuracy risen from chance to well above it', async () => {
    const started = performance.now();
    page = await finishRunInPage(view!, 60_000);
    timings['page rest of the run'] = (performance.now() - started) / 1000;
    console.log(
      `chromium (${page.adapter}): val accuracy ${page.valAccuracyBefore.toFixed(4)} → ${page.accuracy.val.toFixed(4)}; ` +
        `${page.stepSeconds.length} steps: ${page.stepSeconds.map((s) => s.toFixed(2)).join(' ')} s`,
    );
    expect(page.stepSeconds.length).toBe(2 * Math.floor(CONFIG.limit / 16));
    // 64 roughly balanced texts: chance is ~50 % (± 6 points, one standard deviation). An untrained head
    // sits near it; after training at least 70 % (over 3 standard deviations above chance) and 10 points better.
    expect(page.valAccuracyBefore).toBeGreaterThan(0.3);
    expect(page.valAccuracyBefore).toBeLessThan(0.7);
    expect(page.accuracy.val).toBeGreaterThanOrEqual(0.7);
    expect(page.accuracy.val).toBeGreaterThan(page.valAccuracyBefore + 0.1);
    // the loss curve falls and the charts were drawn from it
    const losses = page.losses.map((l) => l.valLoss);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    expect(await view!.page.locator('#loss-chart polyline').count()).toBe(2);
    expect(await view!.page.locator('#accuracy-chart polyline').count()).toBe(2);
  });

  it('gives the losses of the Node runner on the same configuration (within 1e-3 relative)', async () => {
    const node = await nodeRun;
    expect(page.losses.map((l) => l.step)).toEqual([1, 4, 7]);
    expect(node.losses.map((l) => l.step)).toEqual(page.losses.map((l) => l.step));
    let worst = 0;
    page.losses.forEach((l, i) => {
      for (const key of ['trainLoss', 'valLoss'] as const) {
        const rel = Math.abs(l[key] - node.losses[i][key]) / Math.abs(node.losses[i][key]);
        worst = Math.max(worst, rel);
        expect(rel, `${key} at step ${l.step}: chromium ${l[key]} vs node ${node.losses[i][key]}`).toBeLessThanOrEqual(1e-3);
      }
    });
    console.log(`node (${node.adapter}) vs chromium (${page.adapter}): worst relative loss difference ${worst.toExponential(2)}`);
    for (const [who, run] of [['node', node], ['chromium', page]] as const) {
      console.log(`  ${who.padEnd(8)} losses ${run.losses.map((l) => `${l.trainLoss.toFixed(6)}/${l.valLoss.toFixed(6)}`).join(' ')}; val accuracy ${run.accuracy.val.toFixed(4)}`);
    }
  });

  it("classifies the book's two sample texts through the text box as the script and the Node runner did; keeps a screenshot", async () => {
    const node = await nodeRun;
    for (const [i, sample] of page.samples.entries()) {
      const verdict = await classifyInPage(view!, sample.text);
      // The reduced run is too short to learn the book's verdicts reliably (the full recipe does: see the
      // CLI test); what must hold is that the text box, the script and Node agree.
      console.log(`text box: ${JSON.stringify(sample.text)} → ${verdict.shown} (node: ${node.samples[i].label}, p(spam) ${node.samples[i].spamProbability.toFixed(4)}; the book: ${sample.expected})`);
      expect(verdict.label).toBe(sample.label);
      expect(Math.abs(verdict.spamProbability - sample.spamProbability)).toBeLessThanOrEqual(5e-4); // shown with 3 decimals
      expect(node.samples[i].label).toBe(sample.label);
      expect(Math.abs(node.samples[i].spamProbability - sample.spamProbability)).toBeLessThanOrEqual(1e-3);
    }
    mkdirSync(join(ROOT, 'test/artifacts'), { recursive: true });
    await view!.page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(readFileSync(SCREENSHOT).byteLength).toBeGreaterThan(10_000);
    expect(view!.problems).toEqual([]);
  });

  it('trains LoRA adapters only when the LoRA switch is on, with the losses of the Node runner', async () => {
    const node = runNode({ limit: LORA_CONFIG.limit, epochs: LORA_CONFIG.epochs, seed: LORA_CONFIG.seed, 'eval-freq': LORA_CONFIG.evalFreq, lora: '4,8' }, 'node-lora');
    node.catch(() => undefined); // awaited below
    const lora = await timed('page LoRA training', () => trainInPage(view!, LORA_CONFIG, 60_000));
    const recipe = (await view!.page.textContent('#recipe')) ?? '';
    // rank 4 on every Linear of the built-in model: q, k, v, out (32 → 32), the MLP (32 → 128 → 32) and
    // the head (32 → 2): 4 · (4·(32 + 32) + (32 + 128) + (128 + 32) + (32 + 2)) = 2,440 parameters.
    expect(recipe).toMatch(/LoRA rank 4 alpha 8: .* 2,440 trainable/);
    const nodeLora = await node;
    expect(lora.losses.map((l) => l.step)).toEqual([1]);
    expect(nodeLora.losses.map((l) => l.step)).toEqual([1]);
    for (const key of ['trainLoss', 'valLoss'] as const) {
      const rel = Math.abs(lora.losses[0][key] - nodeLora.losses[0][key]) / nodeLora.losses[0][key];
      console.log(`LoRA ${key} after one step: chromium ${lora.losses[0][key]} vs node ${nodeLora.losses[0][key]} (relative difference ${rel.toExponential(2)})`);
      expect(rel).toBeLessThanOrEqual(1e-3);
    }
    expect(view!.problems).toEqual([]);
  });

  it("trains on the user's three-class CSV (columns and counts shown), with the Node runner's losses; N×N results, every class's probability, download and reload (issue 19)", async () => {
    const node = runNode({ data: FILE_CONFIG.dataFile, limit: FILE_CONFIG.limit, epochs: FILE_CONFIG.epochs, seed: FILE_CONFIG.seed, 'eval-freq': FILE_CONFIG.evalFreq, 'max-length': FILE_CONFIG.maxLength }, 'node-file');
    node.catch(() => undefined); // awaited below
    const run = await timed('page three-class training', () => trainInPage(view!, FILE_CONFIG, 120_000));
    const p = view!.page;
    expect(await p.$eval('#text-column', (s) => (s as HTMLSelectElement).value)).toBe('message');
    expect(await p.$eval('#label-column', (s) => (s as HTMLSelectElement).value)).toBe('category');
    const counts = await p.$$eval('#class-counts tr', (rows) => rows.map((r) => Array.from(r.children, (c) => c.textContent)));
    expect(counts).toEqual([['class', 'train', 'validation', 'test'], ['ham', '42', '6', '12'], ['instruction', '42', '6', '12'], ['spam', '42', '6', '12']]);
    // The N×N confusion matrix of the 36 test texts and the per-class table with its macro row.
    const matrix = await p.$$eval('#confusion tr', (rows) => rows.slice(1).map((r) => Array.from(r.children).slice(1).map((c) => Number(c.textContent))));
    expect(matrix.length).toBe(3);
    expect(matrix.flat().reduce((a, b) => a + b, 0)).toBe(36);
    expect(await p.locator('#per-class tr').count()).toBe(5);
    expect(run.report.classes.map((k) => k.label)).toEqual(['ham', 'instruction', 'spam']);
    expect(run.majority.test).toBeCloseTo(1 / 3, 6);
    expect(run.accuracy.val).toBeGreaterThan(run.majority.val); // learnt something beyond the largest class
    expect(run.bagOfWords.train).toBe(1); // TF-IDF + logistic regression fits its training split
    expect(await p.locator('#results td', { hasText: 'bag of words' }).count()).toBe(1);
    const nodeRun = await node;
    expect(nodeRun.losses.map((l) => l.step)).toEqual(run.losses.map((l) => l.step));
    run.losses.forEach((l, i) => {
      for (const key of ['trainLoss', 'valLoss'] as const) {
        expect(Math.abs(l[key] - nodeRun.losses[i][key]) / nodeRun.losses[i][key], `${key} at step ${l.step}`).toBeLessThanOrEqual(1e-3);
      }
    });
    // Every class's probability for a typed text.
    await classifyInPage(view!, 'Rewrite the following sentence in passive voice.');
    const shown = await p.$$eval('#probabilities span', (spans) => spans.map((s) => [s.getAttribute('data-label'), Number(/\) ([\d.]+)/.exec(s.textContent ?? '')?.[1])]));
    expect(shown.map(([l]) => l)).toEqual(['ham', 'instruction', 'spam']);
    expect(shown.reduce((a, [, v]) => a + (v as number), 0)).toBeCloseTo(1, 2);
    const label = await p.getAttribute('#verdict', 'data-label');
    // The classifier downloads as a file that Node loads and that gives the same verdict.
    const [download] = await Promise.all([p.waitForEvent('download'), p.click('#download')]);
    const file = join(workDir, 'page-classifier.safetensors');
    await download.saveAs(file);
    await init();
    const loaded = await loadClassifier(file);
    expect(loaded.labels).toEqual(['ham', 'instruction', 'spam']);
    const again = await classify(loaded.model, 'Rewrite the following sentence in passive voice.', { maxLength: loaded.maxLength });
    expect(again.label).toBe(label);
    loaded.model.dispose();
    // ... and loads back into the page to classify without training.
    await p.setInputFiles('#classifier-file', file);
    await p.waitForFunction(() => (document.getElementById('status')?.textContent ?? '').startsWith('loaded '), undefined, { timeout: 30_000 });
    expect((await classifyInPage(view!, 'Rewrite the following sentence in passive voice.')).label).toBe(label);
    mkdirSync(join(ROOT, 'test/artifacts'), { recursive: true });
    await p.screenshot({ path: FILE_SCREENSHOT, fullPage: true });
    expect(readFileSync(FILE_SCREENSHOT).byteLength).toBeGreaterThan(10_000);
    expect(view!.problems).toEqual([]);
  });
});
