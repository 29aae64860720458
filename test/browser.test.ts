/**
 * The browser bundle of @scratchgpt/core (packages/core/dist/index.js) in headless Chromium: it must load
 * without Node modules, acquire WebGPU through navigator.gpu and compute correctly, at the core feature
 * level (SwiftShader Vulkan) and at the compatibility level (Chromium's OpenGL ES adapter).
 * Needs `pnpm build` first (the root `pnpm test` does it) and Debian's `chromium` at /usr/bin/chromium.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addRef, expectClose, geluRef, matmulRef, randomInput, softmaxRef, type Shaped } from './browser/reference';
import { startStaticServer, type StaticServer } from './browser/server';

const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(here, '../packages/core/dist');
const entry = join(dist, 'index.js');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--no-sandbox',
];

/** What test/browser/page.js returns. */
interface PageReport {
  exported: string[];
  adapterName: string;
  backend: string;
  featureLevel: 'core' | 'compatibility';
  coreFeature: boolean;
  maxStorageBufferBindingSize: number;
  adapterMaxStorageBufferBindingSize: number;
  liveBefore: number;
  liveAfter: number;
  shapeError: string;
  results: Partial<Record<'fromArray' | 'add' | 'gelu' | 'matmul' | 'softmax', Shaped>>;
}

/** Inputs sent to the page (odd sizes, broadcasting on both sides, batch dims, large logits). */
const inputs: Record<string, Shaped> = {
  x: randomInput([13], 1, -1e3, 1e3),
  a: randomInput([4, 1, 37], 2, -2, 2),
  b: randomInput([3, 1], 3, -2, 2),
  bad: randomInput([5], 4),
  g: randomInput([1031], 5, -6, 6),
  ma: randomInput([2, 17, 33], 6),
  mb: randomInput([33, 19], 7),
  s: randomInput([5, 67], 8, -10, 10),
};
inputs.s.data = inputs.s.data.map((v, i) => (i < 67 ? v + 80 : v)); // first row: large logits (stability)

/** Relative module specifiers (static and dynamic imports) of a bundle file. */
function relativeImports(code: string): string[] {
  const found = new Set<string>();
  for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g)) found.add(m[1]);
  return [...found];
}

/** Every file of dist that a browser loading index.js can reach, with its text. */
function browserModuleGraph(): Map<string, string> {
  const files = new Map<string, string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    const code = readFileSync(file, 'utf8');
    files.set(file, code);
    for (const spec of relativeImports(code)) visit(resolve(dirname(file), spec));
  };
  visit(entry);
  return files;
}

/** Runs test/browser/page.js in a fresh page of `browser`; page errors fail the run. */
async function runPage(browser: Browser, server: StaticServer, featureLevel?: 'core' | 'compatibility'): Promise<PageReport> {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  try {
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction(() => 'runOps' in window, undefined, { timeout: 30_000 });
    const report = await page.evaluate(
      (request) => (window as unknown as { runOps: (r: unknown) => Promise<PageReport> }).runOps(request),
      { featureLevel, inputs },
    );
    expect(problems, 'errors in the page').toEqual([]);
    return report;
  } finally {
    await page.close();
  }
}

/** Compares a page report with the float64 references (matmul/softmax when the bundle exports them). */
function checkResults(report: PageReport, label: string): void {
  const { results, exported } = report;
  console.log(`${label}: ${report.adapterName} (${report.featureLevel}, ${report.backend}); ran ${Object.keys(results).join(', ')}`);
  expect(results.fromArray, `${label}: fromArray`).toEqual(inputs.x);
  expectClose(results.add!, addRef(inputs.a, inputs.b), `${label} add [4,1,37]+[3,1]`, { rtol: 1e-6, atol: 1e-7 });
  expectClose(results.gelu!, { data: inputs.g.data.map(geluRef), shape: inputs.g.shape }, `${label} gelu`, { rtol: 1e-5, atol: 1e-6 });
  expect(report.shapeError, `${label}: broadcasting error`).toMatch(/\[4, 1, 37\].*\[5\]/);
  expect('matmul' in results, `${label}: matmul ran iff exported`).toBe(exported.includes('matmul'));
  if (results.matmul) expectClose(results.matmul, matmulRef(inputs.ma, inputs.mb), `${label} matmul [2,17,33]@[33,19]`, { rtol: 1e-5, atol: 1e-5 });
  expect('softmax' in results, `${label}: softmax ran iff exported`).toBe(exported.includes('softmax'));
  if (results.softmax) expectClose(results.softmax, softmaxRef(inputs.s), `${label} softmax [5,67]`, { rtol: 1e-5, atol: 1e-7 });
  expect(report.liveAfter, `${label}: every tensor disposed`).toBe(report.liveBefore);
}

let server: StaticServer | undefined;
const browsers: Browser[] = [];

async function launch(extraArgs: string[] = []): Promise<Browser> {
  // launch() gives each browser a fresh temporary profile (--user-data-dir) and removes it on close.
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
  browsers.push(browser);
  return browser;
}

beforeAll(async () => {
  if (!existsSync(entry)) {
    throw new Error(`test/browser.test.ts: ${entry} is missing — run \`pnpm build\` (or \`pnpm --filter @scratchgpt/core build\`) first`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`test/browser.test.ts: ${CHROMIUM} is missing — install Debian's chromium (scripts/setup.sh does)`);
  server = await startStaticServer({ '/core/': dist, '/': join(here, 'browser') });
});

afterAll(async () => {
  await Promise.all(browsers.map((b) => b.close()));
  await server?.close();
});

describe('browser bundle', () => {
  it('never imports Node modules or the npm package webgpu', () => {
    const graph = browserModuleGraph();
    expect(graph.size, 'index.js plus its chunks').toBeGreaterThan(1);
    for (const [file, code] of graph) {
      for (const banned of ['from "webgpu"', "from 'webgpu'", 'require("webgpu")', 'import("webgpu")', 'from "node:', "from 'node:"]) {
        expect(code.includes(banned), `${file} contains ${banned}`).toBe(false);
      }
    }
    // and the Node entry does use it (so the check above looks at the right thing)
    expect(readFileSync(join(dist, 'node.js'), 'utf8')).toContain('from "webgpu"');
  });

  it('runs ops in Chromium at the core feature level (SwiftShader without a GPU) and matches float64 references', async () => {
    const report = await runPage(await launch(), server!);
    expect(report.featureLevel).toBe('core');
    expect(report.coreFeature).toBe(true);
    expect(report.backend).toBe('browser');
    expect(report.maxStorageBufferBindingSize).toBe(report.adapterMaxStorageBufferBindingSize);
    checkResults(report, 'chromium core');
    // Only files of the browser graph were fetched from /core/ (page.js, index.html aside).
    const graph = new Set([...browserModuleGraph().keys()].map((f) => `/core/${f.slice(dist.length + 1)}`));
    const fetched = server!.served.filter((p) => p.startsWith('/core/') && !p.endsWith('.map'));
    expect(fetched).toContain('/core/index.js');
    for (const p of fetched) expect(graph.has(p), `${p} fetched but not in the import graph`).toBe(true);
  });

  it('runs ops in Chromium at the compatibility feature level (OpenGL ES adapter)', async () => {
    const report = await runPage(await launch(['--use-webgpu-adapter=opengles']), server!, 'compatibility');
    expect(report.featureLevel).toBe('compatibility');
    expect(report.coreFeature).toBe(false);
    expect(report.backend).toBe('browser (compat)');
    expect(report.maxStorageBufferBindingSize).toBe(report.adapterMaxStorageBufferBindingSize);
    checkResults(report, 'chromium compat');
  });

  it('trains a small MLP to near-zero loss in Chromium without growing GPU memory', async () => {
    const browser = await launch();
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    try {
      await page.goto(`${server!.url}/index.html`);
      await page.waitForFunction(() => 'trainMLP' in window, undefined, { timeout: 30_000 });
      const r = await page.evaluate(
        (steps) => (window as unknown as { trainMLP: (o: { steps: number }) => Promise<{ first: number; last: number; liveAfterFirst: number; liveAfterLast: number }> }).trainMLP({ steps }),
        150,
      );
      console.log(`chromium MLP: loss ${r.first.toFixed(4)} → ${r.last.toFixed(5)} in 150 AdamW steps; live tensors ${r.liveAfterFirst} → ${r.liveAfterLast}`);
      expect(problems).toEqual([]);
      expect(r.last).toBeLessThan(0.01);
      expect(r.last).toBeLessThan(r.first / 20);
      expect(r.liveAfterLast).toBe(r.liveAfterFirst);
    } finally {
      await page.close();
    }
  });
});
