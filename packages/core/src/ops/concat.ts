/**
 * Joining and splitting along one dimension: `concat` (like `torch.cat`) writes each piece with one
 * strided copy into its offset region of the output; its backward narrows the gradient back into
 * pieces. `split` (like `torch.split`) is a list of narrows. Any dtype.
 */
import { ScratchGPTError } from '../engine/errors';
import { record } from '../engine/graph';
import { fmt, normAxis, sizeOf, stridesOf, Tensor, type DType, type Shape } from '../engine/tensor';
import type { OpInfo } from './info';
import { stridedCopy } from './permute';
import { stridedOffset } from './shared';
import { narrow } from './slice';

/** Validates concat inputs and returns the normalised dim and output shape. */
function concatShape(op: string, shapes: readonly Shape[], dim: number): { d: number; shape: number[] } {
  if (shapes.length === 0) throw new ScratchGPTError('value', `scratchgpt: ${op} needs at least one tensor`);
  const first = shapes[0];
  const d = normAxis(op, dim, first.length);
  shapes.forEach((shape, k) => {
    if (shape.length !== first.length || shape.some((n, i) => i !== d && n !== first[i])) {
      throw new ScratchGPTError('shape',
        `scratchgpt: ${op}: tensor ${k} has shape ${fmt(shape)} but tensor 0 has shape ${fmt(first)}; all dimensions except ${dim} must match`,
      );
    }
  });
  const shape = [...first];
  shape[d] = shapes.reduce((acc, s) => acc + s[d], 0);
  return { d, shape };
}

/**
 * Concatenates tensors of one dtype along `dim` (negative counts from the end), like `torch.cat`.
 * @example concat([a, b], -1) // [B, T, C1] + [B, T, C2] → [B, T, C1 + C2]
 */
export function concat<D extends DType>(tensors: readonly Tensor<D>[], dim: number): Tensor<D> {
  tensors.forEach((t, k) => {
    if (t.dtype !== tensors[0].dtype) {
      throw new ScratchGPTError('dtype', `scratchgpt: concat: tensor ${k} is ${t.dtype} ${fmt(t.shape)} but tensor 0 is ${tensors[0].dtype} ${fmt(tensors[0].shape)}`);
    }
  });
  const { d, shape } = concatShape('concat', tensors.map((t) => t.shape), dim);
  const out = Tensor.empty(shape, tensors[0].dtype);
  const outStrides = stridesOf(shape);
  const offsets: number[] = [];
  const sizes: number[] = [];
  let at = 0;
  for (const t of tensors) {
    stridedCopy(t.shape, { tensor: t, offset: 0, strides: t.strides }, { tensor: out, offset: at * outStrides[d], strides: outStrides });
    offsets.push(at);
    sizes.push(t.shape[d]);
    at += t.shape[d];
  }
  return record(out, 'concat', [...tensors], [], (g) => offsets.map((offset, k) => () => narrow(g, d, offset, sizes[k])));
}

/**
 * Splits `x` along `dim` into pieces of `sizes` (a list summing to the dimension) or of one size
 * (the last piece may be smaller), like `torch.split`. Each piece is a new tensor.
 * @example const [q, k, v] = split(qkv, C, -1) // [B, T, 3C] → 3 × [B, T, C]
 */
export function split<D extends DType>(x: Tensor<D>, sizes: number | readonly number[], dim: number): Tensor<D>[] {
  return splitSizes('split', x.shape, sizes, dim).map(({ start, length, d }) => narrow(x, d, start, length));
}

function splitSizes(op: string, shape: Shape, sizes: number | readonly number[], dim: number): { start: number; length: number; d: number }[] {
  const d = normAxis(op, dim, shape.length);
  const n = shape[d];
  let lengths: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes <= 0) throw new ScratchGPTError('value', `scratchgpt: ${op}: split size ${sizes} must be a positive integer`);
    lengths = [];
    for (let s = 0; s < n; s += sizes) lengths.push(Math.min(sizes, n - s));
    if (lengths.length === 0) lengths.push(0);
  } else {
    lengths = [...sizes];
    const total = lengths.reduce((a, b) => a + b, 0);
    if (lengths.some((l) => !Number.isInteger(l) || l < 0) || total !== n) {
      throw new ScratchGPTError('shape', `scratchgpt: ${op}: sizes ${fmt(lengths)} do not add up to dimension ${dim} (size ${n}) of shape ${fmt(shape)}`);
    }
  }
  let start = 0;
  return lengths.map((length) => {
    const piece = { start, length, d };
    start += length;
    return piece;
  });
}

/** float64 reference of {@link concat} over flat row-major data. */
export function concatRef(datas: readonly ArrayLike<number>[], shapes: readonly Shape[], dim: number): { data: Float64Array; shape: number[] } {
  const { d, shape } = concatShape('concatRef', shapes, dim);
  const outer = sizeOf(shape.slice(0, d));
  const inner = sizeOf(shape.slice(d + 1));
  const out = new Float64Array(sizeOf(shape));
  let i = 0;
  for (let o = 0; o < outer; o++) {
    datas.forEach((data, k) => {
      const block = shapes[k][d] * inner;
      for (let j = 0; j < block; j++) out[i++] = data[o * block + j];
    });
  }
  return { data: out, shape };
}

/** float64 reference of {@link split}: the pieces' data and shapes. */
export function splitRef(data: ArrayLike<number>, shape: Shape, sizes: number | readonly number[], dim: number): { data: Float64Array; shape: number[] }[] {
  const strides = stridesOf(shape);
  return splitSizes('splitRef', shape, sizes, dim).map(({ start, length, d }) => {
    const pieceShape = shape.map((n, i) => (i === d ? length : n));
    const starts = shape.map((_, i) => (i === d ? start : 0));
    const out = Float64Array.from({ length: sizeOf(pieceShape) }, (_, i) => data[stridedOffset(i, pieceShape, strides, starts)]);
    return { data: out, shape: pieceShape };
  });
}

/** Registry entries of concat and split (see `ops/info.ts`): ranks 1 to 5, negative dims, empty pieces. */
export const concatInfos = [
  {
    name: 'concat',
    samples: [
      [[[7]], 0],
      [[[1], [7], [3]], 0],
      [[[3, 5], [2, 5]], 0],
      [[[3, 5], [3, 1], [3, 2]], -1],
      [[[2, 3, 37], [2, 1, 37], [2, 0, 37], [2, 5, 37]], 1],
      [[[2, 3, 5, 7], [2, 3, 5, 1]], 3],
      [[[2, 1, 3, 5, 2], [2, 4, 3, 5, 2]], -4],
      [[[1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1]], 2],
    ].map(([shapes, dim]) => ({ shapes: shapes as number[][], args: { dim: dim as number } })),
    run: (xs, { dim }) => concat(xs, dim),
    ref: (xs, shapes, { dim }) => concatRef(xs, shapes, dim),
    tol: { rtol: 0, atol: 0 },
    dtype: 'any',
    reuse: [2, 3, 5],
  } satisfies OpInfo<{ dim: number }>,
  {
    // The pieces are concatenated in reverse order, so each one's values and place are checked.
    name: 'split',
    samples: [
      [[7], 3, 0],
      [[3, 10], [2, 5, 3], -1],
      [[3, 11], [4, 0, 7], -1],
      [[2, 13, 5], 13, 1],
      [[2, 3, 5, 7], [0, 3, 4], 3],
      [[4, 3, 1, 5, 2], 1, -5],
    ].map(([shape, sizes, dim]) => ({ shapes: [shape as number[]], args: { sizes: sizes as number | number[], dim: dim as number } })),
    run: ([x], { sizes, dim }) => {
      const pieces = split(x, sizes, dim);
      const out = concat([...pieces].reverse(), dim);
      for (const p of pieces) p.dispose();
      return out;
    },
    ref: ([x], [shape], { sizes, dim }) => {
      const pieces = splitRef(x, shape, sizes, dim).reverse();
      return concatRef(pieces.map((p) => p.data), pieces.map((p) => p.shape), dim);
    },
    tol: { rtol: 0, atol: 0 },
    dtype: 'any',
    reuse: [1, 2],
  } satisfies OpInfo<{ sizes: number | number[]; dim: number }>,
];
