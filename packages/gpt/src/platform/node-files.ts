/**
 * Node files: atomic writes (temp file, flush, rename) that also sweep up the temp files of writers
 * that died mid-save (`kill -9`, power loss), and plain reads.
 */
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

type FileHandle = Awaited<ReturnType<typeof open>>;

/** A temp file untouched for this long is stale even if a process with its pid exists (pids get reused). */
export const STALE_TEMP_AGE_MS = 60 * 60 * 1000;

/** Where a write to `path` stages its bytes: `.<name>.tmp-<pid>-<random>` beside it (same file system, so rename is atomic). */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as { code?: string }).code === 'EPERM';
  }
}

/**
 * Removes the temp files earlier writes to `path` left behind: those whose writer (the pid in the
 * name) is no longer running, or that nobody touched for {@link STALE_TEMP_AGE_MS}. Best effort: a
 * file that cannot be inspected or removed is left alone. Returns the names removed.
 */
export async function removeStaleTempFiles(path: string, now = Date.now()): Promise<string[]> {
  const dir = dirname(path);
  const pattern = new RegExp(`^\\.${escapeRegExp(basename(path))}\\.tmp-(\\d+)-[a-z0-9]+$`);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m) continue;
    const file = join(dir, name);
    try {
      const pid = Number(m[1]);
      const dead = pid !== process.pid && !processAlive(pid);
      const old = now - (await stat(file)).mtimeMs > STALE_TEMP_AGE_MS;
      if (!dead && !old) continue;
      await rm(file, { force: true });
      removed.push(name);
    } catch {
      // vanished meanwhile, or not ours to remove
    }
  }
  return removed;
}

/**
 * Stages a new version of `path` in a temp file written by `fill`, flushes it to disk, lets
 * `check(tempPath)` inspect it, then renames it over `path`. Any failure removes the temp file and
 * leaves the previous `path` intact. Stale temp files of earlier writers are removed first.
 */
export async function replaceFileAtomically(path: string, fill: (handle: FileHandle) => Promise<void>, check?: (tempPath: string) => Promise<void>): Promise<void> {
  await removeStaleTempFiles(path);
  const tmp = tempPathFor(path);
  let handle: FileHandle | null = null;
  try {
    handle = await open(tmp, 'wx');
    await fill(handle);
    await handle.sync();
    await handle.close();
    handle = null;
    await check?.(tmp);
    await rename(tmp, path);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to disk, then
 * renamed over the target. A crash or error midway leaves the previous file intact; a failed write
 * leaves no temp file, and the temp files of writers killed mid-save are removed by the next write
 * (see {@link removeStaleTempFiles}). A function is called first, before any file is created.
 * @example
 * ```ts
 * await writeFileAtomic('ckpt.safetensors', () => checkpointBytes(model, optimizer));
 * ```
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string | (() => Uint8Array | string | Promise<Uint8Array | string>)): Promise<void> {
  const data = typeof bytes === 'function' ? await bytes() : bytes;
  await replaceFileAtomically(path, async (handle) => {
    await handle.writeFile(data);
  });
}

/** Appends all of `chunk` at the handle's position (a single write may be partial). */
export async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let done = 0;
  while (done < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done);
    done += bytesWritten;
  }
}

/** Reads a whole file as bytes. */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  const buffer = await readFile(path);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Reads `length` bytes at `offset` of a file. */
export async function readFileRange(path: string, offset: number, length: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const out = new Uint8Array(length);
    const { bytesRead } = await handle.read(out, 0, length, offset);
    return out.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** A text file's content, or null when it does not exist. */
export async function readTextIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return null;
    throw err;
  }
}
