/**
 * The Node download cache (`~/.cache/scratchgpt` by default): a download streams into a temp file that
 * is validated (length, safetensors header, tensor sizes against the file size) before it is renamed
 * into the cache, so a failed or wrong download never becomes a cache entry; an entry that fails the
 * same check later (a damaged disk, a file left by an older version) is deleted and fetched again.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { checkSafetensorsFile, downloadBytes, downloadTo, isNotFound, parseJsonFrom, type DownloadInfo } from '../download';
import type { CacheOptions } from '../files';
import { readFileBytes, readFileRange, readTextIfExists, replaceFileAtomically, writeAll, writeFileAtomic } from './node-files';

function cachePath(url: string, dir: string | undefined, ext: string): { dir: string; file: string } {
  const root = dir ?? join(homedir(), '.cache', 'scratchgpt');
  return { dir: root, file: join(root, `${createHash('sha256').update(url).digest('hex').slice(0, 32)}${ext}`) };
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

/**
 * Fetches a safetensors file, caching it on disk (Node). A cached file is checked (header and sizes)
 * before use; a bad one is deleted and downloaded again. Errors name the URL and the cause.
 * @example
 * ```ts
 * const bytes = await fetchCached(gpt2WeightsUrl('gpt2'), { timeoutMs: 30_000 });
 * ```
 */
export async function fetchCached(url: string, options: CacheOptions = {}): Promise<Uint8Array> {
  const { dir, file } = cachePath(url, options.cacheDir, '.safetensors');
  const size = await sizeOf(file);
  if (size !== null) {
    try {
      await checkSafetensorsFile(`the cached download ${file} of ${url}`, size, (offset, length) => readFileRange(file, offset, length));
      return await readFileBytes(file);
    } catch {
      await rm(file, { force: true }); // damaged entry: fetch it again
    }
  }
  await mkdir(dir, { recursive: true });
  const received: { info?: DownloadInfo } = {};
  await replaceFileAtomically(
    file,
    async (handle) => {
      received.info = await downloadTo(url, (chunk) => writeAll(handle, chunk), options);
    },
    async (tmp) => {
      const { size: got, contentType } = received.info!;
      await checkSafetensorsFile(`the download of ${url}`, got, (offset, length) => readFileRange(tmp, offset, length), contentType);
    },
  );
  return readFileBytes(file);
}

/**
 * Fetches a small JSON file (a `config.json`), caching it beside the weights; null when the server
 * answers 404. Text that is not JSON is never cached.
 */
export async function fetchCachedJsonText(url: string, options: CacheOptions = {}): Promise<string | null> {
  const { dir, file } = cachePath(url, options.cacheDir, '.json');
  const cached = await readTextIfExists(file);
  if (cached !== null) {
    try {
      parseJsonFrom(file, cached);
      return cached;
    } catch {
      await rm(file, { force: true });
    }
  }
  let text: string;
  try {
    const { bytes } = await downloadBytes(url, options);
    text = new TextDecoder().decode(bytes);
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
  parseJsonFrom(`the download of ${url}`, text);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(file, text);
  return text;
}
