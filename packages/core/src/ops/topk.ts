/** The k largest values along the last axis, sorted descending, with their indices (shaders/topk.wgsl). */
import source from '../../../../shaders/topk.wgsl';
import { record } from '../engine/graph';
import { zeros } from './creation';
import { defineKernel, launch } from '../engine/kernel';
import { expectDType, fmt, Tensor } from '../engine/tensor';
import { commonWgsl } from './shared';

const kernel = defineKernel('topk', source, { with: [commonWgsl] });
/** Largest k the kernel accepts (k passes over each row). */
export const MAX_TOPK = 64;

/** `{ values, indices }` of shape `[..., k]`; ties keep the lower index. Values are differentiable. */
export function topk(x: Tensor, k: number): { values: Tensor; indices: Tensor<'i32'> } {
  expectDType('topk', x, 'f32');
  if (x.rank < 1) throw new Error('scratchgpt: topk needs a tensor of rank ≥ 1');
  const r = x.shape[x.rank - 1];
  if (!Number.isInteger(k) || k < 1 || k > Math.min(r, MAX_TOPK)) {
    throw new Error(`scratchgpt: topk: k must be an integer in [1, ${Math.min(r, MAX_TOPK)}] for ${fmt(x.shape)} (the kernel supports k ≤ ${MAX_TOPK}), got ${k}`);
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
