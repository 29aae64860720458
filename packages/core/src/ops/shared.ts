/**
 * Small helpers several op files share: bit casts, binding-sized row ranges, the strided index walk
 * of the float64 references, and the reference of the WGSL hash (shaders/common.wgsl).
 */
import commonWgsl from '../../../../shaders/common.wgsl';
import errorsWgsl from '../../../../shaders/errors.wgsl';
import rowsWgsl from '../../../../shaders/rows.wgsl';
import { chunkElements, type StorageBinding } from '../engine/kernel';
import type { DType, Shape, Tensor } from '../engine/tensor';

/** Raw 32-bit pattern of `value` stored as `dtype` (so −Infinity and NaN travel exactly in a u32 uniform). */
export function bitsOf(value: number, dtype: DType): number {
  const view = new DataView(new ArrayBuffer(4));
  if (dtype === 'f32') view.setFloat32(0, value, true);
  else if (dtype === 'i32') view.setInt32(0, value, true);
  else view.setUint32(0, value >>> 0, true);
  return view.getUint32(0, true);
}

/** A run of whole rows of a `[rows, width]` tensor that fits one storage binding. */
export interface RowRange {
  /** First row of the range. */
  row0: number;
  /** Rows in the range. */
  rows: number;
  /** Element offset of `row0` inside the bound range (bindings start at 256-byte boundaries). */
  shift: number;
  /** The binding of these rows of `t` (a tensor laid out like the one planned for). */
  bind: (t: Tensor) => StorageBinding;
}

/**
 * Splits `rows` rows of `width` elements into ranges that each fit one storage binding, bound from
 * 256-byte-aligned offsets (the remainder is the range's `shift`). Callers check `width` first: a
 * single row must fit (`width <= chunkElements() - 64`). `maxElements` (default: the device's binding
 * size) lets tests split small operands.
 */
export function rowRanges(rows: number, width: number, maxElements = chunkElements()): RowRange[] {
  const perPass = Math.max(1, Math.floor((maxElements - 64) / Math.max(width, 1)));
  const out: RowRange[] = [];
  for (let row0 = 0; row0 < rows; row0 += perPass) {
    const count = Math.min(perPass, rows - row0);
    const first = row0 * width;
    const aligned = Math.floor(first / 64) * 64;
    const shift = first - aligned;
    const size = Math.max(4, (shift + count * width) * 4);
    out.push({ row0, rows: count, shift, bind: (tensor) => ({ tensor, offset: aligned * 4, size }) });
  }
  return out;
}

/**
 * Element offset `Σ (c_d + starts_d)·strides_d` of element `i` of a row-major `shape`, where `c` is
 * `i` unravelled (last dimension fastest): the index walk of the float64 references (broadcast
 * operands use stride 0, slices their start offsets).
 */
export function stridedOffset(i: number, shape: Shape, strides: readonly number[], starts?: readonly number[]): number {
  let rem = i;
  let at = 0;
  for (let d = shape.length - 1; d >= 0; d--) {
    const c = rem % shape[d];
    rem = Math.floor(rem / shape[d]);
    at += (c + (starts ? starts[d] : 0)) * strides[d];
  }
  return at;
}

/** The PCG integer hash of shaders/common.wgsl, bit for bit (for the references of random masks). */
export function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** uniform01 of shaders/common.wgsl: the top 24 bits of a hash → [0, 1). */
export function uniform01(h: number): number {
  return (h >>> 8) / 16777216;
}

/**
 * The WGSL prelude (shaders/common.wgsl), row helpers (shaders/rows.wgsl) and error reports
 * (shaders/errors.wgsl, for kernels with an `errors` binding), for `defineKernel(name, source, { with: [...] })`.
 */
export { commonWgsl, errorsWgsl, rowsWgsl };
