/**
 * The browser download cache: the Cache API (`caches.open('scratchgpt-weights')`). A download is
 * validated (length, safetensors header, tensor sizes) in memory before it is put in the cache, and a
 * cached response that fails the same check is deleted and fetched again. Without the Cache API (an
 * insecure context, some workers) downloads simply are not cached.
 */
import { checkSafetensorsBytes, downloadBytes, isNotFound, parseJsonFrom } from '../download';
import type { CacheOptions } from '../files';

const CACHE_NAME = 'scratchgpt-weights';

async function openCache(): Promise<Cache | null> {
  const storage = (globalThis as { caches?: CacheStorage }).caches;
  if (!storage) return null;
  try {
    return await storage.open(CACHE_NAME);
  } catch {
    return null; // e.g. SecurityError outside a secure context
  }
}

function cachedResponse(bytes: Uint8Array, type: string): Response {
  return new Response(new Blob([bytes as Uint8Array<ArrayBuffer>]), { headers: { 'content-type': type, 'content-length': String(bytes.byteLength) } });
}

/**
 * Fetches a safetensors file, caching it with the Cache API (browsers). A cached copy is checked
 * (header and sizes) before use; a bad one is deleted and downloaded again. Errors name the URL and
 * the cause. `cacheDir` is ignored.
 */
export async function fetchCached(url: string, options: CacheOptions = {}): Promise<Uint8Array> {
  const cache = await openCache();
  const hit = await cache?.match(url);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    try {
      await checkSafetensorsBytes(`the cached download of ${url}`, bytes);
      return bytes;
    } catch {
      await cache!.delete(url);
    }
  }
  const { bytes, info } = await downloadBytes(url, options);
  await checkSafetensorsBytes(`the download of ${url}`, bytes, info.contentType);
  await cache?.put(url, cachedResponse(bytes, 'application/octet-stream'));
  return bytes;
}

/** Fetches a small JSON file (a `config.json`), cached like the weights; null on HTTP 404. */
export async function fetchCachedJsonText(url: string, options: CacheOptions = {}): Promise<string | null> {
  const cache = await openCache();
  const hit = await cache?.match(url);
  if (hit) {
    const text = await hit.text();
    try {
      parseJsonFrom(url, text);
      return text;
    } catch {
      await cache!.delete(url);
    }
  }
  let text: string;
  try {
    text = new TextDecoder().decode((await downloadBytes(url, options)).bytes);
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
  parseJsonFrom(`the download of ${url}`, text);
  await cache?.put(url, cachedResponse(new TextEncoder().encode(text), 'application/json'));
  return text;
}
