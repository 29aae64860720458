/**
 * Elementwise binary ops with NumPy broadcasting (shaders/binary.wgsl), for f32 and i32.
 * Same-shape operands larger than one storage binding are processed in chunks.
 */
import source from '../../../../shaders/binary.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { record, shared, type GradThunk } from '../engine/graph';
import { chunks, defineKernel, launch, range } from '../engine/kernel';
import { dtypeCode, fmt, sizeOf, Tensor, type DType } from '../engine/tensor';
import { broadcastRef, broadcastShapes, broadcastStrides, collapseDims } from './broadcast';
import type { OpInfo } from './info';
import { commonWgsl } from './shared';
import { affine, neg } from './unary';

const kernel = defineKernel('binary', source, { with: [commonWgsl] });

/** The binary ops: each one's op-code `const` in shaders/binary.wgsl (its value is read from the shader) and float64 reference. */
export const binaryOps = {
  add: { op: 'ADD', ref: (x: number, y: number) => x + y },
  sub: { op: 'SUB', ref: (x: number, y: number) => x - y },
  mul: { op: 'MUL', ref: (x: number, y: number) => x * y },
  div: { op: 'DIV', ref: (x: number, y: number) => x / y },
  maximum: { op: 'MAXIMUM', ref: Math.max },
  minimum: { op: 'MINIMUM', ref: Math.min },
  equal: { op: 'EQ', ref: (x: number, y: number) => Number(x === y) },
  less: { op: 'LT', ref: (x: number, y: number) => Number(x < y) },
  lessEqual: { op: 'LE', ref: (x: number, y: number) => Number(x <= y) },
  greater: { op: 'GT', ref: (x: number, y: number) => Number(x > y) },
  greaterEqual: { op: 'GE', ref: (x: number, y: number) => Number(x >= y) },
} as const;

export type BinaryOpName = keyof typeof binaryOps;

function forward(op: BinaryOpName, a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== b.dtype) {
    throw new ScratchGPTError('dtype', `scratchgpt: ${op}: dtype mismatch, ${a.dtype} ${fmt(a.shape)} vs ${b.dtype} ${fmt(b.shape)}`);
  }
  if (a.dtype === 'u32') throw new ScratchGPTError('dtype', `scratchgpt: ${op} does not support u32 tensors (use i32 or f32)`);
  const shape = broadcastShapes(op, a.shape, b.shape);
  const out = Tensor.empty(shape, a.dtype as DType);
  const collapsed = collapseDims(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)]);
  const constants = { OP: kernel.consts[binaryOps[op].op], DTYPE: dtypeCode(a.dtype), RANK: collapsed.shape.length };
  const sameShape = collapsed.shape.length === 1 && collapsed.strides[0][0] === 1 && collapsed.strides[1][0] === 1;
  // Same-shape operands can be split into binding-sized chunks; broadcast ones are bound whole.
  const parts = sameShape ? chunks(out.size) : [{ start: 0, count: out.size }];
  for (const { start, count } of parts) {
    if (count === 0) continue;
    const dims = sameShape ? [count] : collapsed.shape;
    launch(kernel, 'forward', {
      constants,
      params: { n: count, shape: dims, a_strides: collapsed.strides[0], b_strides: collapsed.strides[1] },
      bind: sameShape ? { a: range(a, start, count), b: range(b, start, count), out: range(out, start, count) } : { a, b, out },
      items: count,
    });
  }
  return out;
}

/** The comparisons output 0/1 masks and have no gradient. */
type DifferentiableOp = Exclude<BinaryOpName, 'equal' | 'less' | 'lessEqual' | 'greater' | 'greaterEqual'>;

type BinaryGrad = (g: Tensor, a: Tensor, b: Tensor) => [GradThunk, GradThunk];

/**
 * d(out)/d(a) and d(out)/d(b) times the output gradient `g`, in the broadcast shape (the engine sums
 * them down to each operand's shape). The max/min gradient goes to the selected operand: to `a` on
 * ties, to `b` where either operand is NaN (the comparison is false there).
 */
const gradients: Record<DifferentiableOp, BinaryGrad> = {
  add: (g) => [() => g, () => g],
  sub: (g) => [() => g, () => neg(g)],
  mul: (g, a, b) => [() => mul(g, b), () => mul(g, a)],
  div: (g, a, b) => [() => div(g, b), () => neg(mul(g, div(div(a, b), b)))], // d(a/b)/db = −(a/b)/b
  maximum: (g, a, b) => {
    const toA = shared(() => greaterEqual(a, b));
    return [() => mul(g, toA()), () => mul(g, affine(toA(), -1, 1))];
  },
  minimum: (g, a, b) => {
    const toA = shared(() => lessEqual(a, b));
    return [() => mul(g, toA()), () => mul(g, affine(toA(), -1, 1))];
  },
};

/** Applies a binary op by name with broadcasting. */
export function binary(op: BinaryOpName, a: Tensor, b: Tensor): Tensor {
  const out = forward(op, a, b);
  const rule = (gradients as Partial<Record<BinaryOpName, BinaryGrad>>)[op];
  if (!rule) return out;
  return record(out, op, [a, b], [a, b], (g, [as, bs]) => rule(g, as, bs));
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

/** Operand shapes: equal, broadcast either way, rank 0, size-1 dims in between. */
const pairs = [
  [[1], [1]],
  [[7], [7]],
  [[3, 5], [5]],
  [[3, 1], [1, 5]],
  [[2, 3, 37], [3, 1]],
  [[1, 13], [11, 1]],
  [[4, 1, 3, 1], [2, 1, 5]],
  [[], [3]],
];

/** Registry entry of binary op `op` (through its exported function `run`). */
function binaryInfo(op: BinaryOpName, run: (a: Tensor, b: Tensor) => Tensor): OpInfo {
  const differentiable = op in gradients;
  return {
    name: op,
    samples: pairs.map((shapes) => ({ shapes })),
    run: ([a, b]) => run(a, b),
    ref: ([a, b], [sa, sb]) => broadcastRef(a, sa, b, sb, binaryOps[op].ref),
    tol: { rtol: 1e-6 },
    domain: [-2, 2],
    // Comparisons get small integers (many ties); the others divisors away from 0, of both signs.
    data: (k, shapes, _args, random) => {
      const n = sizeOf(shapes[k]);
      if (!differentiable) return random(n, -3, 3).map(Math.round);
      return k === 1 ? random(n, 0.5, 2).map((v, i) => (i % 3 === 0 ? v : -v)) : undefined;
    },
    differentiable: [differentiable, differentiable],
    dtype: { reject: 'u32' },
    // The samples whose broadcast collapses to rank 2 (the rank is a pipeline constant).
    reuse: [2, 3, 5],
  };
}

/** Registry entries of the binary ops (see `ops/info.ts`). */
export const binaryInfos: OpInfo[] = [
  binaryInfo('add', add),
  binaryInfo('sub', sub),
  binaryInfo('mul', mul),
  binaryInfo('div', div),
  binaryInfo('maximum', maximum),
  binaryInfo('minimum', minimum),
  binaryInfo('equal', equal),
  binaryInfo('less', less),
  binaryInfo('lessEqual', lessEqual),
  binaryInfo('greater', greater),
  binaryInfo('greaterEqual', greaterEqual),
];
