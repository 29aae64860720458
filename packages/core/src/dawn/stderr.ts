/**
 * Dawn's native notices, routed into the library's log.
 *
 * While it discovers adapters, Dawn (dawn.node, npm `webgpu`) prints from C++ straight to file
 * descriptor 2: `dawn::WarningLog()` is an `fprintf(stderr)` with no switch that dawn.node exposes (no
 * `create()` flag, toggle or instance logging callback reaches it). On Mesa's llvmpipe it prints two
 * "maxDynamic…BuffersPerPipelineLayout artificially reduced" lines (Dawn clamps what the GL driver
 * reports); a Vulkan probe without drivers adds the loader's complaints.
 *
 * So for the one synchronous native call that discovers adapters (`requestAdapter`; Dawn enumerates
 * before it returns the promise), descriptor 2 points at a temporary file, and what landed there
 * becomes debug-level log lines. Node has no `dup2`; POSIX `open` returns the lowest free descriptor,
 * so closing 2 and opening the file puts the file at 2, and reopening `/proc/self/fd/<copy>` puts the
 * original back. Only where that is sound: Linux (`/proc`), and stderr a pipe or a character device
 * (terminal, /dev/null). A regular file is left alone (its reopened description would not share the
 * write offset with a `2>&1` stdout), as is a socket (it cannot be reopened); there the notices print.
 * No JavaScript runs while descriptor 2 is redirected.
 */
import { closeSync, constants, fstatSync, openSync, readSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const STDERR = 2;

/** Whether descriptor 2 can be swapped out and reopened safely on this platform. */
function canRedirect(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const stat = fstatSync(STDERR);
    return stat.isFIFO() || stat.isCharacterDevice();
  } catch {
    return false;
  }
}

/** Reopens what descriptor `fd` refers to, for writing; with `nonBlocking`, fails instead of waiting on a pipe nobody reads. */
function reopen(fd: number, nonBlocking: boolean): number {
  const flags = constants.O_WRONLY | constants.O_NOCTTY | (nonBlocking ? constants.O_NONBLOCK : 0);
  return openSync(`/proc/self/fd/${fd}`, flags);
}

/**
 * Calls `fn` with what it writes natively to descriptor 2 captured (where {@link canRedirect}), and
 * returns its result with the captured text ('' when nothing was written or nothing could be captured).
 */
export function captureNativeStderr<T>(fn: () => T): { result: T; output: string } {
  if (!canRedirect()) return { result: fn(), output: '' };
  let original: number;
  try {
    original = reopen(STDERR, true); // fails on a pipe without readers: then leave everything as it is
  } catch {
    return { result: fn(), output: '' };
  }
  const file = join(tmpdir(), `scratchgpt-dawn-${process.pid}-${Math.random().toString(36).slice(2)}.log`);
  closeSync(STDERR);
  let fd = -1;
  try {
    fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
    unlinkSync(file); // the open descriptor keeps it readable; nothing is left behind, whatever happens next
  } catch {
    // no writable temp folder: run uncaptured
  }
  if (fd !== STDERR) {
    // Not redirected (the open failed, or another thread was handed descriptor 2 in between: leave that one alone).
    if (fd >= 0) closeSync(fd);
    if (!isOpen(STDERR)) restore(original);
    closeSync(original);
    return { result: fn(), output: '' };
  }
  try {
    const result = fn();
    return { result, output: readAll(STDERR) };
  } finally {
    closeSync(STDERR);
    restore(original);
    closeSync(original);
  }
}

/** Puts what `original` refers to back at descriptor 2 (the lowest free one). */
function restore(original: number): void {
  const fd = reopen(original, false);
  if (fd !== STDERR) closeSync(fd); // 2 was taken meanwhile by another thread: nothing sound is left to do
}

function readAll(fd: number): string {
  const bytes = Buffer.alloc(fstatSync(fd).size);
  let done = 0;
  while (done < bytes.length) {
    const n = readSync(fd, bytes, done, bytes.length - done, done);
    if (n === 0) break;
    done += n;
  }
  return bytes.subarray(0, done).toString('utf8');
}

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/** Splits Dawn's output into messages: a line starting a message, plus its indented continuation lines. */
export function nativeMessages(output: string): string[] {
  const messages: string[] = [];
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    if (/^\s/.test(line) && messages.length > 0) messages[messages.length - 1] += `\n${line}`;
    else messages.push(line);
  }
  return messages;
}
