/**
 * Contiguous sub-blocks: `slice` (per-dimension ranges with Python's negative indices and clamping)
 * and `narrow` (like `torch.narrow`). Forward is a strided copy out of the input; backward copies the
 * gradient into the same region of a zero tensor of the input's shape. Any dtype.
 */
import { ScratchGPTError } from '../engine/errors';
import { record } from '../engine/graph';
import { zeros } from './creation';
import { fmt, normAxis, sizeOf, stridesOf, Tensor, type DType, type Shape } from '../engine/tensor';
import type { OpInfo } from './info';
import { stridedCopy } from './permute';
import { stridedOffset } from './shared';

/** A resolved slice: first index and length per dimension. */
interface Ranges {
  starts: number[];
  lengths: number[];
}

/** Resolves Python-style ranges (negative from the end, clamped to the dimension; missing trailing dims are whole). */
function resolveRanges(op: string, shape: Shape, starts: readonly number[], ends: readonly number[]): Ranges {
  if (starts.length !== ends.length || starts.length > shape.length) {
    throw new ScratchGPTError('shape', `scratchgpt: ${op}: starts ${fmt(starts)} and ends ${fmt(ends)} must have the same length, at most the rank of shape ${fmt(shape)}`);
  }
  const index = (v: number, dim: number, what: string) => {
    if (!Number.isInteger(v) && Math.abs(v) !== Infinity) throw new ScratchGPTError('value', `scratchgpt: ${op}: ${what} ${v} is not an integer`);
    return Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
  };
  const out: Ranges = { starts: [], lengths: [] };
  shape.forEach((dim, d) => {
    const s = d < starts.length ? index(starts[d], dim, 'start') : 0;
    const e = d < ends.length ? index(ends[d], dim, 'end') : dim;
    out.starts.push(s);
    out.lengths.push(Math.max(0, e - s));
  });
  return out;
}

function sliceResolved<D extends DType>(x: Tensor<D>, { starts, lengths }: Ranges): Tensor<D> {
  const strides = x.strides;
  const offset = starts.reduce((acc, s, d) => acc + s * strides[d], 0);
  const out = Tensor.empty(lengths, x.dtype);
  const inShape = x.shape;
  stridedCopy(lengths, { tensor: x, offset, strides }, { tensor: out, offset: 0, strides: stridesOf(lengths) });
  return record(out, 'slice', [x], [], (g) => [
    () => {
      const gx = zeros(inShape);
      stridedCopy(lengths, { tensor: g, offset: 0, strides: stridesOf(lengths) }, { tensor: gx, offset, strides });
      return gx;
    },
  ]);
}

/**
 * `x[starts[0]:ends[0], starts[1]:ends[1], ...]` as a new contiguous tensor. Indices follow Python:
 * negative ones count from the end, out-of-range ones are clamped (±Infinity means "to the edge"),
 * an empty range gives a zero-length dimension; dimensions past `starts.length` are kept whole.
 * @example slice(x, [0, -3], [Infinity, Infinity]) // x[:, -3:]
 */
export function slice<D extends DType>(x: Tensor<D>, starts: readonly number[], ends: readonly number[]): Tensor<D> {
  return sliceResolved(x, resolveRanges('slice', x.shape, starts, ends));
}

/** Checks `narrow` arguments like `torch.narrow` (negative start counts from the end; no clamping). */
function narrowRanges(op: string, shape: Shape, dim: number, start: number, length: number): Ranges {
  const d = normAxis(op, dim, shape.length);
  const s = Number.isInteger(start) && start < 0 ? start + shape[d] : start;
  if (!Number.isInteger(s) || !Number.isInteger(length) || s < 0 || length < 0 || s + length > shape[d]) {
    throw new ScratchGPTError('range', `scratchgpt: ${op}: start ${start} and length ${length} do not fit dimension ${dim} (size ${shape[d]}) of shape ${fmt(shape)}`);
  }
  return {
    starts: shape.map((_, i) => (i === d ? s : 0)),
    lengths: shape.map((n, i) => (i === d ? length : n)),
  };
}

/** `length` entries of dimension `dim` from `start` (negative counts from the end), like `torch.narrow`. */
export function narrow<D extends DType>(x: Tensor<D>, dim: number, start: number, length: number): Tensor<D> {
  return sliceResolved(x, narrowRanges('narrow', x.shape, dim, start, length));
}

function sliceRefResolved(data: ArrayLike<number>, shape: Shape, { starts, lengths }: Ranges): { data: Float64Array; shape: number[] } {
  const inStrides = stridesOf(shape);
  const out = Float64Array.from({ length: sizeOf(lengths) }, (_, i) => data[stridedOffset(i, lengths, inStrides, starts)]);
  return { data: out, shape: lengths };
}

/** float64 reference of {@link slice}. */
export function sliceRef(data: ArrayLike<number>, shape: Shape, starts: readonly number[], ends: readonly number[]): { data: Float64Array; shape: number[] } {
  return sliceRefResolved(data, shape, resolveRanges('sliceRef', shape, starts, ends));
}

/** float64 reference of {@link narrow}. */
export function narrowRef(data: ArrayLike<number>, shape: Shape, dim: number, start: number, length: number): { data: Float64Array; shape: number[] } {
  return sliceRefResolved(data, shape, narrowRanges('narrowRef', shape, dim, start, length));
}

/** Registry entries of slice and narrow (see `ops/info.ts`): negative indices, clamping, whole trailing dims, empty ranges. */
export const sliceInfos = [
  {
    name: 'slice',
    samples: [
      [[7], [2], [5]],
      [[7], [-3], [Infinity]],
      [[1], [0], [1]],
      [[7], [-100], [100]],
      [[7], [5], [2]],
      [[3, 5], [1, 1], [3, -1]],
      [[3, 5], [-2], [-1]],
      [[1, 13], [0, 3], [1, 11]],
      [[2, 3, 37], [1, 0, 5], [2, 3, 36]],
      [[4, 3, 5, 7], [1, -2, 0, 2], [-1, 3, 5, 3]],
      [[2, 3, 1, 5, 3], [0, 1, 0, 1, -2], [2, 2, 1, -1, 3]],
      [[5, 11, 13], [0, 0, 1], [5, 11, 12]],
    ].map(([shape, starts, ends], i) => ({ shapes: [shape], args: { starts, ends }, forwardOnly: i === 11 })),
    run: ([x], { starts, ends }) => slice(x, starts, ends),
    ref: ([x], [shape], { starts, ends }) => sliceRef(x, shape, starts, ends),
    tol: { rtol: 0, atol: 0 },
    dtype: 'any',
    // Slices of three dims that stay three dims after collapsing.
    reuse: [8, 11],
  } satisfies OpInfo<{ starts: number[]; ends: number[] }>,
  {
    name: 'narrow',
    samples: [
      [[7], 0, 2, 3],
      [[3, 5], -1, -3, 2],
      [[2, 3, 37], 2, 5, 31],
      [[2, 3, 37], -2, 1, 0],
      [[4, 3, 5, 7], 0, 3, 1],
      [[2, 3, 1, 5, 3], 3, 1, 4],
      [[2, 7, 5], -2, -4, 3],
    ].map(([shape, dim, start, length]) => ({ shapes: [shape as number[]], args: { dim: dim as number, start: start as number, length: length as number } })),
    run: ([x], { dim, start, length }) => narrow(x, dim, start, length),
    ref: ([x], [shape], { dim, start, length }) => narrowRef(x, shape, dim, start, length),
    tol: { rtol: 0, atol: 0 },
    dtype: 'any',
    reuse: [2, 6],
  } satisfies OpInfo<{ dim: number; start: number; length: number }>,
];
