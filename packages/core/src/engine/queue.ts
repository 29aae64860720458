/**
 * Command recording: every dispatch goes into one open compute pass of one command encoder, with its
 * uniforms staged in a CPU arena; `flush()` uploads the arena and submits. Readbacks and uploads flush
 * first, so queue order always matches program order (pooled buffers can be reused safely).
 */
import { BufferUsage, MapMode, gpu } from './device';

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
let arenaDevice: GPUDevice | null = null;
let arenaBuffer: GPUBuffer | null = null;
const arenaBytes = new Uint8Array(ARENA_BYTES);
let arenaUsed = 0;
let lastError: string | null = null;
const watchedDevices = new WeakSet<GPUDevice>();

function watchErrors(device: GPUDevice): void {
  if (watchedDevices.has(device)) return;
  watchedDevices.add(device);
  const onError = (event: Event) => {
    const message = (event as GPUUncapturedErrorEvent).error?.message ?? String(event);
    lastError ??= message;
  };
  if (typeof device.addEventListener === 'function') device.addEventListener('uncapturederror', onError);
  else (device as { onuncapturederror: unknown }).onuncapturederror = onError;
}

/** Throws (once) the first WebGPU validation error seen since the last check. */
export function throwPendingError(): void {
  if (lastError !== null) {
    const message = lastError;
    lastError = null;
    throw new Error(`scratchgpt: WebGPU error: ${message}`);
  }
}

function current(): Recording {
  const { device } = gpu();
  if (recording && recording.device !== device) recording = null;
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
  if (bytes > ARENA_BYTES) throw new Error(`scratchgpt: uniform block of ${bytes} bytes is too large`);
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
}

/** Number of commands recorded but not yet submitted (for tests and debugging). */
export function pendingCommands(): number {
  return recording?.dispatches ?? 0;
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

/** Reads `bytes` bytes at `offset` of a buffer back to the CPU (submits pending work first). */
export async function readBuffer(buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
  const { device } = gpu();
  const size = Math.max(4, Math.ceil(bytes / 4) * 4);
  const staging = device.createBuffer({ size, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  try {
    recordCopy(buffer, offset, staging, 0, size);
    flush();
    await staging.mapAsync(MapMode.READ);
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    throwPendingError();
    return out;
  } finally {
    staging.destroy();
  }
}

/** Resolves when all submitted GPU work has finished (use for timing). */
export async function sync(): Promise<void> {
  flush();
  await gpu().device.queue.onSubmittedWorkDone();
  throwPendingError();
}
