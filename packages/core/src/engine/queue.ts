/**
 * Command recording: every dispatch goes into one open compute pass of one command encoder, with its
 * uniforms staged in a CPU arena; `flush()` uploads the arena and submits. Readbacks and uploads flush
 * first, so queue order always matches program order (pooled buffers can be reused safely).
 */
import { BufferUsage, MapMode, gpu } from './device';
import { ScratchGPTError } from './errors';
import { checkReports, REPORT_BYTES, takeArmedReports } from './gpuerrors';
import { lostDeviceError, lostReason } from './lost';

/** Uniform blocks are placed at this alignment (minUniformBufferOffsetAlignment is at most 256). */
const UNIFORM_ALIGN = 256;
const ARENA_BYTES = 256 * 1024;

interface Recording {
  device: GPUDevice;
  encoder: GPUCommandEncoder;
  pass: GPUComputePassEncoder | null;
  dispatches: number;
}

let recording: Recording | null = null;
/** Commands recorded and submissions made since start (see {@link commandCounts}). */
const totals = { dispatches: 0, copies: 0, clears: 0, submits: 0 };
let arenaDevice: GPUDevice | null = null;
let arenaBuffer: GPUBuffer | null = null;
const arenaBytes = new Uint8Array(ARENA_BYTES);
let arenaUsed = 0;
let lastError: string | null = null;
/** The device the pending errors belong to (see `current`). */
let errorsDevice: GPUDevice | null = null;
/** An out-of-memory error found asynchronously at buffer creation (see `memory.ts`); reported before the errors it causes. */
let outOfMemory: { device: GPUDevice; message: string } | null = null;
const watchedDevices = new WeakSet<GPUDevice>();

function watchErrors(device: GPUDevice): void {
  if (watchedDevices.has(device)) return;
  watchedDevices.add(device);
  const onError = (event: Event) => {
    if (lostReason(device) !== undefined) return; // a lost device's late errors are not the new one's
    const message = (event as GPUUncapturedErrorEvent).error?.message ?? String(event);
    lastError ??= message;
  };
  if (typeof device.addEventListener === 'function') device.addEventListener('uncapturederror', onError);
  else (device as { onuncapturederror: unknown }).onuncapturederror = onError;
}

/**
 * Records an error that WebGPU reported asynchronously (an out-of-memory error scope at buffer
 * creation): the next readback or `sync()` throws it, ahead of the validation errors it causes
 * (every later use of the failed buffer is invalid).
 */
export function reportOutOfMemory(device: GPUDevice, message: string): void {
  outOfMemory ??= { device, message };
}

/** Throws (once) the first asynchronous WebGPU error seen since the last check: out-of-memory first, then validation. */
export function throwPendingError(): void {
  if (outOfMemory !== null) {
    const { message } = outOfMemory;
    outOfMemory = null;
    lastError = null; // a consequence of the failed allocation
    throw new ScratchGPTError('device', message);
  }
  if (lastError !== null) {
    const message = lastError;
    lastError = null;
    throw new ScratchGPTError('device', `scratchgpt: WebGPU error: ${message}`);
  }
}

function current(): Recording {
  const { device } = gpu();
  if (errorsDevice !== device) {
    // A new device (the old one was lost or destroyed): what was recorded for the old one is gone, and
    // so are its pending errors.
    if (recording && recording.device !== device) recording = null;
    if (errorsDevice !== null) lastError = null;
    if (outOfMemory && outOfMemory.device !== device) outOfMemory = null;
    errorsDevice = device;
  }
  if (outOfMemory !== null && outOfMemory.device === device) {
    // A buffer creation failed and WebGPU has said so by now: stop at this GPU operation, the first one
    // after the news, rather than at the next readback. What was recorded uses the invalid buffer: dropped.
    recording = null;
    throwPendingError();
  }
  if (!recording) {
    watchErrors(device);
    recording = { device, encoder: device.createCommandEncoder(), pass: null, dispatches: 0 };
  }
  return recording;
}

function arena(device: GPUDevice): GPUBuffer {
  if (!arenaBuffer || arenaDevice !== device) {
    arenaDevice = device;
    arenaUsed = 0;
    arenaBuffer = device.createBuffer({ size: ARENA_BYTES, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
  }
  return arenaBuffer;
}

/** Stages a uniform block for the current recording and returns its binding. */
export function stageUniforms(data: ArrayBuffer): GPUBufferBinding {
  const bytes = data.byteLength;
  if (bytes > ARENA_BYTES) throw new ScratchGPTError('limit', `scratchgpt: uniform block of ${bytes} bytes is too large`);
  const { device } = current();
  if (arenaUsed + bytes > ARENA_BYTES) flush();
  const buffer = arena(device);
  const offset = arenaUsed;
  arenaBytes.set(new Uint8Array(data), offset);
  arenaUsed = Math.ceil((offset + bytes) / UNIFORM_ALIGN) * UNIFORM_ALIGN;
  return { buffer, offset, size: bytes };
}

/** Records a dispatch into the open compute pass (`dynamicOffsets`: for the bind group's dynamic-offset bindings). */
export function recordDispatch(
  pipeline: GPUComputePipeline,
  bindGroup: GPUBindGroup,
  workgroups: readonly [number, number, number],
  dynamicOffsets: readonly number[] = [],
): void {
  const rec = current();
  if (!rec.pass) rec.pass = rec.encoder.beginComputePass();
  rec.pass.setPipeline(pipeline);
  rec.pass.setBindGroup(0, bindGroup, dynamicOffsets);
  rec.pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
  rec.dispatches += 1;
  totals.dispatches += 1;
}

/** Records a buffer-to-buffer copy (closes the open compute pass). */
export function recordCopy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
  const rec = current();
  if (rec.pass) {
    rec.pass.end();
    rec.pass = null;
  }
  rec.encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  rec.dispatches += 1;
  totals.copies += 1;
}

/** Records zeroing `bytes` bytes of a buffer at `offset` (closes the open compute pass). */
export function recordClear(buffer: GPUBuffer, offset: number, bytes: number): void {
  const rec = current();
  if (rec.pass) {
    rec.pass.end();
    rec.pass = null;
  }
  rec.encoder.clearBuffer(buffer, offset, bytes);
  rec.dispatches += 1;
  totals.clears += 1;
}

/** Submits everything recorded so far. Cheap when nothing is pending. */
export function flush(): void {
  const rec = recording;
  if (!rec) return;
  recording = null;
  if (rec.pass) rec.pass.end();
  if (arenaUsed > 0 && arenaBuffer && arenaDevice === rec.device) {
    rec.device.queue.writeBuffer(arenaBuffer, 0, arenaBytes, 0, arenaUsed);
  }
  arenaUsed = 0;
  rec.device.queue.submit([rec.encoder.finish()]);
  totals.submits += 1;
}

/** Number of commands recorded but not yet submitted (for tests and debugging). */
export function pendingCommands(): number {
  return recording?.dispatches ?? 0;
}

/** Commands recorded since the process started: compute dispatches, buffer copies and clears, and queue submissions. */
export interface CommandCounts {
  dispatches: number;
  copies: number;
  clears: number;
  submits: number;
}

/**
 * Running totals of recorded commands (never reset): subtract two readings to count what a piece of
 * work records, e.g. the dispatches of one decoding step or one training step.
 * @example
 * ```ts
 * const before = commandCounts();
 * await generate(model, prompt, { maxNewTokens: 1 });
 * console.log(commandCounts().dispatches - before.dispatches, 'dispatches');
 * ```
 */
export function commandCounts(): CommandCounts {
  return { ...totals };
}

/** Uploads bytes into a buffer, in program order. */
export function writeBuffer(buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
  flush();
  const { device } = gpu();
  // writeBuffer needs a multiple of 4 bytes.
  const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  const padded = bytes.byteLength % 4 === 0 ? bytes : padTo4(bytes);
  device.queue.writeBuffer(buffer, offset, padded, 0, padded.byteLength);
}

function padTo4(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  out.set(bytes);
  return out;
}

/**
 * Reads `bytes` bytes at `offset` of a buffer back to the CPU (submits pending work first). When a
 * kernel that checks its input ran since the last readback, the error-report buffer travels in the
 * same copy (engine/gpuerrors.ts) and a report is thrown here.
 */
export async function readBuffer(buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
  const { device } = gpu();
  const size = Math.max(4, Math.ceil(bytes / 4) * 4);
  const reports = takeArmedReports(device);
  const total = size + (reports ? REPORT_BYTES : 0);
  const staging = device.createBuffer({ size: total, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  try {
    recordCopy(buffer, offset, staging, 0, size);
    if (reports) {
      recordCopy(reports, 0, staging, size, REPORT_BYTES);
      recordClear(reports, 0, REPORT_BYTES);
    }
    flush();
    await mapForReading(device, staging);
    const mapped = staging.getMappedRange(0, total);
    const out = mapped.slice(0, bytes);
    const words = reports ? new Uint32Array(mapped.slice(size, total)) : null;
    staging.unmap();
    throwPendingError();
    if (words) checkReports(words);
    return out;
  } finally {
    staging.destroy();
  }
}

/** `mapAsync` for reading; a device lost meanwhile (WebGPU rejects with an empty AbortError) is named with its reason. */
async function mapForReading(device: GPUDevice, staging: GPUBuffer): Promise<void> {
  try {
    await staging.mapAsync(MapMode.READ);
  } catch (err) {
    // device.lost usually settles first; give it a moment when it has not.
    const lost = lostReason(device) ?? (await Promise.race([device.lost.then((info) => `${info.reason}: ${info.message}`), delay(100)]));
    if (lost) throw lostDeviceError('a readback', lost);
    throw new ScratchGPTError('device', `scratchgpt: reading back from the GPU failed: ${(err as Error).name}${(err as Error).message ? `: ${(err as Error).message}` : ''}`);
  }
}

function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms));
}

/** Resolves when all submitted GPU work has finished (use for timing). */
export async function sync(): Promise<void> {
  flush();
  await gpu().device.queue.onSubmittedWorkDone();
  throwPendingError();
}
