/**
 * Dimension permutations (materialising copies) and the strided-copy primitive (shaders/strided.wgsl)
 * that permute, slice and concat share. Dtype-agnostic: data moves as raw 32-bit words.
 */
import source from '../../../../shaders/strided.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { record } from '../engine/graph';
import { defineKernel, launch } from '../engine/kernel';
import { fmt, sizeOf, stridesOf, Tensor, type DType, type Shape } from '../engine/tensor';
import { collapseDims } from './broadcast';
import type { OpInfo } from './info';
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
    throw new ScratchGPTError('shape', `scratchgpt: stridedCopy: shape ${fmt(shape)} and strides ${fmt(src.strides)} / ${fmt(dst.strides)} differ in rank`);
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
  if (!ok) throw new ScratchGPTError('value', `scratchgpt: ${op}: dims ${fmt(dims)} are not a permutation of the ${rank} dimensions of shape ${fmt(shape)}`);
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
    if (!Number.isInteger(a) || a < 0 || a >= rank) throw new ScratchGPTError('range', `scratchgpt: transpose: dim ${d} is out of range for shape ${fmt(x.shape)}`);
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

/** Registry entries of permute and transpose (see `ops/info.ts`): ranks 1 to 5, negative dims. */
export const permuteInfos = [
  {
    name: 'permute',
    samples: [
      [[7], [0]],
      [[1], [-1]],
      [[3, 5], [1, 0]],
      [[1, 13], [-1, -2]],
      [[2, 3, 5], [2, 0, 1]],
      [[4, 1, 7], [1, 2, 0]],
      [[2, 3, 5, 7], [0, 2, 1, 3]],
      [[3, 2, 1, 5], [3, -2, 0, 1]],
      [[2, 3, 1, 5, 3], [4, 2, 0, 3, 1]],
      [[1, 1, 1, 1, 1], [4, 3, 2, 1, 0]],
      [[67, 131], [1, 0]],
      [[0, 3], [1, 0]],
    ].map(([shape, dims], i) => ({ shapes: [shape], args: { dims }, forwardOnly: i === 10 })),
    run: ([x], { dims }) => permute(x, dims),
    ref: ([x], [shape], { dims }) => permuteRef(x, shape, dims),
    tol: { rtol: 0, atol: 0 },
    dtype: 'any',
    // Transposes that collapse to two dims (the collapsed rank is a pipeline constant).
    reuse: [2, 4, 10],
  } satisfies OpInfo<{ dims: number[] }>,
  {
    name: 'transpose',
    samples: [
      [[3, 5], 0, 1],
      [[2, 3, 5], -1, -2],
      [[2, 7, 3, 5], 1, -1],
      [[2, 7, 3, 5], 2, 2],
      [[1, 3, 1, 5, 2], 0, -2],
      [[2, 3, 5, 7], 1, -1],
    ].map(([shape, dim0, dim1]) => ({ shapes: [shape as number[]], args: { dim0: dim0 as number, dim1: dim1 as number } })),
    run: ([x], { dim0, dim1 }) => transpose(x, dim0, dim1),
    ref: ([x], [shape], { dim0, dim1 }) => transposeRef(x, shape, dim0, dim1),
    tol: { rtol: 0, atol: 0 },
    dtype: 'any',
    reuse: [2, 5],
  } satisfies OpInfo<{ dim0: number; dim1: number }>,
];
