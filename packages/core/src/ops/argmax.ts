/** argmax along an axis (shaders/argmax.wgsl) → i32; first index on ties. */
import source from '../../../../shaders/argmax.wgsl';
import { defineKernel, launch } from '../engine/kernel';
import { dtypeCode, expectDType, fmt, normAxis, Tensor } from '../engine/tensor';
import { commonWgsl } from './shared';

const kernel = defineKernel('argmax', source, { with: [commonWgsl] });

/** Index of the largest value along `axis` (default last). */
export function argmax(x: Tensor, axis = -1, keepdim = false): Tensor<'i32'> {
  expectDType('argmax', x, 'f32', 'i32');
  const a = normAxis('argmax', axis, x.rank);
  const r = x.shape[a];
  if (r === 0) throw new Error(`scratchgpt: argmax over an empty axis of ${fmt(x.shape)}`);
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
