/**
 * Elementwise binary ops with NumPy broadcasting (shaders/binary.wgsl), for f32 and i32.
 * Same-shape operands larger than one storage binding are processed in chunks.
 */
import source from '../../../../shaders/binary.wgsl';
import { record } from '../autograd';
import { chunks, defineKernel, dispatch, grid, range, Uniforms } from '../engine/kernel';
import { dtypeCode, fmt, Tensor, type DType } from '../engine/tensor';
import { broadcastShapes, broadcastStrides, collapseDims } from './broadcast';
import { sumTo } from './reduce';
import { affine, neg } from './unary';

const kernel = defineKernel('binary', source);

/** Op codes of shaders/binary.wgsl with float64 references. */
export const binaryOps = {
  add: { code: 0, ref: (x: number, y: number) => x + y },
  sub: { code: 1, ref: (x: number, y: number) => x - y },
  mul: { code: 2, ref: (x: number, y: number) => x * y },
  div: { code: 3, ref: (x: number, y: number) => x / y },
  maximum: { code: 4, ref: Math.max },
  minimum: { code: 5, ref: Math.min },
  equal: { code: 6, ref: (x: number, y: number) => Number(x === y) },
  less: { code: 7, ref: (x: number, y: number) => Number(x < y) },
  lessEqual: { code: 8, ref: (x: number, y: number) => Number(x <= y) },
  greater: { code: 9, ref: (x: number, y: number) => Number(x > y) },
  greaterEqual: { code: 10, ref: (x: number, y: number) => Number(x >= y) },
} as const;

/** Ops whose output is a 0/1 mask (no gradient). */
const comparisons = new Set<BinaryOpName>(['equal', 'less', 'lessEqual', 'greater', 'greaterEqual']);

export type BinaryOpName = keyof typeof binaryOps;

function forward(op: BinaryOpName, a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== b.dtype) {
    throw new Error(`scratchgpt: ${op}: dtype mismatch, ${a.dtype} ${fmt(a.shape)} vs ${b.dtype} ${fmt(b.shape)}`);
  }
  if (a.dtype === 'u32') throw new Error(`scratchgpt: ${op} does not support u32 tensors (use i32 or f32)`);
  const shape = broadcastShapes(op, a.shape, b.shape);
  const out = Tensor.empty(shape, a.dtype as DType);
  const collapsed = collapseDims(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)]);
  const constants = { OP: binaryOps[op].code, DTYPE: dtypeCode(a.dtype), RANK: collapsed.shape.length };
  const sameShape = collapsed.shape.length === 1 && collapsed.strides[0][0] === 1 && collapsed.strides[1][0] === 1;
  // Same-shape operands can be split into binding-sized chunks; broadcast ones are bound whole.
  const parts = sameShape ? chunks(out.size) : [{ start: 0, count: out.size }];
  for (const { start, count } of parts) {
    if (count === 0) continue;
    const dims = sameShape ? [count] : collapsed.shape;
    dispatch(kernel, {
      constants,
      uniforms: new Uniforms().u32(count).dims(dims).dims(collapsed.strides[0]).dims(collapsed.strides[1]),
      storage: sameShape ? [range(a, start, count), range(b, start, count), range(out, start, count)] : [a, b, out],
      workgroups: grid(count, 256),
    });
  }
  return out;
}

/** Gradient rules: d(out)/d(a), d(out)/d(b) given the output gradient `g`, reduced to each input's shape. */
function gradients(op: BinaryOpName, g: Tensor, a: Tensor, b: Tensor, [needA, needB]: readonly boolean[]): [Tensor | null, Tensor | null] {
  const toA = (t: Tensor) => reduceTo(t, a);
  const toB = (t: Tensor) => reduceTo(t, b);
  switch (op) {
    case 'add':
      return [needA ? toA(g.retainView()) : null, needB ? toB(g.retainView()) : null];
    case 'sub':
      return [needA ? toA(g.retainView()) : null, needB ? toB(neg(g)) : null];
    case 'mul':
      return [needA ? toA(forward('mul', g, b)) : null, needB ? toB(forward('mul', g, a)) : null];
    case 'div': {
      const ga = needA ? toA(forward('div', g, b)) : null;
      let gb: Tensor | null = null;
      if (needB) {
        // d(a/b)/db = −a/b² = −(a/b)/b
        const q = forward('div', a, b);
        const qb = forward('div', q, b);
        q.dispose();
        const t = forward('mul', g, qb);
        qb.dispose();
        gb = toB(neg(t));
        t.dispose();
      }
      return [ga, gb];
    }
    case 'maximum':
    case 'minimum': {
      // The gradient goes to the selected operand (to `a` on ties).
      const maskA = forward(op === 'maximum' ? 'greaterEqual' : 'lessEqual', a, b);
      const ga = needA ? toA(forward('mul', g, maskA)) : null;
      let gb: Tensor | null = null;
      if (needB) {
        const maskB = affine(maskA, -1, 1);
        gb = toB(forward('mul', g, maskB));
        maskB.dispose();
      }
      maskA.dispose();
      return [ga, gb];
    }
    default:
      return [null, null];
  }
}

function reduceTo(grad: Tensor, input: Tensor): Tensor {
  if (grad.shape.join() === input.shape.join()) return grad;
  const reduced = sumTo(grad, input.shape);
  grad.dispose();
  return reduced;
}

/** Applies a binary op by name with broadcasting. */
export function binary(op: BinaryOpName, a: Tensor, b: Tensor): Tensor {
  const out = forward(op, a, b);
  if (comparisons.has(op)) return out;
  return record(out, op, [a, b], [a, b], (g, [as, bs], needs) => gradients(op, g, as, bs, needs));
}

/** a + b (broadcasting). */
export const add = (a: Tensor, b: Tensor) => binary('add', a, b);
/** a − b (broadcasting). */
export const sub = (a: Tensor, b: Tensor) => binary('sub', a, b);
/** a · b elementwise (broadcasting). */
export const mul = (a: Tensor, b: Tensor) => binary('mul', a, b);
/** a / b (broadcasting; floor division for i32). */
export const div = (a: Tensor, b: Tensor) => binary('div', a, b);
/** Elementwise maximum (broadcasting). */
export const maximum = (a: Tensor, b: Tensor) => binary('maximum', a, b);
/** Elementwise minimum (broadcasting). */
export const minimum = (a: Tensor, b: Tensor) => binary('minimum', a, b);
/** 1 where a == b else 0, in the operands' dtype (broadcasting). */
export const equal = (a: Tensor, b: Tensor) => binary('equal', a, b);
/** 1 where a < b else 0. */
export const less = (a: Tensor, b: Tensor) => binary('less', a, b);
/** 1 where a <= b else 0. */
export const lessEqual = (a: Tensor, b: Tensor) => binary('lessEqual', a, b);
/** 1 where a > b else 0. */
export const greater = (a: Tensor, b: Tensor) => binary('greater', a, b);
/** 1 where a >= b else 0. */
export const greaterEqual = (a: Tensor, b: Tensor) => binary('greaterEqual', a, b);
