/**
 * Tensor creation: constants, ranges, seeded random numbers, and uploads from CPU arrays.
 * Large tensors (over one storage binding) are filled in chunks.
 */
import fillSource from '../../../../shaders/fill.wgsl';
import randomSource from '../../../../shaders/random.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { chunks, defineKernel, launch, range } from '../engine/kernel';
import { writeBuffer } from '../engine/queue';
import { toHalfBits } from '../engine/half';
import { checkShape, dtypeCode, fmt, sizeOf, Tensor, type DType, type Shape } from '../engine/tensor';
import { bitsOf, commonWgsl } from './shared';

const fillKernel = defineKernel('fill', fillSource, { with: [commonWgsl] });
const randomKernel = defineKernel('random', randomSource, { with: [commonWgsl] });

export interface CreateOptions<D extends DType = DType> {
  dtype?: D;
}

/** The values an integer dtype holds (i32: [−2^31, 2^31), u32: [0, 2^32)). */
const INT_RANGE: Record<'i32' | 'u32', readonly [number, number]> = { i32: [-0x80000000, 0x7fffffff], u32: [0, 0xffffffff] };

/** Throws unless `value` fits `dtype` exactly: integers in range for i32/u32 (they would wrap silently). */
function checkValue(value: number, dtype: DType, what: string): void {
  if (dtype === 'f32' || dtype === 'f16') return;
  if (!Number.isInteger(value)) throw new ScratchGPTError('value', `scratchgpt: ${what}: ${value} is not an integer (dtype ${dtype})`);
  const [low, high] = INT_RANGE[dtype];
  if (value < low || value > high) throw new ScratchGPTError('range', `scratchgpt: ${what}: ${value} is out of range for ${dtype} [${low}, ${high}] (it would wrap around)`);
}

/** A tensor filled with `value`. */
export function full<D extends DType = 'f32'>(shape: Shape, value: number, options: CreateOptions<D> = {}): Tensor<D> {
  const dtype = (options.dtype ?? 'f32') as D;
  checkValue(value, dtype, 'full');
  if (dtype === 'f16') return uploadHalves(new Float32Array(sizeOf(checkShape(shape))).fill(value), shape) as Tensor<D>;
  const out = Tensor.empty(checkShape(shape), dtype);
  for (const { start, count } of chunks(out.size)) {
    if (count === 0) continue;
    launch(fillKernel, 'fill', { params: { n: count, value: bitsOf(value, dtype) }, bind: { out: range(out, start, count) }, items: count });
  }
  return out;
}

/** A tensor of zeros. */
export function zeros<D extends DType = 'f32'>(shape: Shape, options: CreateOptions<D> = {}): Tensor<D> {
  return full(shape, 0, options);
}

/** A tensor of ones. */
export function ones<D extends DType = 'f32'>(shape: Shape, options: CreateOptions<D> = {}): Tensor<D> {
  return full(shape, 1, options);
}

/** `[start, start + step, ...)` up to (excluding) `end`, like `torch.arange`. Default dtype: i32 if all arguments are integers, else f32. */
export function arange(end: number): Tensor;
export function arange(start: number, end: number, step?: number, options?: CreateOptions): Tensor;
export function arange(a: number, b?: number, step = 1, options: CreateOptions = {}): Tensor {
  const [start, end] = b === undefined ? [0, a] : [a, b];
  if (step === 0) throw new ScratchGPTError('value', 'scratchgpt: arange: step must not be zero');
  const dtype = options.dtype ?? ([start, end, step].every(Number.isInteger) ? 'i32' : 'f32');
  const n = Math.max(0, Math.ceil((end - start) / step));
  checkValue(start, dtype, 'arange start');
  checkValue(step, dtype, 'arange step');
  if (n > 0) checkValue(start + (n - 1) * step, dtype, 'arange last value');
  const out = Tensor.empty([n], dtype);
  for (const { start: first, count } of chunks(n)) {
    if (count === 0) continue;
    launch(fillKernel, 'arange', {
      constants: { DTYPE: dtypeCode(dtype) },
      params: { n: count, start: first, value: bitsOf(start, dtype), step: bitsOf(step, dtype) },
      bind: { out: range(out, first, count) },
      items: count,
    });
  }
  return out;
}

let globalSeed = 0x5eed;
let draws = 0;

/** Sets the seed of the global generator used when no `seed` option is given (like `torch.manual_seed`). */
export function manualSeed(seed: number): void {
  globalSeed = seed >>> 0;
  draws = 0;
}

/** Next key of the global generator: each call without an explicit seed gets fresh numbers. */
export function nextSeed(): number {
  draws += 1;
  return (Math.imul(globalSeed ^ 0x85ebca6b, 0x9e3779b1) + Math.imul(draws, 0xc2b2ae35)) >>> 0;
}

export interface RandomOptions {
  /** Same seed, same shape → same values on every device. Default: the global generator (see {@link manualSeed}). */
  seed?: number;
}

function random(shape: Shape, dist: 0 | 1, a: number, b: number, options: RandomOptions): Tensor<'f32'> {
  const out = Tensor.empty(checkShape(shape), 'f32');
  const seed = options.seed === undefined ? nextSeed() : options.seed >>> 0;
  for (const { start, count } of chunks(out.size)) {
    if (count === 0) continue;
    launch(randomKernel, 'fill_random', { params: { n: count, start, seed, dist, a, b }, bind: { out: range(out, start, count) }, items: count });
  }
  return out;
}

/** Uniform random numbers in `[low, high)` (default `[0, 1)`). */
export function rand(shape: Shape, options: RandomOptions & { low?: number; high?: number } = {}): Tensor<'f32'> {
  return random(shape, 0, options.low ?? 0, options.high ?? 1, options);
}

/** Normally distributed random numbers (default mean 0, std 1). */
export function randn(shape: Shape, options: RandomOptions & { mean?: number; std?: number } = {}): Tensor<'f32'> {
  return random(shape, 1, options.mean ?? 0, options.std ?? 1, options);
}

/** Nested number arrays accepted by {@link tensor}. */
export type NestedArray = number | NestedArray[];

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let level: NestedArray = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
    if (level === undefined) break;
  }
  return shape;
}

function flatten(data: NestedArray, shape: number[], depth: number, out: number[]): void {
  if (depth === shape.length) {
    if (typeof data !== 'number') throw new ScratchGPTError('format', 'scratchgpt: tensor(): ragged nested array');
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[depth]) {
    throw new ScratchGPTError('format', `scratchgpt: tensor(): ragged nested array (expected length ${shape[depth]} at depth ${depth})`);
  }
  for (const item of data) flatten(item, shape, depth + 1, out);
}

function dtypeOfArray(data: ArrayLike<number>): DType | undefined {
  if (data instanceof Float32Array || data instanceof Float64Array) return 'f32';
  if (data instanceof Int32Array || data instanceof Int16Array || data instanceof Int8Array) return 'i32';
  if (data instanceof Uint32Array || data instanceof Uint16Array || data instanceof Uint8Array) return 'u32';
  return undefined;
}

/**
 * Uploads CPU data. `shape` defaults to `[data.length]`; dtype defaults from the array type
 * (Float32Array → f32, Int32Array → i32, Uint32Array → u32, number[] → f32).
 */
export function fromArray<D extends DType = 'f32'>(data: ArrayLike<number>, shape?: Shape, options: CreateOptions<D> = {}): Tensor<D> {
  const dims = checkShape(shape ?? [data.length]);
  const dtype = (options.dtype ?? dtypeOfArray(data) ?? 'f32') as D;
  if (sizeOf(dims) !== data.length) {
    throw new ScratchGPTError('shape', `scratchgpt: fromArray: ${data.length} values do not fill shape ${fmt(dims)} (${sizeOf(dims)} elements)`);
  }
  if (dtype === 'f16') return uploadHalves(data, dims) as Tensor<D>;
  const typed =
    dtype === 'f32'
      ? data instanceof Float32Array ? data : Float32Array.from(data)
      : dtype === 'i32'
        ? data instanceof Int32Array ? data : Int32Array.from(data, (v, i) => checkInt(v, i, dtype))
        : data instanceof Uint32Array ? data : Uint32Array.from(data, (v, i) => checkInt(v, i, dtype));
  const out = Tensor.empty(dims, dtype);
  if (typed.length > 0) writeBuffer(out.buffer, out.byteOffset, typed);
  return out;
}

/** An f16 tensor holding `data` rounded to half precision (packed on the CPU, two per 32-bit word). */
function uploadHalves(data: ArrayLike<number>, shape: Shape): Tensor<'f16'> {
  const out = Tensor.empty(shape, 'f16');
  const bits = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) bits[i] = toHalfBits(data[i]);
  if (bits.length > 0) writeBuffer(out.buffer, out.byteOffset, bits);
  return out;
}

function checkInt(v: number, index: number, dtype: 'i32' | 'u32'): number {
  checkValue(v, dtype, `fromArray: value at index ${index}`);
  return v;
}

/** Creates a tensor from (nested) numbers, e.g. `tensor([[1, 2], [3, 4]])`. */
export function tensor<D extends DType = 'f32'>(data: NestedArray | ArrayLike<number>, options: CreateOptions<D> = {}): Tensor<D> {
  if (typeof data === 'number' || Array.isArray(data)) {
    const nested = data as NestedArray;
    const shape = inferShape(nested);
    const flat: number[] = [];
    flatten(nested, shape, 0, flat);
    return fromArray(flat, shape, options);
  }
  return fromArray(data as ArrayLike<number>, undefined, options);
}

/**
 * A seeded CPU random generator (mulberry32) returning floats in [0, 1): for data shuffling, test
 * inputs and anything host-side that must be reproducible.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
