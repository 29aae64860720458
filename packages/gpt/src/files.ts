/**
 * What the platform-neutral modules need from a file system and a download cache. Node implements it
 * with `node:fs` and a disk cache (`platform/node.ts`, selected by the package's `node` export
 * condition), browsers with the origin-private file system and the Cache API (`platform/browser.ts`):
 * nothing here imports a Node built-in, so bundling for the browser never meets one.
 */
import type { DownloadOptions } from './download';

/** Whether we run in Node (file paths are real paths there). */
export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/** Options of the download cache. */
export interface CacheOptions extends DownloadOptions {
  /** Node: the cache directory (default `~/.cache/scratchgpt`). Browsers: ignored (the Cache API is used). */
  cacheDir?: string;
}

/** @internal The file and cache operations of one platform. */
export interface PlatformIO {
  /** Reads a whole file. */
  readFile(path: string): Promise<Uint8Array>;
  /** Reads a text file, or null when it does not exist. */
  readTextIfExists(path: string): Promise<string | null>;
  /** The path of `name` in the directory of `path`. */
  sibling(path: string, name: string): string;
  /** Downloads (or takes from the cache) a safetensors file, validated. */
  fetchCached(url: string, options?: CacheOptions): Promise<Uint8Array>;
  /** Downloads (or takes from the cache) a JSON text file, or null on HTTP 404. */
  fetchCachedJsonText(url: string, options?: CacheOptions): Promise<string | null>;
}
