/** NumPy broadcasting rules and index-space helpers shared by broadcasting kernels. */
import { ScratchGPTError } from '../engine/errors';
import { fmt, stridesOf, type Shape } from '../engine/tensor';
import { stridedOffset } from './shared';

/** The broadcast shape of two shapes, or a clear error naming both. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ScratchGPTError('shape', `scratchgpt: ${op}: shapes ${fmt(a)} and ${fmt(b)} cannot be broadcast together (dimension ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Whether `to` broadcasts up to `from`, so that a tensor of shape `from` can be summed down to `to`. */
export function canSumTo(from: Shape, to: Shape): boolean {
  const lead = from.length - to.length;
  return lead >= 0 && to.every((d, i) => d === 1 || d === from[i + lead]);
}

/** Strides (elements) of `shape` read as if broadcast to `outShape`: 0 on broadcast dimensions. */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const strides = stridesOf(shape);
  const offset = outShape.length - shape.length;
  return outShape.map((d, i) => (i < offset || shape[i - offset] === 1 ? 0 : strides[i - offset]));
}

/**
 * Merges adjacent output dimensions where every operand's strides allow it and drops size-1
 * dimensions, so kernels loop over as few dimensions as possible (same-shape ops become rank 1).
 */
export function collapseDims(shape: Shape, operandStrides: number[][]): { shape: number[]; strides: number[][] } {
  const dims: number[] = [];
  const strides: number[][] = operandStrides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = dims.length - 1;
    const mergeable =
      last >= 0 && operandStrides.every((s, k) => strides[k][last] === s[d] * shape[d]);
    if (mergeable) {
      dims[last] *= shape[d];
      operandStrides.forEach((s, k) => (strides[k][last] = s[d]));
    } else {
      dims.push(shape[d]);
      operandStrides.forEach((s, k) => strides[k].push(s[d]));
    }
  }
  if (dims.length === 0) {
    dims.push(1);
    strides.forEach((s) => s.push(0));
  }
  return { shape: dims, strides };
}

/** float64 reference: applies `f` with broadcasting over flat row-major arrays. */
export function broadcastRef(
  a: ArrayLike<number>,
  aShape: Shape,
  b: ArrayLike<number>,
  bShape: Shape,
  f: (x: number, y: number) => number,
): { data: Float64Array; shape: number[] } {
  const shape = broadcastShapes('ref', aShape, bShape);
  const sa = broadcastStrides(aShape, shape);
  const sb = broadcastStrides(bShape, shape);
  const n = shape.reduce((p, d) => p * d, 1);
  const data = Float64Array.from({ length: n }, (_, i) => f(a[stridedOffset(i, shape, sa)], b[stridedOffset(i, shape, sb)]));
  return { data, shape };
}
