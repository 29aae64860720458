/**
 * Selection and masking (shaders/where.wgsl), any 4-byte dtype: `where` (NumPy broadcasting among
 * condition and both branches), `maskedFill`, `triu`/`tril` on the last two dims, and `causalMask`.
 * Conditions and masks may be f32, i32 or u32: nonzero means true. Plus float64 references.
 */
import source from '../../../../shaders/where.wgsl';
import { record } from '../engine/graph';
import { full } from './creation';
import { defineKernel, launch } from '../engine/kernel';
import { fmt, sameShape, sizeOf, stridesOf, Tensor, type DType, type Shape } from '../engine/tensor';
import { broadcastShapes, broadcastStrides, collapseDims } from './broadcast';
import { bitsOf, commonWgsl, stridedOffset } from './shared';

const kernel = defineKernel('where', source, { with: [commonWgsl] });

/** Raw 32-bit pattern of a fill value, which must be representable in `dtype`. */
function fillBits(op: string, value: number, dtype: DType): number {
  if (dtype !== 'f32' && (!Number.isInteger(value) || (dtype === 'u32' ? value < 0 || value > 0xffffffff : value < -0x80000000 || value > 0x7fffffff))) {
    throw new Error(`scratchgpt: ${op}: value ${value} is not representable as ${dtype}`);
  }
  return bitsOf(value, dtype);
}

function whereForward(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== b.dtype) throw new Error(`scratchgpt: where: branches differ in dtype, ${a.dtype} ${fmt(a.shape)} vs ${b.dtype} ${fmt(b.shape)}`);
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
    throw new Error(`scratchgpt: ${op}: mask of shape ${fmt(mask.shape)} does not broadcast to the input shape ${fmt(x.shape)}`);
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
  if (x.rank < 2) throw new Error(`scratchgpt: ${op} needs at least 2 dimensions, got shape ${fmt(x.shape)}`);
  if (!Number.isInteger(diagonal)) throw new Error(`scratchgpt: ${op}: diagonal ${diagonal} is not an integer`);
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
  if (!Number.isInteger(T) || T < 0) throw new Error(`scratchgpt: causalMask: T must be a non-negative integer, got ${T}`);
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
