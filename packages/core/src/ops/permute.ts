/**
 * Dimension permutations (materialising copies) and the strided-copy primitive (shaders/strided.wgsl)
 * that permute, slice and concat share. Dtype-agnostic: data moves as raw 32-bit words.
 */
import source from '../../../../shaders/strided.wgsl';
import { record } from '../engine/graph';
import { defineKernel, launch } from '../engine/kernel';
import { fmt, sizeOf, stridesOf, Tensor, type DType, type Shape } from '../engine/tensor';
import { collapseDims } from './broadcast';
import { commonWgsl, stridedOffset } from './shared';

const kernel = defineKernel('strided', source, { with: [commonWgsl] });

/** One side of a strided copy: a tensor read or written at `offset + Σ index_k·strides_k` (elements). */
export interface StridedView {
  tensor: Tensor;
  offset: number;
  strides: readonly number[];
}

/**
 * Low-level copy (no autograd): for every index `c` of `shape`, `dst[c] = src[c]` where each side is
 * addressed through its own offset and strides. Any dtype; `dst` must be large enough.
 */
export function stridedCopy(shape: Shape, src: StridedView, dst: StridedView): void {
  const n = sizeOf(shape);
  if (n === 0) return;
  if (src.strides.length !== shape.length || dst.strides.length !== shape.length) {
    throw new Error(`scratchgpt: stridedCopy: shape ${fmt(shape)} and strides ${fmt(src.strides)} / ${fmt(dst.strides)} differ in rank`);
  }
  const collapsed = collapseDims(shape, [[...src.strides], [...dst.strides]]);
  launch(kernel, 'copy', {
    constants: { RANK: collapsed.shape.length },
    params: { n, src_offset: src.offset, dst_offset: dst.offset, shape: collapsed.shape, src_strides: collapsed.strides[0], dst_strides: collapsed.strides[1] },
    bind: { src: src.tensor, dst: dst.tensor },
    items: n,
  });
}

/** Normalises and validates a permutation of `0..rank-1` (negative entries count from the end). */
function checkPermutation(op: string, dims: readonly number[], shape: Shape): number[] {
  const rank = shape.length;
  const norm = dims.map((d) => (Number.isInteger(d) && d < 0 ? d + rank : d));
  const ok = norm.length === rank && norm.every((d) => Number.isInteger(d) && d >= 0 && d < rank) && new Set(norm).size === rank;
  if (!ok) throw new Error(`scratchgpt: ${op}: dims ${fmt(dims)} are not a permutation of the ${rank} dimensions of shape ${fmt(shape)}`);
  return norm;
}

function permuteForward<D extends DType>(x: Tensor<D>, dims: readonly number[]): Tensor<D> {
  const shape = dims.map((d) => x.shape[d]);
  const out = Tensor.empty(shape, x.dtype);
  const xs = x.strides;
  stridedCopy(shape, { tensor: x, offset: 0, strides: dims.map((d) => xs[d]) }, { tensor: out, offset: 0, strides: stridesOf(shape) });
  return out;
}

/**
 * Reorders dimensions, like `torch.permute` followed by `.contiguous()`: `out.shape[i] = x.shape[dims[i]]`.
 * @example permute(x, [0, 2, 1, 3]) // [B, T, NH, HS] → [B, NH, T, HS]
 */
export function permute<D extends DType>(x: Tensor<D>, dims: readonly number[]): Tensor<D> {
  const perm = checkPermutation('permute', dims, x.shape);
  const out = permuteForward(x, perm);
  const inverse = new Array<number>(perm.length);
  perm.forEach((d, i) => (inverse[d] = i));
  return record(out, 'permute', [x], [], (g) => [() => permuteForward(g, inverse)]);
}

/** Swaps two dimensions (negative counts from the end), like `torch.transpose(...).contiguous()`. */
export function transpose<D extends DType>(x: Tensor<D>, dim0: number, dim1: number): Tensor<D> {
  const rank = x.rank;
  const norm = (d: number) => {
    const a = d < 0 ? d + rank : d;
    if (!Number.isInteger(a) || a < 0 || a >= rank) throw new Error(`scratchgpt: transpose: dim ${d} is out of range for shape ${fmt(x.shape)}`);
    return a;
  };
  const [a, b] = [norm(dim0), norm(dim1)];
  const dims = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permute(x, dims);
}

/** float64 reference of {@link permute} over flat row-major data. */
export function permuteRef(data: ArrayLike<number>, shape: Shape, dims: readonly number[]): { data: Float64Array; shape: number[] } {
  const perm = checkPermutation('permuteRef', dims, shape);
  const outShape = perm.map((d) => shape[d]);
  const inStrides = stridesOf(shape);
  const permuted = perm.map((d) => inStrides[d]);
  const out = Float64Array.from({ length: sizeOf(outShape) }, (_, i) => data[stridedOffset(i, outShape, permuted)]);
  return { data: out, shape: outShape };
}

/** float64 reference of {@link transpose}. */
export function transposeRef(data: ArrayLike<number>, shape: Shape, dim0: number, dim1: number): { data: Float64Array; shape: number[] } {
  const rank = shape.length;
  const [a, b] = [dim0 < 0 ? dim0 + rank : dim0, dim1 < 0 ? dim1 + rank : dim1];
  return permuteRef(data, shape, shape.map((_, i) => (i === a ? b : i === b ? a : i)));
}
