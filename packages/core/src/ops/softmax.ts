/**
 * Softmax and log-softmax over the last axis (shaders/softmax.wgsl): numerically stable, one workgroup
 * per row, rows of any length (a 50257-entry vocabulary included). Forward saves its output; the
 * backward entry points are exported for fused losses. Plus float64 references.
 */
import source from '../../../../shaders/softmax.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { record } from '../engine/graph';
import { launch } from '../engine/kernel';
import { expectDType, fmt, sameShape, Tensor } from '../engine/tensor';
import { threadsPerRow } from './reduce';
import type { AnyOpInfo } from './info';
import { defineRowKernel, rowsSubgroupSize, rowVariant, storageOf } from './variants';

const kernel = defineRowKernel('softmax', source);
/** The op-code `const` of each op in shaders/softmax.wgsl. */
const OP = { softmax: 'SOFTMAX', logSoftmax: 'LOG_SOFTMAX' } as const;
type SoftmaxOp = keyof typeof OP;

function rowsOf(op: string, x: Tensor): { rows: number; c: number } {
  expectDType(op, x, 'f32');
  if (x.rank < 1) throw new ScratchGPTError('shape', `scratchgpt: ${op} needs at least one dimension, got shape ${fmt(x.shape)}`);
  const c = x.shape[x.rank - 1];
  return { rows: c === 0 ? 0 : x.size / c, c };
}

function run(op: SoftmaxOp, entry: 'forward' | 'backward', x: Tensor, dy: Tensor | null): Tensor<'f32'> {
  const { rows, c } = rowsOf(op, x);
  const variant = rowVariant(kernel);
  const out = Tensor.empty(x.shape, 'f32');
  const tpr = threadsPerRow(c, kernel.workgroupSize(entry));
  // A segment of `tpr` threads per row.
  launch(variant, entry, { constants: { ROWS_SG: rowsSubgroupSize(), OP: kernel.consts[OP[op]] }, params: { rows, c, tpr }, bind: { x, y: out, dy }, items: rows * tpr });
  return out;
}

function checkBackward(op: string, y: Tensor, dy: Tensor): void {
  expectDType(op, dy, 'f32');
  if (!sameShape(y.shape, dy.shape)) {
    throw new ScratchGPTError('shape', `scratchgpt: ${op}: output ${fmt(y.shape)} and gradient ${fmt(dy.shape)} shapes differ`);
  }
}

/** Gradient of softmax from its output `y` and output gradient `dy`: y·(dy − Σ_last dy·y). */
export function softmaxBackward(y: Tensor, dy: Tensor): Tensor<'f32'> {
  checkBackward('softmaxBackward', y, dy);
  return run('softmax', 'backward', y, dy);
}

/** Gradient of log-softmax from its output `y` and output gradient `dy`: dy − exp(y)·Σ_last dy. */
export function logSoftmaxBackward(y: Tensor, dy: Tensor): Tensor<'f32'> {
  checkBackward('logSoftmaxBackward', y, dy);
  return run('logSoftmax', 'backward', y, dy);
}

/** softmax over the last axis: exp(x − max)/Σexp(x − max). */
export function softmax(x: Tensor): Tensor<'f32'> {
  const y = run('softmax', 'forward', x, null);
  return record(y, 'softmax', [x], [y], (g, [ys]) => [() => softmaxBackward(ys, g)]);
}

/** log-softmax over the last axis: x − max − log Σexp(x − max). */
export function logSoftmax(x: Tensor): Tensor<'f32'> {
  const y = run('logSoftmax', 'forward', x, null);
  return record(y, 'logSoftmax', [x], [y], (g, [ys]) => [() => logSoftmaxBackward(ys, g)]);
}

function rowwise(data: ArrayLike<number>, c: number, f: (row: Float64Array, out: Float64Array) => void): Float64Array {
  const out = new Float64Array(data.length);
  for (let start = 0; start < data.length; start += c) {
    f(Float64Array.from({ length: c }, (_, j) => data[start + j]), out.subarray(start, start + c));
  }
  return out;
}

function logSumExp(row: Float64Array): number {
  let m = -Infinity;
  for (const v of row) m = Math.max(m, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - m);
  return m + Math.log(s);
}

/** float64 reference of {@link softmax} over rows of length `c` (flat row-major data). */
export function softmaxRef(data: ArrayLike<number>, c: number): Float64Array {
  return rowwise(data, c, (row, out) => {
    const lse = logSumExp(row);
    row.forEach((v, j) => (out[j] = Math.exp(v - lse)));
  });
}

/** float64 reference of {@link logSoftmax} over rows of length `c`. */
export function logSoftmaxRef(data: ArrayLike<number>, c: number): Float64Array {
  return rowwise(data, c, (row, out) => {
    const lse = logSumExp(row);
    row.forEach((v, j) => (out[j] = v - lse));
  });
}

/** Registry entries of softmax and logSoftmax (see `ops/info.ts`): rows of 1 to 50257, from 256 rows per workgroup to a workgroup per row. */
export const softmaxInfos: AnyOpInfo[] = [
  { name: 'softmax', run: softmax, ref: softmaxRef },
  { name: 'logSoftmax', run: logSoftmax, ref: logSoftmaxRef },
].map(({ name, run, ref }) => ({
  name,
  samples: [
    ...[[1], [1, 1], [7], [3, 5], [2, 3, 37], [2, 300]].map((shape) => ({ shapes: [shape] })),
    ...[[300, 40], [5, 257], [1, 1000], [2, 50257]].map((shape) => ({ shapes: [shape], forwardOnly: true })),
  ],
  run: ([x]: Tensor[]) => run(x),
  ref: ([x]: Float64Array[], [shape]: readonly (readonly number[])[]) => ref(x, shape[shape.length - 1]),
  tol: { rtol: 1e-5, atol: 1e-6 },
  domain: [-4, 4] as const,
  dtype: { reject: 'i32' as const },
}));
