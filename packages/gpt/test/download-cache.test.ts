/**
 * Downloads and the weight cache against a local HTTP server that misbehaves the ways real ones do:
 * a body cut short (with and without content-length), an HTML login page with status 200, a server
 * that stalls, no server at all. Nothing bad may ever become a cache entry, every error names the URL
 * and the cause, and a damaged cache entry is detected, deleted and fetched again.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchCached, serializeSafetensors } from '../src/index.node';

/** A small valid safetensors file (a few KB, so that a truncated body is clearly shorter). */
const good = serializeSafetensors({ 'wte.weight': { dtype: 'F32', shape: [64, 16], data: Float32Array.from({ length: 1024 }, (_, i) => Math.sin(i)) } });

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const routes = new Map<string, Handler>();
const hits = new Map<string, number>();
let base = '';
const server = createServer((req, res) => {
  hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1);
  const handler = routes.get(req.url ?? '');
  if (handler) handler(req, res);
  else res.writeHead(404).end('not found');
});
const stalled: ServerResponse[] = [];

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  routes.set('/good.safetensors', (_, res) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from(good)));
  // Chunked (no content-length), and the connection ends cleanly after half the file.
  routes.set('/truncated.safetensors', (_, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(Buffer.from(good.subarray(0, good.length >> 1)));
  });
  // content-length says the whole file, then the socket is destroyed midway.
  routes.set('/cut.safetensors', (_, res) => {
    res.writeHead(200, { 'content-length': String(good.length) });
    res.write(Buffer.from(good.subarray(0, good.length >> 1)), () => res.destroy());
  });
  routes.set('/login.safetensors', (_, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!DOCTYPE html><html><body>Please log in</body></html>'));
  // Headers, a first chunk, then nothing ever again.
  routes.set('/stall.safetensors', (_, res) => {
    res.writeHead(200, { 'content-length': String(good.length) });
    res.write(Buffer.from(good.subarray(0, 100)));
    stalled.push(res);
  });
  routes.set('/silent.safetensors', (_, res) => void stalled.push(res)); // never even answers
});

afterAll(async () => {
  for (const res of stalled) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function emptyCache(): string {
  return mkdtempSync(join(tmpdir(), 'sg-dl-cache-'));
}

describe('weight downloads never poison the cache', () => {
  it('caches a good download once and serves it from the cache afterwards', async () => {
    const cacheDir = emptyCache();
    const url = `${base}/good.safetensors`;
    const before = hits.get('/good.safetensors') ?? 0;
    expect(Array.from(await fetchCached(url, { cacheDir }))).toEqual(Array.from(good));
    expect(Array.from(await fetchCached(url, { cacheDir }))).toEqual(Array.from(good));
    expect((hits.get('/good.safetensors') ?? 0) - before).toBe(1);
    expect(readdirSync(cacheDir).length).toBe(1);
  });

  it('rejects a body cut short without content-length, caching nothing', async () => {
    const cacheDir = emptyCache();
    const url = `${base}/truncated.safetensors`;
    await expect(fetchCached(url, { cacheDir })).rejects.toThrow(new RegExp(`${url.replace(/[.]/g, '\\.')} is not a complete safetensors file \\(.*truncated`));
    expect(readdirSync(cacheDir)).toEqual([]); // no entry, no temp file
    await expect(fetchCached(url, { cacheDir })).rejects.toThrow(/not a complete safetensors file/); // fetched again, not served from a cache
  });

  it('rejects a body shorter than its content-length, naming the URL and the cause', async () => {
    const cacheDir = emptyCache();
    const url = `${base}/cut.safetensors`;
    const err = await fetchCached(url, { cacheDir }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(new RegExp(`^scratchgpt: downloading ${url.replace(/[.]/g, '\\.')} failed: .+`));
    expect((err as Error).message).not.toMatch(/failed: fetch failed$/);
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it('rejects an HTML login page served with status 200, saying what the server sent', async () => {
    const cacheDir = emptyCache();
    await expect(fetchCached(`${base}/login.safetensors`, { cacheDir })).rejects.toThrow(/login\.safetensors is not a complete safetensors file .*the server sent text\/html; charset=utf-8 — a login or error page\?/);
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it('gives up on a stalled server after timeoutMs, and on one that never answers', async () => {
    const cacheDir = emptyCache();
    await expect(fetchCached(`${base}/stall.safetensors`, { cacheDir, timeoutMs: 300 })).rejects.toThrow(/downloading http:\/\/127\.0\.0\.1:\d+\/stall\.safetensors failed: no data from the server for 300 ms/);
    await expect(fetchCached(`${base}/silent.safetensors`, { cacheDir, timeoutMs: 300 })).rejects.toThrow(/silent\.safetensors failed: no data from the server for 300 ms/);
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it('stops when the caller aborts', async () => {
    const controller = new AbortController();
    const pending = fetchCached(`${base}/silent.safetensors`, { cacheDir: emptyCache(), signal: controller.signal, timeoutMs: 0 });
    setTimeout(() => controller.abort(new Error('user cancelled')), 50);
    await expect(pending).rejects.toThrow(/silent\.safetensors failed: aborted \(user cancelled\)/);
  });

  it('names the URL and the cause when no server listens (connection refused) and on HTTP errors', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const url = `http://127.0.0.1:${port}/model.safetensors`;
    await expect(fetchCached(url, { cacheDir: emptyCache() })).rejects.toThrow(new RegExp(`downloading ${url.replace(/[.]/g, '\\.')} failed: fetch failed: .*ECONNREFUSED`));
    await expect(fetchCached(`${base}/missing.safetensors`, { cacheDir: emptyCache() })).rejects.toThrow(/missing\.safetensors failed: HTTP 404/);
  });

  it('detects a damaged cache entry, deletes it and fetches the file again', async () => {
    const cacheDir = emptyCache();
    const url = `${base}/good.safetensors`;
    await fetchCached(url, { cacheDir });
    const [entry] = readdirSync(cacheDir);
    const path = join(cacheDir, entry);
    const before = hits.get('/good.safetensors') ?? 0;
    for (const damage of [readFileSync(path).subarray(0, 200), Buffer.from('<html>oops</html>'), Buffer.concat([readFileSync(path), Buffer.from('junk')])]) {
      writeFileSync(path, damage);
      expect(Array.from(await fetchCached(url, { cacheDir }))).toEqual(Array.from(good));
      expect(Array.from(readFileSync(path))).toEqual(Array.from(good));
    }
    expect((hits.get('/good.safetensors') ?? 0) - before).toBe(3);
    expect(readdirSync(cacheDir)).toEqual([entry]);
  });
});
