/**
 * GPU memory ownership: reference-counted storages over pooled `GPUBuffer`s, live counters, and the
 * `memory()` report. Tensors own a reference to a {@link Storage}; reshape views share it.
 */
import { forgetBuffers } from './bindgroups';
import { BufferUsage, gpu } from './device';
import { ScratchGPTError } from './errors';
import { flush, reportOutOfMemory } from './queue';

const STORAGE_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
/** Pooled buffers above this many bytes in total are destroyed, oldest first. */
const POOL_LIMIT_BYTES = 512 * 1024 * 1024;

const pool = new Map<number, GPUBuffer[]>();
/** The device the pool's buffers belong to; a new device (after destroyGpu/device loss) starts afresh. */
let poolDevice: GPUDevice | null = null;
let pooledBytes = 0;
let pooledBuffers = 0;
let liveBuffers = 0;
let liveBytes = 0;
/** High-water mark of `liveBytes` since start, device change or {@link resetPeakMemory}. */
let peakBytes = 0;
let liveTensors = 0;
/** Buffers whose creation failed (out of memory): never pooled or handed out again. */
const failed = new WeakSet<GPUBuffer>();

/** Buffer sizes are rounded so that similar requests share pooled buffers and copies stay aligned. */
function roundSize(bytes: number): number {
  return Math.max(256, Math.ceil(bytes / 256) * 256);
}

/**
 * A GPU buffer shared by a tensor and its views; returned to the pool when the last one lets go. A
 * storage made by {@link Storage.view} is a byte range of another one (an arena, e.g. the flat
 * parameter buffer of a fused optimizer): it keeps its parent alive, and the buffer counts once.
 */
export class Storage {
  private refs = 1;
  constructor(
    readonly device: GPUDevice,
    readonly buffer: GPUBuffer,
    /** Bytes requested (the buffer may be larger). */
    readonly bytes: number,
    /** Where the data starts in `buffer` (0 unless this is a view of an arena). */
    readonly byteOffset = 0,
    private readonly parent: Storage | null = null,
  ) {}

  retain(): this {
    this.refs += 1;
    return this;
  }

  release(): void {
    this.refs -= 1;
    if (this.refs > 0) return;
    if (this.parent) this.parent.release();
    else releaseBuffer(this.buffer, this.device);
  }

  /** Whether more than one tensor holds this storage (views made by reshape or retainView share it). */
  get shared(): boolean {
    return this.refs > 1;
  }

  /**
   * `bytes` bytes at `byteOffset` of this storage, as a storage of their own that retains this one.
   * The offset must be a multiple of 256 (minStorageBufferOffsetAlignment) so the range can be bound.
   */
  view(byteOffset: number, bytes: number): Storage {
    if (byteOffset % 256 !== 0 || byteOffset < 0 || byteOffset + bytes > this.bytes) {
      throw new ScratchGPTError('range', `scratchgpt: storage view of ${bytes} bytes at ${byteOffset} does not fit a storage of ${this.bytes} bytes at a 256-byte aligned offset`);
    }
    return new Storage(this.device, this.buffer, bytes, this.byteOffset + byteOffset, this.retain());
  }
}

/** Allocates (or reuses) a storage buffer of at least `bytes`. */
export function allocStorage(bytes: number): Storage {
  const { device, limits } = gpu();
  if (device !== poolDevice) {
    resetMemory();
    poolDevice = device;
  }
  const size = roundSize(bytes);
  if (size > limits.maxBufferSize) {
    throw new ScratchGPTError('limit',
      `scratchgpt: cannot allocate ${bytes} bytes: larger than this device's maxBufferSize (${limits.maxBufferSize})`,
    );
  }
  const free = pool.get(size);
  let buffer = free?.pop();
  if (buffer) {
    pooledBytes -= size;
    pooledBuffers -= 1;
  }
  if (!buffer || failed.has(buffer)) buffer = createStorageBuffer(device, size);
  liveBuffers += 1;
  liveBytes += size;
  if (liveBytes > peakBytes) peakBytes = liveBytes;
  return new Storage(device, buffer, bytes);
}

/**
 * Creates a storage buffer. WebGPU does not throw when memory runs out: the buffer is invalid and an
 * error scope says so asynchronously. The scope is popped without waiting (no round trip per
 * allocation); a failure is reported by the first GPU operation recorded after WebGPU said so (or the
 * next readback or `sync()`), naming the size, the caller that allocated and what was live, ahead of
 * the validation errors that every use of the invalid buffer causes.
 */
function createStorageBuffer(device: GPUDevice, size: number): GPUBuffer {
  const before = memory();
  // Where the allocation was asked for (new buffers only: pooled ones are reused without this cost).
  const site = new Error().stack;
  device.pushErrorScope('out-of-memory');
  const buffer = device.createBuffer({ size, usage: STORAGE_USAGE });
  device.popErrorScope().then(
    (error) => {
      if (!error) return;
      failed.add(buffer);
      reportOutOfMemory(device, outOfMemoryMessage(size, before, error.message, allocationSite(site)));
    },
    () => undefined, // the device was lost: reported as such
  );
  return buffer;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${bytes} bytes`;
}

/**
 * The caller that asked for the buffer: the first frames of `stack` outside the engine's own files (the
 * op, module or optimizer that allocated, and what called it), or '' when the stack says nothing.
 */
function allocationSite(stack: string | undefined): string {
  const frames = (stack ?? '').split('\n').slice(1).map((l) => l.trim().replace(/^at /, ''));
  // By function name, so that it also works in bundles (one file for everything).
  const outside = frames.filter((f) => !/^(createStorageBuffer|allocStorage|new Storage|new Tensor|(Function|Tensor)\.empty|Tensor\.\w+Storage)\b/.test(f));
  return outside.slice(0, 3).join(' ← ');
}

function outOfMemoryMessage(size: number, live: MemoryInfo, cause: string, site: string): string {
  return (
    `scratchgpt: GPU out of memory: allocating a buffer of ${formatBytes(size)} (${size} bytes) failed` +
    `${site ? ` (allocated by ${site})` : ''}; ` +
    `live when it was requested: ${live.liveTensors} tensors in ${live.liveBuffers} buffers (${formatBytes(live.liveBytes)}), ` +
    `plus ${live.pooledBuffers} pooled free buffers (${formatBytes(live.pooledBytes)}). ` +
    'Free what is not needed (dispose(), scope(), trimPool()) or use a smaller batch, context or model. ' +
    `Every result computed since then is invalid. WebGPU: ${cause.split('\n')[0]}`
  );
}

function releaseBuffer(buffer: GPUBuffer, device: GPUDevice | null): void {
  if (device !== poolDevice) return; // from a destroyed device: nothing to pool or count
  liveBuffers -= 1;
  liveBytes -= buffer.size;
  if (failed.has(buffer)) {
    buffer.destroy();
    return;
  }
  let list = pool.get(buffer.size);
  if (!list) pool.set(buffer.size, (list = []));
  list.push(buffer);
  pooledBytes += buffer.size;
  pooledBuffers += 1;
  if (pooledBytes > POOL_LIMIT_BYTES) trimPool(POOL_LIMIT_BYTES / 2);
}

/** Destroys pooled (free) buffers until at most `keepBytes` remain pooled. */
export function trimPool(keepBytes = 0): void {
  if (pooledBytes <= keepBytes) return;
  // A pooled buffer may still be read by recorded-but-unsubmitted work: submit it first.
  flush();
  forgetBuffers(); // no cached bind group may refer to a destroyed buffer
  for (const [size, list] of pool) {
    while (list.length > 0 && pooledBytes > keepBytes) {
      list.pop()!.destroy();
      pooledBytes -= size;
      pooledBuffers -= 1;
    }
    if (list.length === 0) pool.delete(size);
  }
}

/** @internal counters updated by Tensor. */
export function countTensor(delta: 1 | -1): void {
  liveTensors += delta;
}

/** What the library holds on the GPU right now. */
export interface MemoryInfo {
  /** Tensors not yet disposed (views count separately). */
  liveTensors: number;
  /** GPU buffers owned by live tensors. */
  liveBuffers: number;
  /** Bytes of those buffers. */
  liveBytes: number;
  /** Free buffers kept for reuse. */
  pooledBuffers: number;
  pooledBytes: number;
}

/** Reports live tensors/buffers/bytes and the reuse pool (use it to prove a loop does not leak). */
export function memory(): MemoryInfo {
  return { liveTensors, liveBuffers, liveBytes, pooledBuffers, pooledBytes };
}

/**
 * The most bytes live tensors held at once since the device was acquired or since the last
 * {@link resetPeakMemory} (PyTorch's `torch.cuda.max_memory_allocated`): the peak of a training step,
 * which `memory()` taken before and after cannot show. Pooled (free) buffers do not count.
 * @example
 * ```ts
 * resetPeakMemory();
 * await trainStep();
 * console.log(`step peak: ${peakMemory()} bytes`);
 * ```
 */
export function peakMemory(): number {
  return peakBytes;
}

/** Starts a new high-water mark for {@link peakMemory} at what is live now. */
export function resetPeakMemory(): void {
  peakBytes = liveBytes;
}

/** @internal forget everything (device was destroyed). */
export function resetMemory(): void {
  pool.clear();
  pooledBytes = pooledBuffers = liveBuffers = liveBytes = peakBytes = 0;
}
