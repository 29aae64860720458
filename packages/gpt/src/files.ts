/**
 * File helpers for Node, kept out of browser bundles' way: `node:` modules are imported lazily
 * inside the functions, so importing this module in a browser is harmless.
 */

/** Whether we run in Node (file paths available). */
export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/**
 * Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to disk, then
 * renamed over the target. A crash or error midway leaves the previous file intact and no temp file.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | (() => Uint8Array | Promise<Uint8Array>)): Promise<void> {
  const fs = await import('node:fs/promises');
  const { dirname, basename, join } = await import('node:path');
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  let handle: Awaited<ReturnType<typeof fs.open>> | null = null;
  try {
    const data = typeof bytes === 'function' ? await bytes() : bytes;
    handle = await fs.open(tmp, 'wx');
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = null;
    await fs.rename(tmp, path);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** Reads a whole file as bytes. */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  const fs = await import('node:fs/promises');
  const buffer = await fs.readFile(path);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
