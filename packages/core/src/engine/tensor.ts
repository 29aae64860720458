/**
 * Tensors: a shape, a dtype and a reference to GPU storage. Every tensor is contiguous (row-major);
 * `reshape` returns a view sharing the storage. Ownership is explicit: call `dispose()` (or use a scope).
 */
import { tensorBrand } from './brand';
import { ScratchGPTError } from './errors';
import { record, type GradNode } from './graph';
import { lostDeviceError, lostReason } from './lost';
import { allocStorage, countTensor, type Storage } from './memory';
import { readBuffer, recordCopy } from './queue';
import { fromHalfBits } from './half';
import { disposalNote, track } from './scope';

/**
 * Element types. f32, i32 and u32 are 4 bytes wide; f16 (IEEE half, 2 bytes) is a storage type for
 * activations, weights and KV caches on adapters with `shader-f16`: the ops that take it compute in
 * f32 (see `cast`), and `toArray()` widens it to a Float32Array.
 */
export type DType = 'f32' | 'f16' | 'i32' | 'u32';

/** The typed array returned by `toArray()` for each dtype. */
export type TypedArrayFor<D extends DType> = D extends 'f32' | 'f16' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;

/** Bytes per element of a dtype (2 for f16, else 4). */
export function bytesPerElement(dtype: DType): number {
  return dtype === 'f16' ? 2 : 4;
}

export type Shape = readonly number[];

/** Number of elements of a shape. */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Whether two shapes are equal, dimension by dimension. */
export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Row-major strides (in elements) of a shape. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** Validates and copies a shape (non-negative integers). */
export function checkShape(shape: Shape, what = 'shape'): number[] {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ScratchGPTError('shape', `scratchgpt: invalid ${what} [${shape.join(', ')}]: dimensions must be non-negative integers`);
  }
  return [...shape];
}

/** Formats a shape for error messages. */
export function fmt(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export class Tensor<D extends DType = DType> {
  static {
    Object.defineProperty(this.prototype, tensorBrand, { value: true });
  }

  /** @internal Lets scopes recognise tensors without importing this class (see `brand.ts`). */
  declare readonly [tensorBrand]: true;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: D;
  /** Number of elements. */
  readonly size: number;
  private storage: Storage | null;
  /** Whether gradients flow to this tensor. Set it on parameters/leaves; ops set it on their outputs. */
  requiresGrad = false;
  /** Accumulated gradient after `backward()` (leaves only). */
  grad: Tensor | null = null;
  /**
   * @internal Where `backward()` accumulates this parameter's gradient, in place, when a fused
   * optimizer owns one (a view of its flat gradient buffer; see optim/arena.ts). `.grad` is this
   * tensor once a gradient arrived, null after `zeroGrad()`.
   */
  gradSlot: Tensor | null = null;
  /** @internal How this tensor was computed (null for leaves and after backward). */
  gradNode: GradNode | null = null;
  /** False for tensors produced by an op that recorded a graph node. */
  isLeaf = true;

  /** @internal Use the creation functions (`zeros`, `fromArray`, ...) or ops instead. */
  constructor(storage: Storage, shape: Shape, dtype: D) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = sizeOf(shape);
    countTensor(1);
    track(this);
  }

  /** Allocates an uninitialised tensor (kernels fill it). */
  static empty<D extends DType>(shape: Shape, dtype: D): Tensor<D> {
    const dims = checkShape(shape);
    return new Tensor(allocStorage(Math.ceil((sizeOf(dims) * bytesPerElement(dtype)) / 4) * 4), dims, dtype);
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Row-major strides in elements (tensors are always contiguous). */
  get strides(): number[] {
    return stridesOf(this.shape);
  }

  /** Bytes of data (4 per element, 2 for f16). */
  get byteLength(): number {
    return this.size * bytesPerElement(this.dtype);
  }

  /**
   * The GPU buffer holding the data (may be larger than `byteLength`), which starts at
   * {@link byteOffset}. Throws after `dispose()`.
   */
  get buffer(): GPUBuffer {
    return this.live().buffer;
  }

  /** Where the data starts in {@link buffer}: 0, or a multiple of 256 for a view of an arena (fused optimizers pack parameters into one). */
  get byteOffset(): number {
    return this.live().byteOffset;
  }

  /**
   * @internal A tensor of `shape` over `byteOffset` (a multiple of 256) of this tensor's storage,
   * sharing and retaining it (the flat buffers of a fused optimizer hand out such views).
   */
  viewAt(byteOffset: number, shape: Shape): Tensor<D> {
    const dims = checkShape(shape);
    const bytes = Math.ceil((sizeOf(dims) * bytesPerElement(this.dtype)) / 4) * 4;
    return new Tensor(this.live().view(byteOffset, bytes), dims, this.dtype);
  }

  /** @internal Whether another tensor (a reshape or retainView view) shares this tensor's storage. */
  get sharesStorage(): boolean {
    return this.live().shared;
  }

  /**
   * @internal Moves this tensor's data into `view` (a tensor of the same dtype and size, e.g. from
   * {@link viewAt}): records a copy, then this tensor adopts the view's storage and releases its own.
   * The tensor keeps its identity (modules and optimizers hold it). Throws when another tensor shares
   * this one's storage (it would silently stop seeing the updates).
   */
  moveInto(view: Tensor): void {
    const own = this.live();
    if (view.dtype !== this.dtype || view.size !== this.size) {
      throw new ScratchGPTError('shape', `scratchgpt: cannot move a ${this.dtype} tensor of shape ${fmt(this.shape)} into a ${view.dtype} view of shape ${fmt(view.shape)}`);
    }
    if (own.shared) {
      throw new ScratchGPTError('state',
        `scratchgpt: tensor of shape ${fmt(this.shape)} shares its GPU storage with another tensor (a reshape or retainView view, ` +
          'or a tensor saved for backward): it cannot be moved into a flat buffer; dispose the views (or run backward) first',
      );
    }
    const target = view.live();
    if (this.byteLength > 0) recordCopy(own.buffer, own.byteOffset, target.buffer, target.byteOffset, Math.ceil(this.byteLength / 4) * 4);
    this.storage = target.retain();
    own.release();
  }

  get isDisposed(): boolean {
    return this.storage === null;
  }

  private live(): Storage {
    if (!this.storage) throw new ScratchGPTError('disposed', `scratchgpt: tensor of shape ${fmt(this.shape)} (${this.dtype}) was used after dispose()${disposalNote(this)}`);
    const lost = lostReason(this.storage.device);
    if (lost !== undefined) throw lostDeviceError(`this tensor of shape ${fmt(this.shape)} (${this.dtype})`, lost);
    return this.storage;
  }

  /**
   * A view with a new shape and the same data (one dimension may be `-1`).
   * The view owns its own reference: dispose both.
   */
  reshape(...shape: number[] | [Shape]): Tensor<D> {
    const dims = (Array.isArray(shape[0]) ? shape[0] : shape) as number[];
    const resolved = resolveReshape(this.shape, dims);
    const from = this.shape;
    const out = new Tensor(this.live().retain(), resolved, this.dtype);
    return record(out, 'reshape', [this], [], (g) => [() => g.reshape(from)]);
  }

  /** A new handle on the same data and shape (own reference; dispose it separately). No graph. */
  retainView(): Tensor<D> {
    return new Tensor(this.live().retain(), this.shape, this.dtype);
  }

  /** The same data cut from the graph: a new handle that does not require grad (like `torch.Tensor.detach`). */
  detach(): Tensor<D> {
    return this.retainView();
  }

  /** Marks this tensor as a leaf that needs gradients; returns it. */
  requireGrad(flag = true): this {
    if (flag && this.dtype !== 'f32') throw new ScratchGPTError('dtype', `scratchgpt: only f32 tensors can require grad (got ${this.dtype})`);
    this.requiresGrad = flag;
    return this;
  }

  /**
   * Backpropagates from this tensor (a one-element tensor unless `grad`, of its shape, is given):
   * afterwards every leaf it depends on that has `requiresGrad` holds its gradient in `.grad`, and the
   * graph is freed (a second call throws). Installed on the prototype by the gradient engine
   * (`autograd/backward.ts`, loaded by the package index): this module does not import the engine,
   * which imports the ops.
   * @example
   * ```ts
   * const loss = crossEntropy(model.forward(ids), targets);
   * loss.backward();
   * optimizer.step();
   * ```
   */
  declare backward: (grad?: Tensor) => void;

  /** Disposes and clears `.grad` (a gradient slot owned by a fused optimizer is kept for the next backward). */
  zeroGrad(): void {
    if (this.grad !== this.gradSlot) this.grad?.dispose();
    this.grad = null;
  }

  /** Releases this tensor's reference to its GPU storage, and its `.grad` (idempotent). */
  dispose(): void {
    this.zeroGrad();
    if (this.storage) {
      this.storage.release();
      this.storage = null;
      countTensor(-1);
      // A graph node stays: backward through this tensor still works (its saved tensors are freed then).
    }
  }

  /** Copies the data back to the CPU. */
  async toArray(): Promise<TypedArrayFor<D>> {
    const bytes = await readBuffer(this.buffer, this.byteOffset, this.byteLength);
    if (this.dtype === 'f16') return Float32Array.from(new Uint16Array(bytes), fromHalfBits) as TypedArrayFor<D>;
    const Ctor = this.dtype === 'f32' ? Float32Array : this.dtype === 'i32' ? Int32Array : Uint32Array;
    return new Ctor(bytes) as TypedArrayFor<D>;
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new ScratchGPTError('shape', `scratchgpt: item() needs a tensor with one element, got shape ${fmt(this.shape)}`);
    return (await this.toArray())[0];
  }

  toString(): string {
    return `Tensor(${fmt(this.shape)}, ${this.dtype}${this.isDisposed ? ', disposed' : ''})`;
  }
}

/** Resolves a reshape target (with at most one -1) against a source shape. */
export function resolveReshape(from: Shape, to: readonly number[]): number[] {
  const size = sizeOf(from);
  const unknown = to.filter((d) => d === -1).length;
  if (unknown > 1) throw new ScratchGPTError('shape', `scratchgpt: reshape ${fmt(from)} → ${fmt(to)}: only one dimension may be -1`);
  for (const d of to) {
    if (d !== -1 && (!Number.isInteger(d) || d < 0)) throw new ScratchGPTError('shape', `scratchgpt: reshape ${fmt(from)} → ${fmt(to)}: invalid dimension ${d}`);
  }
  const known = to.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const resolved = to.map((d) => (d === -1 ? (known === 0 ? 0 : size / known) : d));
  if (sizeOf(resolved) !== size || resolved.some((d) => !Number.isInteger(d))) {
    throw new ScratchGPTError('shape', `scratchgpt: cannot reshape ${fmt(from)} (${size} elements) to ${fmt(to)}`);
  }
  return resolved;
}

/** Throws a clear error unless `t` has one of the given dtypes. */
export function expectDType(op: string, t: Tensor, ...dtypes: DType[]): void {
  if (!dtypes.includes(t.dtype)) {
    throw new ScratchGPTError('dtype', `scratchgpt: ${op} expects ${dtypes.join(' or ')} but got a ${t.dtype} tensor of shape ${fmt(t.shape)}`);
  }
}

/** Normalises an axis (negative counts from the end) and checks its range. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new ScratchGPTError('range', `scratchgpt: ${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Numeric code of a dtype for WGSL `override DTYPE: u32` (0 f32, 1 i32, 2 u32); f16 has none. */
export function dtypeCode(dtype: DType): number {
  if (dtype === 'f16') {
    throw new ScratchGPTError('dtype', "scratchgpt: this op works on 32-bit elements (f32, i32, u32) and got an f16 tensor: cast(x, 'f32') first");
  }
  return dtype === 'f32' ? 0 : dtype === 'i32' ? 1 : 2;
}
