/**
 * Downloads that fail clearly, shared by Node and browsers (only `fetch` and streams): every error
 * names the URL and the cause (HTTP status, connection refused, stalled server, abort, a body cut
 * short), and a downloaded weights file is validated before anything caches it.
 */
import { ScratchGPTError } from '@scratchgpt/core';
import { readSafetensorsHeader, safetensorsHeaderSize } from './safetensors';

/** Options of every download (`loadGPT2` from a URL, `fetchCached`). */
export interface DownloadOptions {
  /**
   * Give up when the server sends nothing — no response, or no bytes of the body — for this many
   * milliseconds (a stall, not the total time: a large file on a slow link keeps going). Default
   * 60 000; 0 waits forever.
   */
  timeoutMs?: number;
  /** Cancels the download (and any pending wait) when aborted. */
  signal?: AbortSignal;
  /** The `fetch` to use (default: the global one). */
  fetchFn?: typeof fetch;
}

/** What {@link downloadTo} received. */
export interface DownloadInfo {
  /** Body bytes received. */
  size: number;
  /** The response's `content-type`, if any (named in errors: an HTML page instead of weights says a lot). */
  contentType: string | null;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** "fetch failed: connect ECONNREFUSED 127.0.0.1:9" — an error's message with its causes. */
function describeCause(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const message = e instanceof Error ? e.message : String(e);
    const code = (e as { code?: unknown }).code;
    const text = typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
    if (text && !parts.includes(text)) parts.push(text);
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(': ') || 'unknown error';
}

/**
 * Fetches `url` and hands its body to `sink` chunk by chunk. Throws, naming the URL, on an HTTP error
 * status, a network failure (with its cause), a stall longer than `timeoutMs`, an abort, or a body
 * shorter or longer than its `content-length`. Returns what was received.
 */
export async function downloadTo(url: string, sink: (chunk: Uint8Array) => void | Promise<void>, options: DownloadOptions = {}): Promise<DownloadInfo> {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, signal, fetchFn = globalThis.fetch } = options;
  if (!(timeoutMs >= 0)) throw new ScratchGPTError('value', `scratchgpt: timeoutMs must be a number ≥ 0, got ${timeoutMs}`);
  const fail = (why: string, cause?: unknown): Error => new ScratchGPTError('value', `scratchgpt: downloading ${url} failed: ${why}`, cause === undefined ? undefined : { cause });
  if (signal?.aborted) throw fail(`aborted (${describeCause(signal.reason)})`, signal.reason);
  const controller = new AbortController();
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const rearm = (): void => {
    clearTimeout(timer);
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        stalled = true;
        controller.abort();
      }, timeoutMs);
    }
  };
  const onAbort = (): void => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  // How far the body got, once it is flowing ("after 512 of 4096 bytes").
  let progress = '';
  // Why a failed fetch or read failed: our own timer, the caller's signal, or the network.
  const networkError = (err: unknown): Error => {
    if (stalled) return fail(`no data from the server for ${timeoutMs} ms${progress} (stalled; pass a larger timeoutMs for a slow link)`, err);
    if (signal?.aborted) return fail(`aborted${progress} (${describeCause(signal.reason)})`, signal.reason);
    return fail(`${describeCause(err)}${progress}`, err);
  };
  let finished = false;
  try {
    rearm();
    let response: Response;
    try {
      response = await fetchFn(url, { signal: controller.signal });
    } catch (err) {
      throw networkError(err);
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw Object.assign(fail(`HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`), { status: response.status });
    }
    const contentType = response.headers.get('content-type');
    const lengthHeader = response.headers.get('content-length');
    const encoding = response.headers.get('content-encoding');
    // With a content-encoding (gzip, ...) the header counts compressed bytes: nothing to compare.
    const expected = lengthHeader !== null && (!encoding || encoding === 'identity') ? Number(lengthHeader) : null;
    let size = 0;
    if (response.body) {
      const reader = response.body.getReader();
      progress = ` after 0${expected !== null ? ` of ${expected}` : ''} bytes`;
      for (;;) {
        rearm();
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (err) {
          throw networkError(err);
        }
        if (chunk.done) break;
        size += chunk.value.byteLength;
        progress = ` after ${size}${expected !== null ? ` of ${expected}` : ''} bytes`;
        await sink(chunk.value);
      }
    } else {
      const bytes = new Uint8Array(await response.arrayBuffer());
      size = bytes.byteLength;
      await sink(bytes);
    }
    if (expected !== null && Number.isFinite(expected) && size !== expected) {
      throw fail(`the body has ${size} bytes but content-length says ${expected} (connection cut short?)`);
    }
    finished = true;
    return { size, contentType };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    if (!finished) controller.abort(); // stop a transfer we gave up on
  }
}

/** Downloads `url` into memory (see {@link downloadTo}). */
export async function downloadBytes(url: string, options: DownloadOptions = {}): Promise<{ bytes: Uint8Array; info: DownloadInfo }> {
  const chunks: Uint8Array[] = [];
  const info = await downloadTo(url, (chunk) => void chunks.push(chunk), options);
  const bytes = new Uint8Array(info.size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return { bytes, info };
}

/**
 * Checks that a complete file of `size` bytes is a whole safetensors file: header, dtypes, shapes,
 * and tensors that cover the data section exactly. `read(offset, length)` returns bytes of the file
 * (only the header is read). Throws an error naming `what` (a URL or a cache path) and, for a
 * download, the content type the server sent.
 */
export async function checkSafetensorsFile(what: string, size: number, read: (offset: number, length: number) => Promise<Uint8Array>, contentType?: string | null): Promise<void> {
  try {
    const headerSize = safetensorsHeaderSize(await read(0, Math.min(8, size)), size);
    readSafetensorsHeader(await read(0, headerSize), size, { complete: true });
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).replace(/^scratchgpt: /, '');
    const page = contentType && /text\/|html|json/i.test(contentType) ? `; the server sent ${contentType} — a login or error page?` : '';
    throw new ScratchGPTError('value', `scratchgpt: ${what} is not a complete safetensors file (${why})${page}`, { cause: err });
  }
}

/** {@link checkSafetensorsFile} for bytes in memory. */
export function checkSafetensorsBytes(what: string, bytes: Uint8Array, contentType?: string | null): Promise<void> {
  return checkSafetensorsFile(what, bytes.byteLength, async (offset, length) => bytes.subarray(offset, offset + length), contentType);
}

/** Whether `err` is a download's HTTP 404 (a file that does not exist, e.g. an optional config.json). */
export function isNotFound(err: unknown): boolean {
  return (err as { status?: unknown } | null)?.status === 404;
}

/** Parses JSON text, or throws an error naming where it came from. */
export function parseJsonFrom<T>(what: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new ScratchGPTError('format', `scratchgpt: ${what} is not valid JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}
