/**
 * The browser side of files and downloads, in headless Chromium (Debian's, as test/browser.test.ts
 * uses; no GPU needed): OPFS writes and reads, and the Cache API weight cache with the same
 * validate-before-cache rule as Node's disk cache — a truncated body or an HTML page is never cached,
 * a damaged cache entry is replaced. The page script is bundled from the sources with esbuild.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeSafetensors } from '../src/index';

const CHROMIUM = '/usr/bin/chromium';
const require = createRequire(import.meta.url);
const esbuild = createRequire(require.resolve('tsup'))('esbuild') as { build(o: Record<string, unknown>): Promise<{ outputFiles: { text: string }[] }> };

const good = serializeSafetensors({ 'wte.weight': { dtype: 'F32', shape: [32, 8], data: Float32Array.from({ length: 256 }, (_, i) => i / 7) } });

/** The page's API: the browser platform functions, plus raw Cache API access for the checks. */
const PAGE = `
import { readFileBytes, writeFileAtomic } from './platform/browser-files';
import { fetchCached } from './platform/browser-cache';
window.io = {
  async write(path, text) { await writeFileAtomic(path, new TextEncoder().encode(text)); },
  async read(path) { return new TextDecoder().decode(await readFileBytes(path)); },
  async fetchCached(url, timeoutMs) {
    try { return { bytes: Array.from(await fetchCached(url, { timeoutMs })) }; } catch (e) { return { error: e.message }; }
  },
  async cached(url) { const r = await (await caches.open('scratchgpt-weights')).match(url); return r ? Array.from(new Uint8Array(await r.arrayBuffer())) : null; },
  async damage(url) { await (await caches.open('scratchgpt-weights')).put(url, new Response('<html>stale</html>')); },
  async readMissing(path) { try { await readFileBytes(path); return 'no error'; } catch (e) { return e.message; } },
};
`;

let browser: Browser;
let page: Page;
let base = '';
const hits = new Map<string, number>();
const server = createServer((req, res) => {
  const url = req.url ?? '';
  hits.set(url, (hits.get(url) ?? 0) + 1);
  if (url === '/') res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/app.js"></script>');
  else if (url === '/app.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(appJs);
  else if (url === '/good.safetensors') res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from(good));
  else if (url === '/truncated.safetensors') res.writeHead(200).end(Buffer.from(good.subarray(0, 300)));
  else if (url === '/login.safetensors') res.writeHead(200, { 'content-type': 'text/html' }).end('<!DOCTYPE html><p>log in</p>');
  else res.writeHead(404).end();
});
let appJs = '';

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing — install Debian's chromium (scripts/setup.sh does)`);
  const built = await esbuild.build({
    stdin: { contents: PAGE, resolveDir: fileURLToPath(new URL('../src', import.meta.url)), loader: 'js' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    // The platform files' errors are @scratchgpt/core's ScratchGPTError: core's sources come along (its
    // WGSL inlined as text, as the library's own build does; tree-shaking keeps only what is used).
    loader: { '.wgsl': 'text' },
    logLevel: 'silent',
  });
  appJs = built.outputFiles[0].text;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking', '--no-first-run'] });
  page = await browser.newPage();
  await page.goto(`${base}/`);
  await page.waitForFunction(() => 'io' in window, undefined, { timeout: 30_000 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

type IO = {
  write(path: string, text: string): Promise<void>;
  read(path: string): Promise<string>;
  fetchCached(url: string, timeoutMs?: number): Promise<{ bytes?: number[]; error?: string }>;
  cached(url: string): Promise<number[] | null>;
  damage(url: string): Promise<void>;
  readMissing(path: string): Promise<string>;
};
function io<K extends keyof IO>(name: K, ...args: Parameters<IO[K]>): Promise<Awaited<ReturnType<IO[K]>>> {
  return page.evaluate(([n, a]) => (window as unknown as { io: Record<string, (...x: unknown[]) => unknown> }).io[n as string](...(a as unknown[])), [name, args] as const) as never;
}

describe('browser files (OPFS) and weight cache (Cache API), in Chromium', () => {
  it('writes and reads OPFS files, replacing them whole', async () => {
    await io('write', 'runs/a/ckpt.bin', 'first version');
    await io('write', 'runs/a/ckpt.bin', 'second');
    expect(await io('read', 'runs/a/ckpt.bin')).toBe('second');
    expect(await io('readMissing', 'runs/none.bin')).toMatch(/no file 'runs\/none\.bin' in this origin's private file system \(OPFS\)/);
  });

  it('caches a validated download and never a truncated body or an HTML page', async () => {
    const url = `${base}/good.safetensors`;
    expect((await io('fetchCached', url)).bytes).toEqual(Array.from(good));
    expect((await io('fetchCached', url)).bytes).toEqual(Array.from(good));
    expect(hits.get('/good.safetensors')).toBe(1);
    expect(await io('cached', url)).toEqual(Array.from(good));
    for (const bad of ['truncated', 'login']) {
      const result = await io('fetchCached', `${base}/${bad}.safetensors`);
      expect(result.error, bad).toMatch(new RegExp(`${bad}\\.safetensors is not a complete safetensors file`));
      expect(await io('cached', `${base}/${bad}.safetensors`), bad).toBeNull();
    }
    expect((await io('fetchCached', `${base}/login.safetensors`)).error).toMatch(/the server sent text\/html — a login or error page\?/);
  });

  it('replaces a damaged cache entry with a fresh download', async () => {
    const url = `${base}/good.safetensors`;
    await io('damage', url);
    const before = hits.get('/good.safetensors') ?? 0;
    expect((await io('fetchCached', url)).bytes).toEqual(Array.from(good));
    expect(hits.get('/good.safetensors')).toBe(before + 1);
    expect(await io('cached', url)).toEqual(Array.from(good));
  });
});
