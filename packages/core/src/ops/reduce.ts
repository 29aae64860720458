/**
 * Reductions over axes (shaders/reduce.wgsl): sum, mean and max, `sumTo` (the reverse of
 * broadcasting, used by binary-op backward), their backward rules, and float64 references.
 *
 * Each reduction runs over one run of adjacent axes at a time, viewing the tensor as [outer, R, inner].
 * Long reductions take several passes of a workgroup tree reduction (each pass shrinks R by up to
 * 256·64), so a sum of a million elements is a tree sum, not one serial loop in f32; short ones put
 * many outputs in one workgroup.
 */
import source from '../../../../shaders/reduce.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { record } from '../engine/graph';
import { defineKernel, launch } from '../engine/kernel';
import { dtypeCode, expectDType, fmt, normAxis, sizeOf, Tensor, type DType, type Shape } from '../engine/tensor';
import { broadcastStrides, canSumTo, collapseDims } from './broadcast';
import type { AnyOpInfo, OpInfo } from './info';
import { commonWgsl, stridedOffset } from './shared';

const kernel = defineKernel('reduce', source, { with: [commonWgsl] });
/** Threads per workgroup of the reduction passes. */
const WG = kernel.workgroupSize('forward');
/** Elements one lane folds serially per pass (bounds the serial part of every sum). */
const MAX_PER_LANE = 64;

type ReduceOp = 'sum' | 'mean' | 'max';
/** The op-code `const` of each reduction in shaders/reduce.wgsl. */
const OP_CODE = { sum: 'SUM', mean: 'SUM', max: 'MAX' } as const;

/** Sorted, de-duplicated, normalised axes; `undefined` means every axis. */
function normAxes(op: string, axis: number | readonly number[] | undefined, rank: number): number[] {
  if (axis === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axis === 'number' ? [axis] : axis;
  const axes = list.map((a) => normAxis(op, a, rank));
  if (new Set(axes).size !== axes.length) throw new ScratchGPTError('value', `scratchgpt: ${op}: repeated axis in [${list.join(', ')}]`);
  return axes.sort((a, b) => a - b);
}

/** The shape after reducing `axes` (kept as 1s with `keepdim`). */
function reducedShape(shape: Shape, axes: readonly number[], keepdim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdim) out.push(1);
  });
  return out;
}

/** Runs of adjacent reduced axes as [start, end) pairs, last run first. */
function axisRuns(axes: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last && last[1] === a) last[1] = a + 1;
    else runs.push([a, a + 1]);
  }
  return runs.reverse();
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Threads to give one row of length `c` in a row-per-segment kernel with `workgroupSize`-thread
 * workgroups (softmax, layerNorm, reductions; 256): a power of two, about one thread per 32
 * elements, at most the workgroup. Short rows share a workgroup instead of idling most of one (and
 * software adapters, where every barrier round is costly, get short trees).
 */
export function threadsPerRow(c: number, workgroupSize = WG): number {
  return Math.min(workgroupSize, nextPow2(Math.ceil(c / 32)));
}

/**
 * Reduces the middle axis of `x` viewed as [outer, r, inner] → flat [outer·inner] values (and, for
 * max, the first index of the maximum along r). Each pass shrinks r by up to lanes·64; intermediates
 * are disposed.
 */
function reduceMiddle(op: ReduceOp, x: Tensor, outer: number, r: number, inner: number): { values: Tensor; indices: Tensor<'u32'> | null } {
  const constants = { OP: kernel.consts[OP_CODE[op]], DTYPE: dtypeCode(x.dtype) };
  const finalScale = op === 'mean' ? 1 / r : 1;
  const isMax = op === 'max';
  const outputs = outer * inner;
  let current = x;
  let currentIdx: Tensor<'u32'> | null = null;
  let length = r;
  for (;;) {
    // Lanes along R (about one per 32 elements); the rest of the workgroup covers more outputs, at least
    // 64 consecutive columns of `inner` when it is that wide (coalesced reads down columns).
    const cols = Math.min(WG, Math.max(nextPow2(Math.min(inner, 64)), WG / threadsPerRow(length)));
    const lanes = WG / cols;
    const perLane = Math.max(1, Math.min(MAX_PER_LANE, Math.ceil(length / lanes)));
    const chunks = Math.max(1, Math.ceil(length / (lanes * perLane)));
    const values = Tensor.empty([outer * chunks * inner], x.dtype);
    const indices = isMax ? Tensor.empty([outer * chunks * inner], 'u32') : null;
    // One workgroup per (tile of `cols` outputs, chunk of R).
    launch(kernel, 'forward', {
      constants,
      params: { outer, r: length, inner, cols, per_lane: perLane, chunks, outputs, first: currentIdx === null, scale: chunks === 1 ? finalScale : 1 },
      bind: { x: current, idx_in: currentIdx, out: values, idx_out: indices },
      groups: Math.ceil(outputs / cols) * chunks,
    });
    if (current !== x) current.dispose();
    currentIdx?.dispose();
    if (chunks === 1) return { values, indices };
    current = values;
    currentIdx = indices;
    length = chunks;
  }
}

/** Sizes of `shape` before, inside and after the axis run [start, end). */
function split(shape: Shape, start: number, end: number): [number, number, number] {
  return [sizeOf(shape.slice(0, start)), sizeOf(shape.slice(start, end)), sizeOf(shape.slice(end))];
}

/** Broadcasts `g` (shape `from`, 1s where reduced) up to `to`, times `scale`. */
function expand(g: Tensor, from: Shape, to: Shape, scale: number): Tensor {
  const out = Tensor.empty(to, 'f32');
  const collapsed = collapseDims(to, [broadcastStrides(from, to)]);
  launch(kernel, 'backward_sum', {
    constants: { RANK: collapsed.shape.length },
    params: { scale, n: out.size, shape: collapsed.shape, strides: collapsed.strides[0] },
    bind: { x: g, out },
    items: out.size,
  });
  return out;
}

/** One recorded reduction over the adjacent axes [start, end) of `x`, keeping them as 1s. */
function reduceRun(op: ReduceOp, x: Tensor, start: number, end: number): Tensor {
  const [outer, r, inner] = split(x.shape, start, end);
  const keptShape = x.shape.map((d, i) => (i >= start && i < end ? 1 : d));
  const { values, indices } = reduceMiddle(op, x, outer, r, inner);
  const out = values.reshape(keptShape);
  values.dispose();
  const inShape = x.shape;
  if (op !== 'max') {
    const scale = op === 'mean' ? 1 / r : 1;
    return record(out, op, [x], [], (g) => [() => expand(g, keptShape, inShape, scale)]);
  }
  const recorded = record(out, op, [x], [indices!], (g, [idx]) => [() => {
    const dx = Tensor.empty(inShape, 'f32');
    launch(kernel, 'backward_max', { params: { r, inner, n: dx.size }, bind: { x: g, idx_in: idx, out: dx }, items: dx.size });
    return dx;
  }]);
  indices!.dispose();
  return recorded;
}

function reduce(op: ReduceOp, t: Tensor, axis: number | readonly number[] | undefined, keepdim: boolean): Tensor {
  if (op === 'mean') expectDType(op, t, 'f32');
  else expectDType(op, t, 'f32', 'i32');
  const axes = normAxes(op, axis, t.rank);
  if (op === 'max') {
    const empty = axes.find((a) => t.shape[a] === 0);
    if (empty !== undefined) throw new ScratchGPTError('shape', `scratchgpt: max: cannot reduce over axis ${empty} of size 0 (shape ${fmt(t.shape)})`);
  }
  let current = t;
  for (const [start, end] of axisRuns(axes)) {
    const next = reduceRun(op, current, start, end);
    if (current !== t) current.dispose();
    current = next;
  }
  const shape = reducedShape(t.shape, axes, keepdim);
  const out = current.reshape(shape);
  if (current !== t) current.dispose();
  return out;
}

/**
 * Sum over `axis` (a number, a list, or all axes when omitted), like `torch.sum`. f32 or i32 (wrapping).
 * @example sum(x, -1, true) // [B, T, C] → [B, T, 1]
 */
export function sum(t: Tensor, axis?: number | readonly number[], keepdim = false): Tensor {
  return reduce('sum', t, axis, keepdim);
}

/** Mean over `axis` (all axes when omitted), f32 only. The mean over zero elements is NaN. */
export function mean(t: Tensor, axis?: number | readonly number[], keepdim = false): Tensor {
  return reduce('mean', t, axis, keepdim);
}

/**
 * Maximum over `axis` (all axes when omitted), f32 or i32. The gradient goes to the first position of
 * the maximum. NaN counts as the maximum (propagates).
 */
export function max(t: Tensor, axis?: number | readonly number[], keepdim = false): Tensor {
  return reduce('max', t, axis, keepdim);
}

/** Sums `t` down to `shape` (the reverse of broadcasting `shape` up to `t.shape`). */
export function sumTo(t: Tensor, shape: Shape): Tensor {
  expectDType('sumTo', t, 'f32', 'i32');
  const target = [...shape];
  const lead = t.rank - target.length;
  if (!canSumTo(t.shape, target)) throw new ScratchGPTError('shape', `scratchgpt: sumTo: cannot sum shape ${fmt(t.shape)} down to ${fmt(target)}`);
  const axes: number[] = [];
  for (let i = 0; i < t.rank; i++) {
    if (i < lead || (target[i - lead] === 1 && t.shape[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0) return t.reshape(target);
  const reduced = sum(t, axes, true);
  const out = reduced.reshape(target);
  reduced.dispose();
  return out;
}

function reduceRef(
  op: ReduceOp,
  data: ArrayLike<number>,
  shape: Shape,
  axis: number | readonly number[] | undefined,
  keepdim: boolean,
): { data: Float64Array; shape: number[] } {
  const axes = normAxes(`${op}Ref`, axis, shape.length);
  const outShape = reducedShape(shape, axes, true);
  const outStrides = broadcastStrides(outShape, shape);
  const out = new Float64Array(sizeOf(outShape)).fill(op === 'max' ? -Infinity : 0);
  const n = sizeOf(shape);
  for (let i = 0; i < n; i++) {
    const at = stridedOffset(i, shape, outStrides);
    out[at] = op === 'max' ? Math.max(out[at], data[i]) : out[at] + data[i];
  }
  if (op === 'mean') {
    const r = n / (out.length || 1);
    for (let i = 0; i < out.length; i++) out[i] /= r;
  }
  return { data: out, shape: reducedShape(shape, axes, keepdim) };
}

/** float64 reference of {@link sum} over flat row-major data. */
export function sumRef(data: ArrayLike<number>, shape: Shape, axis?: number | readonly number[], keepdim = false): { data: Float64Array; shape: number[] } {
  return reduceRef('sum', data, shape, axis, keepdim);
}

/** float64 reference of {@link mean}. */
export function meanRef(data: ArrayLike<number>, shape: Shape, axis?: number | readonly number[], keepdim = false): { data: Float64Array; shape: number[] } {
  return reduceRef('mean', data, shape, axis, keepdim);
}

/** float64 reference of {@link max}. */
export function maxRef(data: ArrayLike<number>, shape: Shape, axis?: number | readonly number[], keepdim = false): { data: Float64Array; shape: number[] } {
  return reduceRef('max', data, shape, axis, keepdim);
}

/** float64 reference of {@link sumTo}. */
export function sumToRef(data: ArrayLike<number>, from: Shape, to: Shape): Float64Array {
  const lead = from.length - to.length;
  const axes = from.map((d, i) => i).filter((i) => i < lead || (to[i - lead] === 1 && from[i] !== 1));
  return reduceRef('sum', data, from, axes, false).data;
}

type Axis = number | readonly number[] | undefined;
interface ReduceArgs {
  axis: Axis;
  keepdim: boolean;
}

/** Shapes and axes: single axes, runs, gaps, all; one-pass and multi-pass rows and columns. */
const reduceCases: [number[], Axis][] = [
  [[1], undefined],
  [[7], 0],
  [[3, 5], 0],
  [[3, 5], 1],
  [[3, 5], -1],
  [[3, 5], undefined],
  [[2, 3, 37], 0],
  [[2, 3, 37], 1],
  [[2, 3, 37], -1],
  [[2, 3, 37], -2],
  [[2, 3, 37], [0, 2]],
  [[2, 3, 37], [0, 1]],
  [[2, 3, 37], [-1, 1]],
  [[4, 1, 3, 5], [1, 2]],
  [[4, 1, 3, 5], [0, 3]],
  [[2, 45, 3], 1],
  [[5, 67, 3], 1], // R > 32: the workgroup tree path with 4-wide column tiles
  [[131, 9], 0],
  [[2, 300, 70], 1], // multi-pass, column tiles of 64 with a ragged last tile
  [[3, 2000], -1], // one workgroup tree per row
  [[3, 40000], -1], // multi-pass over a row
  [[20000, 3], 0], // multi-pass down narrow columns
];
/** The cases small enough for finite differences. */
const reduceGradCases = new Set([0, 1, 2, 9, 10, 13, 15]);

function reduceInfo(name: ReduceOp, run: (t: Tensor, axis: Axis, keepdim: boolean) => Tensor, reject: DType): OpInfo<ReduceArgs> {
  return {
    name,
    samples: reduceCases.flatMap(([shape, axis], i) =>
      [false, true].map((keepdim) => ({
        shapes: [shape],
        args: { axis, keepdim },
        forwardOnly: !reduceGradCases.has(i),
        // Sums of tens of thousands of signed values cancel to O(1) with an absolute f32 error of O(1e-5)
        // that the relative tolerance cannot absorb: long multi-pass sums get positive values.
        ...(sizeOf(shape) >= 60000 ? { domain: [0, 2] as const } : {}),
      })),
    ),
    run: ([x], { axis, keepdim }) => run(x, axis, keepdim),
    ref: ([x], [shape], { axis, keepdim }) => reduceRef(name, x, shape, axis, keepdim),
    tol: { rtol: 1e-5, atol: 1e-5 },
    domain: [-2, 2],
    dtype: { reject },
    // [3, 5] over axis 0, [3, 5] over axis 1, [131, 9] over axis 0 (keepdim both ways): same kernels.
    reuse: [4, 5, 6, 7, 34, 35],
  };
}

/** Registry entries of the reductions (see `ops/info.ts`). */
export const reduceInfos: AnyOpInfo[] = [
  reduceInfo('sum', sum, 'u32'),
  reduceInfo('mean', mean, 'i32'),
  reduceInfo('max', max, 'u32'),
  {
    name: 'sumTo',
    samples: [
      [[2, 3, 7], [3, 1]],
      [[2, 3, 7], [7]],
      [[4, 1, 3, 5], [1, 5]],
      [[4, 1, 3, 5], [4, 1, 1, 5]],
      [[5, 3], []],
      [[5, 3], [5, 3]],
      [[40, 70], [70]],
    ].map(([from, to], i) => ({ shapes: [from], args: { to }, forwardOnly: i >= 5 })),
    run: ([x], { to }) => sumTo(x, to),
    ref: ([x], [from], { to }) => ({ data: sumToRef(x, from, to), shape: to }),
    tol: { rtol: 1e-5, atol: 1e-5 },
    dtype: { reject: 'u32' },
    reuse: [0, 2, 6],
  } satisfies OpInfo<{ to: number[] }>,
];
