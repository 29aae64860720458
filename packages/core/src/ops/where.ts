/**
 * Selection and masking (shaders/where.wgsl), any 4-byte dtype: `where` (NumPy broadcasting among
 * condition and both branches), `maskedFill`, `triu`/`tril` on the last two dims, and `causalMask`.
 * Conditions and masks may be f32, i32 or u32: nonzero means true. Plus float64 references.
 */
import source from '../../../../shaders/where.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { record } from '../engine/graph';
import { full } from './creation';
import { defineKernel, launch } from '../engine/kernel';
import { fmt, sameShape, sizeOf, stridesOf, Tensor, type DType, type Shape } from '../engine/tensor';
import { broadcastShapes, broadcastStrides, collapseDims } from './broadcast';
import type { OpInfo } from './info';
import { bitsOf, commonWgsl, stridedOffset } from './shared';

const kernel = defineKernel('where', source, { with: [commonWgsl] });

/** Raw 32-bit pattern of a fill value, which must be representable in `dtype`. */
function fillBits(op: string, value: number, dtype: DType): number {
  if (dtype !== 'f32' && (!Number.isInteger(value) || (dtype === 'u32' ? value < 0 || value > 0xffffffff : value < -0x80000000 || value > 0x7fffffff))) {
    throw new ScratchGPTError('value', `scratchgpt: ${op}: value ${value} is not representable as ${dtype}`);
  }
  return bitsOf(value, dtype);
}

function whereForward(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== b.dtype) throw new ScratchGPTError('dtype', `scratchgpt: where: branches differ in dtype, ${a.dtype} ${fmt(a.shape)} vs ${b.dtype} ${fmt(b.shape)}`);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, a.shape), b.shape);
  const out = Tensor.empty(shape, a.dtype);
  if (out.size === 0) return out;
  const c = collapseDims(shape, [cond, a, b].map((t) => broadcastStrides(t.shape, shape)));
  launch(kernel, 'forward', {
    constants: { RANK: c.shape.length, COND_F32: cond.dtype === 'f32' },
    params: { n: out.size, shape: c.shape, c_strides: c.strides[0], a_strides: c.strides[1], b_strides: c.strides[2] },
    bind: { cond, a, b, out },
    items: out.size,
  });
  return out;
}

/** out = x with `value` where `mask` is nonzero (or zero, when `invert`); mask broadcasts to x. */
function maskedFillForward<D extends DType>(op: string, x: Tensor<D>, mask: Tensor, value: number, invert: boolean): Tensor<D> {
  const shape = broadcastShapes(op, mask.shape, x.shape);
  if (!sameShape(shape, x.shape)) {
    throw new ScratchGPTError('shape', `scratchgpt: ${op}: mask of shape ${fmt(mask.shape)} does not broadcast to the input shape ${fmt(x.shape)}`);
  }
  const bits = fillBits(op, value, x.dtype);
  const out = Tensor.empty(x.shape, x.dtype);
  if (out.size === 0) return out;
  const c = collapseDims(shape, [broadcastStrides(mask.shape, shape), stridesOf(shape)]);
  launch(kernel, 'masked_fill', {
    constants: { RANK: c.shape.length, COND_F32: mask.dtype === 'f32', INVERT: invert },
    params: { n: out.size, value: bits, shape: c.shape, c_strides: c.strides[0], a_strides: c.strides[1] },
    bind: { cond: mask, a: x, out },
    items: out.size,
  });
  return out;
}

/**
 * Elementwise `cond ? a : b` with NumPy broadcasting among all three, like `torch.where`. `cond` may
 * be f32, i32 or u32 (nonzero = true); `a` and `b` share a dtype. Gradients go to `a` where the
 * condition holds and to `b` elsewhere.
 */
export function where<D extends DType>(cond: Tensor, a: Tensor<D>, b: Tensor<D>): Tensor<D> {
  const out = whereForward(cond, a, b) as Tensor<D>;
  return record(out, 'where', [cond, a, b], [cond], (g, [c]) => [
    null,
    () => maskedFillForward('where', g, c, 0, true),
    () => maskedFillForward('where', g, c, 0, false),
  ]);
}

/**
 * `x` with `value` wherever `mask` (broadcastable to x; nonzero = fill) is set, like
 * `torch.Tensor.masked_fill`. The gradient is zero at filled positions.
 * @example maskedFill(scores, causalMask(T), -Infinity) // hide future positions before softmax
 */
export function maskedFill<D extends DType>(x: Tensor<D>, mask: Tensor, value: number): Tensor<D> {
  const out = maskedFillForward('maskedFill', x, mask, value, false);
  return record(out, 'maskedFill', [x, mask], [mask], (g, [m]) => [() => maskedFillForward('maskedFill', g, m, 0, false), null]);
}

function triForward<D extends DType>(op: string, x: Tensor<D>, diagonal: number, lower: boolean): Tensor<D> {
  if (x.rank < 2) throw new ScratchGPTError('shape', `scratchgpt: ${op} needs at least 2 dimensions, got shape ${fmt(x.shape)}`);
  if (!Number.isInteger(diagonal)) throw new ScratchGPTError('value', `scratchgpt: ${op}: diagonal ${diagonal} is not an integer`);
  const out = Tensor.empty(x.shape, x.dtype);
  if (out.size === 0) return out;
  const [rows, cols] = x.shape.slice(-2);
  // Diagonals past the matrix keep or clear everything: clamp so the i32 uniform cannot overflow.
  const diag = Math.max(-rows - 1, Math.min(cols + 1, diagonal));
  launch(kernel, 'tri', { constants: { LOWER: lower }, params: { n: out.size, diagonal: diag, shape: [rows, cols] }, bind: { a: x, out }, items: out.size });
  return out;
}

/** Upper triangle of the last two dims (entries with col − row ≥ `diagonal`), zeros elsewhere, like `torch.triu`. */
export function triu<D extends DType>(x: Tensor<D>, diagonal = 0): Tensor<D> {
  const out = triForward('triu', x, diagonal, false);
  return record(out, 'triu', [x], [], (g) => [() => triForward('triu', g, diagonal, false)]);
}

/** Lower triangle of the last two dims (entries with col − row ≤ `diagonal`), zeros elsewhere, like `torch.tril`. */
export function tril<D extends DType>(x: Tensor<D>, diagonal = 0): Tensor<D> {
  const out = triForward('tril', x, diagonal, true);
  return record(out, 'tril', [x], [], (g) => [() => triForward('tril', g, diagonal, true)]);
}

/**
 * The T×T causal attention mask: 1 above the diagonal (the future positions to hide), 0 elsewhere —
 * `torch.triu(torch.ones(T, T), diagonal=1)`. Use with {@link maskedFill} and `-Infinity`.
 */
export function causalMask<D extends DType = 'f32'>(T: number, options: { dtype?: D } = {}): Tensor<D> {
  if (!Number.isInteger(T) || T < 0) throw new ScratchGPTError('value', `scratchgpt: causalMask: T must be a non-negative integer, got ${T}`);
  const ones = full([T, T], 1, { dtype: (options.dtype ?? 'f32') as D });
  const out = triForward('causalMask', ones, 1, false);
  ones.dispose();
  return out;
}

/** Offsets of each operand for every element of the broadcast shape (float64 references). */
function broadcastIndex(shape: Shape, operands: readonly Shape[]): (i: number) => number[] {
  const strides = operands.map((s) => broadcastStrides(s, shape));
  return (i) => strides.map((s) => stridedOffset(i, shape, s));
}

/** float64 reference of {@link where}. */
export function whereRef(
  cond: ArrayLike<number>,
  condShape: Shape,
  a: ArrayLike<number>,
  aShape: Shape,
  b: ArrayLike<number>,
  bShape: Shape,
): { data: Float64Array; shape: number[] } {
  const shape = broadcastShapes('whereRef', broadcastShapes('whereRef', condShape, aShape), bShape);
  const index = broadcastIndex(shape, [condShape, aShape, bShape]);
  const out = new Float64Array(sizeOf(shape));
  for (let i = 0; i < out.length; i++) {
    const [ic, ia, ib] = index(i);
    out[i] = cond[ic] !== 0 ? a[ia] : b[ib];
  }
  return { data: out, shape };
}

/** float64 reference of {@link maskedFill}. */
export function maskedFillRef(x: ArrayLike<number>, shape: Shape, mask: ArrayLike<number>, maskShape: Shape, value: number): Float64Array {
  const index = broadcastIndex(shape, [maskShape]);
  return Float64Array.from({ length: sizeOf(shape) }, (_, i) => (mask[index(i)[0]] !== 0 ? value : x[i]));
}

function triRef(data: ArrayLike<number>, shape: Shape, diagonal: number, lower: boolean): Float64Array {
  const [rows, cols] = shape.slice(-2);
  return Float64Array.from({ length: sizeOf(shape) }, (_, i) => {
    const offset = (i % cols) - (Math.floor(i / cols) % rows);
    return (lower ? offset <= diagonal : offset >= diagonal) ? data[i] : 0;
  });
}

/** float64 reference of {@link triu}. */
export function triuRef(data: ArrayLike<number>, shape: Shape, diagonal = 0): Float64Array {
  return triRef(data, shape, diagonal, false);
}

/** float64 reference of {@link tril}. */
export function trilRef(data: ArrayLike<number>, shape: Shape, diagonal = 0): Float64Array {
  return triRef(data, shape, diagonal, true);
}

/** float64 reference of {@link causalMask}: row-major T×T, 1 where col > row. */
export function causalMaskRef(T: number): Float64Array {
  return triRef(new Float64Array(T * T).fill(1), [T, T], 1, false);
}

/**
 * A condition or mask for the registry: about half zeros, the rest assorted nonzero values; as u32
 * the nonzero ones are 0x80000000, which read as f32 would be −0 (false).
 */
function randomCond(n: number, dtype: DType, random: (n: number, low?: number, high?: number) => Float32Array): ArrayLike<number> {
  const u = random(n, 0, 1);
  const values = Array.from(u, (v, i) => (v < 0.5 ? 0 : (i % 2 === 0 ? 1 : -3)));
  return dtype === 'u32' ? Uint32Array.from(values, (v) => (v === 0 ? 0 : 0x80000000)) : values;
}

/** [cond, a, b] shapes: NumPy broadcasting among all three. */
const whereShapes = [
  [[1], [1], [1]],
  [[7], [7], [7]],
  [[3, 1], [1, 5], [5]],
  [[], [3], [3]],
  [[3], [], [2, 3]],
  [[2, 1, 37], [3, 1], [1]],
  [[1, 13], [11, 1], [1, 13]],
  [[4, 1, 3, 1], [2, 1, 5], [1, 1, 1, 1, 1]],
  [[2, 3, 1, 5, 2], [3, 5, 1], [2, 1, 1, 1, 2]],
];

/** [x, mask] shapes: the mask broadcasts to x. */
const maskShapes = [
  [[1], [1]],
  [[7], [7]],
  [[7], []],
  [[3, 5], [5]],
  [[3, 5], [3, 1]],
  [[2, 3, 37], [3, 37]],
  [[2, 1, 3, 5, 2], [1, 3, 1, 2]],
];

const triShapes = [[1, 1], [3, 5], [5, 3], [2, 3, 7, 4], [2, 1, 3, 5, 2], [1, 17, 13]];
const triGradCases = new Set(['3,5 0', '2,4,3 -1', '2,1,3,5,2 1']);

function triInfo(name: 'triu' | 'tril', run: typeof triu, ref: typeof triuRef): OpInfo<{ diagonal: number }> {
  return {
    name,
    samples: [...triShapes, [2, 4, 3]].flatMap((shape) =>
      [0, 1, -1, 2, -3, 100, -100].map((diagonal) => ({ shapes: [shape], args: { diagonal }, forwardOnly: !triGradCases.has(`${shape} ${diagonal}`) })),
    ),
    run: ([x], { diagonal }) => run(x, diagonal),
    ref: ([x], [shape], { diagonal }) => ref(x, shape, diagonal),
    tol: { rtol: 0, atol: 0 },
    dtype: 'any',
  };
}

/** Registry entries of where, maskedFill, triu and tril (see `ops/info.ts`); conditions and masks of each dtype. */
export const whereInfos = [
  {
    name: 'where',
    samples: whereShapes.flatMap((shapes) => (['f32', 'i32', 'u32'] as const).map((c) => ({ shapes, dtypes: [c, 'f32', 'f32'] as DType[] }))),
    run: ([c, a, b]) => where(c, a, b),
    ref: ([c, a, b], [sc, sa, sb]) => whereRef(c, sc, a, sa, b, sb),
    tol: { rtol: 0, atol: 0 },
    data: (k, shapes, _args, random, dtype) => (k === 0 ? randomCond(sizeOf(shapes[0]), dtype, random) : undefined),
    differentiable: [false, true, true],
    dtype: 'any',
    // f32 conditions over broadcasts that collapse to two dims (rank and condition dtype are pipeline constants).
    reuse: [6, 18],
  } satisfies OpInfo,
  {
    name: 'maskedFill',
    samples: maskShapes.flatMap((shapes) => [
      { shapes, args: { value: -7 } },
      { shapes, args: { value: 3 }, dtypes: ['f32', 'i32'] as DType[], forwardOnly: true },
      ...(['f32', 'i32', 'u32'] as const).map((m) => ({ shapes, args: { value: -Infinity }, dtypes: ['f32', m] as DType[], forwardOnly: true })),
      { shapes, args: { value: 2.5 }, dtypes: ['f32', 'u32'] as DType[], forwardOnly: true },
      { shapes, args: { value: Infinity }, forwardOnly: true },
    ]),
    run: ([x, mask], { value }) => maskedFill(x, mask, value),
    ref: ([x, mask], [sx, sm], { value }) => maskedFillRef(x, sx, mask, sm, value),
    tol: { rtol: 0, atol: 0 },
    data: (k, shapes, _args, random, dtype) => (k === 1 ? randomCond(sizeOf(shapes[1]), dtype, random) : undefined),
    differentiable: [true, false],
    dtype: 'any',
    // Integer fill values (representable in i32 and u32).
    intSamples: maskShapes.map((_, i) => 7 * i + 1),
    // f32 masks over [3, 5]: broadcast along either dim.
    reuse: [21, 28],
  } satisfies OpInfo<{ value: number }>,
  triInfo('triu', triu, triuRef),
  triInfo('tril', tril, trilRef),
];
