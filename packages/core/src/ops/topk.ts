/** The k largest values along the last axis, sorted descending, with their indices (shaders/topk.wgsl). */
import source from '../../../../shaders/topk.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { record } from '../engine/graph';
import { zeros } from './creation';
import { defineKernel, launch } from '../engine/kernel';
import { expectDType, fmt, Tensor } from '../engine/tensor';
import type { OpInfo } from './info';
import { commonWgsl } from './shared';

const kernel = defineKernel('topk', source, { with: [commonWgsl] });
/** Largest k the kernel accepts (k passes over each row). */
export const MAX_TOPK = 64;

/** `{ values, indices }` of shape `[..., k]`; ties keep the lower index. Values are differentiable. */
export function topk(x: Tensor, k: number): { values: Tensor; indices: Tensor<'i32'> } {
  expectDType('topk', x, 'f32');
  if (x.rank < 1) throw new ScratchGPTError('shape', 'scratchgpt: topk needs a tensor of rank ≥ 1');
  const r = x.shape[x.rank - 1];
  if (!Number.isInteger(k) || k < 1 || k > Math.min(r, MAX_TOPK)) {
    throw new ScratchGPTError('range', `scratchgpt: topk: k must be an integer in [1, ${Math.min(r, MAX_TOPK)}] for ${fmt(x.shape)} (the kernel supports k ≤ ${MAX_TOPK}), got ${k}`);
  }
  const rows = x.size / r;
  const shape = [...x.shape.slice(0, -1), k];
  const values = Tensor.empty(shape, 'f32');
  const indices = Tensor.empty(shape, 'i32');
  const uniforms = { rows, r, k };
  launch(kernel, 'forward', { params: uniforms, bind: { x, values, indices }, groups: rows }); // a workgroup per row
  const recorded = record(values, 'topk', [x], [indices], (g, [idx]) => [() => {
    const dx = zeros(x.shape);
    launch(kernel, 'backward', { params: uniforms, bind: { values: g, indices: idx, dx }, items: rows });
    return dx;
  }]);
  return { values: recorded, indices };
}

/** float64 reference for one row: indices of the k largest (ties → lower index first). */
export function topkRef(row: ArrayLike<number>, k: number): number[] {
  return Array.from(row, (v, i) => [v, i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, k)
    .map(([, i]) => i);
}

/** Registry entry of topk's values (see `ops/info.ts`; indices and 50257-wide rows: test/crossentropy.test.ts). */
export const topkInfo: OpInfo<{ k: number; ties?: boolean }> = {
  name: 'topk',
  samples: [
    { shapes: [[1, 1]], args: { k: 1 } },
    { shapes: [[3, 9]], args: { k: 4 } },
    { shapes: [[3, 10]], args: { k: 4, ties: true }, forwardOnly: true },
    { shapes: [[5, 64]], args: { k: 64 } },
    { shapes: [[2, 1031]], args: { k: 50, ties: true }, forwardOnly: true },
  ],
  run: ([x], { k }) => {
    const { values, indices } = topk(x, k);
    indices.dispose();
    return values;
  },
  ref: ([x], [shape], { k }) => {
    const r = shape[shape.length - 1];
    const out: number[] = [];
    for (let row = 0; row < x.length / r; row++) for (const i of topkRef(x.subarray(row * r, (row + 1) * r), k)) out.push(x[row * r + i]);
    return { data: out, shape: [...shape.slice(0, -1), k] };
  },
  domain: [-2, 2],
  // Values on a grid of 1/8 give ties (forward only: finite differences need distinct values).
  data: (_k, [shape], { ties }, random) => (ties ? random(shape[0] * shape[1]).map((v) => Math.round(v * 8) / 8) : undefined),
  dtype: { reject: 'i32' },
};
