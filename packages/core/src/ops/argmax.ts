/** argmax along an axis (shaders/argmax.wgsl) → i32; first index on ties. */
import source from '../../../../shaders/argmax.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { defineKernel, launch } from '../engine/kernel';
import { dtypeCode, expectDType, fmt, normAxis, Tensor } from '../engine/tensor';
import type { OpInfo } from './info';
import { commonWgsl } from './shared';

const kernel = defineKernel('argmax', source, { with: [commonWgsl] });

/** Index of the largest value along `axis` (default last). */
export function argmax(x: Tensor, axis = -1, keepdim = false): Tensor<'i32'> {
  expectDType('argmax', x, 'f32', 'i32');
  const a = normAxis('argmax', axis, x.rank);
  const r = x.shape[a];
  if (r === 0) throw new ScratchGPTError('shape', `scratchgpt: argmax over an empty axis of ${fmt(x.shape)}`);
  const outer = x.shape.slice(0, a).reduce((p, d) => p * d, 1);
  const inner = x.shape.slice(a + 1).reduce((p, d) => p * d, 1);
  const shape = keepdim ? x.shape.map((d, i) => (i === a ? 1 : d)) : x.shape.filter((_, i) => i !== a);
  const out = Tensor.empty(shape, 'i32');
  launch(kernel, 'forward', { constants: { DTYPE: dtypeCode(x.dtype) }, params: { outer, r, inner }, bind: { x, out }, items: outer * inner });
  return out;
}

/** float64 reference over a flat array viewed as [outer, R, inner]. */
export function argmaxRef(data: ArrayLike<number>, outer: number, r: number, inner: number): Int32Array {
  const out = new Int32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      let best = 0;
      for (let j = 1; j < r; j++) {
        const v = data[(o * r + j) * inner + k];
        const b = data[(o * r + best) * inner + k];
        if (v > b || (Number.isNaN(v) && !Number.isNaN(b))) best = j;
      }
      out[o * inner + k] = best;
    }
  }
  return out;
}

/** Registry entry of argmax (see `ops/info.ts`): small integers, so rows have ties (the first index wins). */
export const argmaxInfo: OpInfo<{ axis: number; keepdim?: boolean }> = {
  name: 'argmax',
  samples: [
    { shapes: [[1]], args: { axis: 0 } },
    { shapes: [[2, 7, 3]], args: { axis: 0 } },
    { shapes: [[2, 7, 3]], args: { axis: 1 } },
    { shapes: [[2, 7, 3]], args: { axis: -1 } },
    { shapes: [[2, 7, 3]], args: { axis: 1, keepdim: true } },
    { shapes: [[3, 50257]], args: { axis: -1 } },
  ],
  run: ([x], { axis, keepdim }) => argmax(x, axis, keepdim),
  ref: ([x], [shape], { axis, keepdim }) => {
    const a = axis < 0 ? axis + shape.length : axis;
    const size = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);
    return {
      data: argmaxRef(x, size(shape.slice(0, a)), shape[a], size(shape.slice(a + 1))),
      shape: keepdim ? shape.map((d, i) => (i === a ? 1 : d)) : shape.filter((_, i) => i !== a),
    };
  },
  domain: [-3, 3],
  data: (_k, [shape], _args, random, dtype) => (dtype === 'f32' ? random(shape.reduce((p, d) => p * d, 1)).map(Math.round) : undefined),
  differentiable: [false],
  dtype: { reject: 'u32' },
};
