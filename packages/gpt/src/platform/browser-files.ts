/**
 * Files in browsers: paths name files in the origin-private file system (OPFS,
 * `navigator.storage.getDirectory()`), `a/b/c.safetensors` being file `c.safetensors` in directory
 * `b` of directory `a`. Writes go through `createWritable()`, which stages the data and swaps it in on
 * `close()`: a failed or interrupted write leaves the previous file intact, like Node's atomic rename.
 */
import { ScratchGPTError } from '@scratchgpt/core';

/** What to do instead, for errors where OPFS is unavailable. */
const INSTEAD =
  'work with bytes: checkpointBytes(model, optimizer) / restoreCheckpoint(bytes) for checkpoints, exportGPT2(model) for exports, ' +
  'loadGPT2(bytes or URL) for weights; keep the bytes in IndexedDB or offer them as a download (URL.createObjectURL(new Blob([bytes])))';

function noFileSystem(what: string, why: string): Error {
  return new ScratchGPTError('value', `scratchgpt: ${what} needs a file system; in browsers it uses the origin-private file system (OPFS), but ${why}. Instead, ${INSTEAD}`);
}

function parts(path: string): string[] {
  const out = path.split('/').filter((p) => p !== '' && p !== '.');
  if (out.length === 0 || out.includes('..')) throw new ScratchGPTError('value', `scratchgpt: invalid OPFS path '${path}' (use names separated by '/', without '..')`);
  return out;
}

async function root(what: string): Promise<FileSystemDirectoryHandle> {
  const storage = (globalThis as { navigator?: { storage?: StorageManager } }).navigator?.storage;
  if (typeof storage?.getDirectory !== 'function') throw noFileSystem(what, 'this environment has no navigator.storage.getDirectory()');
  try {
    return await storage.getDirectory();
  } catch (err) {
    throw noFileSystem(what, `opening it failed (${err instanceof Error ? err.message : String(err)})`);
  }
}

async function fileHandle(path: string, create: boolean, what: string): Promise<FileSystemFileHandle | null> {
  const names = parts(path);
  let dir = await root(what);
  try {
    for (const name of names.slice(0, -1)) dir = await dir.getDirectoryHandle(name, { create });
    return await dir.getFileHandle(names[names.length - 1], { create });
  } catch (err) {
    if ((err as { name?: string }).name === 'NotFoundError') return null;
    throw new ScratchGPTError('value', `scratchgpt: OPFS path '${path}': ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/**
 * Reads a whole file of the origin-private file system.
 */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  const handle = await fileHandle(path, false, `readFileBytes('${path}')`);
  if (!handle) throw new ScratchGPTError('value', `scratchgpt: no file '${path}' in this origin's private file system (OPFS)`);
  return new Uint8Array(await (await handle.getFile()).arrayBuffer());
}

/** A text file's content, or null when it does not exist (or there is no OPFS). */
export async function readTextIfExists(path: string): Promise<string | null> {
  let handle: FileSystemFileHandle | null;
  try {
    handle = await fileHandle(path, false, `reading '${path}'`);
  } catch {
    return null;
  }
  return handle ? (await handle.getFile()).text() : null;
}

/** What {@link writeFileAtomic} accepts: the data, or a function computing it. */
export type FileData = Uint8Array | string | (() => Uint8Array | string | Promise<Uint8Array | string>);

/**
 * Writes a file of the origin-private file system (directories are created as needed). The data is
 * staged and swapped in on close: a failure leaves the previous file intact. A function is called
 * first, before anything is opened.
 */
export function writeFileAtomic(path: string, bytes: FileData): Promise<void> {
  return writeOpfsFile(path, bytes, `writeFileAtomic('${path}')`);
}

/** {@link writeFileAtomic}, with `what` naming the caller in errors. */
export async function writeOpfsFile(path: string, bytes: FileData, what: string): Promise<void> {
  await root(what); // fail before serialising when there is no OPFS
  const data = typeof bytes === 'function' ? await bytes() : bytes;
  const handle = (await fileHandle(path, true, what))!;
  if (typeof handle.createWritable !== 'function') throw noFileSystem(what, 'this browser cannot write OPFS files from this context (no createWritable)');
  const writable = await handle.createWritable();
  try {
    await writable.write(typeof data === 'string' ? data : new Blob([data as Uint8Array<ArrayBuffer>]));
    await writable.close();
  } catch (err) {
    await writable.abort().catch(() => undefined);
    throw err;
  }
}
