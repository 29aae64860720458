/**
 * Elementwise f32 functions (shaders/unary.wgsl): forward, backward, and float64 references.
 * Tensors larger than one storage binding are processed in chunks.
 */
import source from '../../../../shaders/unary.wgsl';
import { record } from '../engine/graph';
import { chunks, defineKernel, launch, range } from '../engine/kernel';
import { expectDType, sizeOf, Tensor } from '../engine/tensor';
import type { OpInfo } from './info';
import { commonWgsl } from './shared';

const kernel = defineKernel('unary', source, { with: [commonWgsl] });

interface UnarySpec {
  /** Name of the op-code `const` in shaders/unary.wgsl (its value is read from the shader). */
  op: string;
  /** float64 reference f(x; a, b). */
  ref: (x: number, a?: number, b?: number) => number;
  /** float64 reference derivative f'(x; a, b). */
  dref: (x: number, a?: number, b?: number) => number;
}

const defs = {
  neg: { op: 'NEG', ref: (x: number) => -x, dref: () => -1 },
  exp: { op: 'EXP', ref: Math.exp, dref: Math.exp },
  log: { op: 'LOG', ref: Math.log, dref: (x: number) => 1 / x },
  sqrt: { op: 'SQRT', ref: Math.sqrt, dref: (x: number) => 0.5 / Math.sqrt(x) },
  tanh: { op: 'TANH', ref: Math.tanh, dref: (x: number) => 1 - Math.tanh(x) ** 2 },
  relu: { op: 'RELU', ref: (x: number) => Math.max(x, 0), dref: (x: number) => (x > 0 ? 1 : 0) },
  gelu: { op: 'GELU', ref: geluRef, dref: geluGradRef },
  pow: { op: 'POW', ref: (x: number, a = 1) => x ** a, dref: (x: number, a = 1) => a * x ** (a - 1) },
  affine: { op: 'AFFINE', ref: (x: number, a = 1, b = 0) => a * x + b, dref: (_x: number, a = 1) => a },
  sigmoid: { op: 'SIGMOID', ref: (x: number) => 1 / (1 + Math.exp(-x)), dref: (x: number) => Math.exp(-x) / (1 + Math.exp(-x)) ** 2 },
  abs: { op: 'ABS', ref: Math.abs, dref: (x: number) => Math.sign(x) },
  rsqrt: { op: 'RSQRT', ref: (x: number) => 1 / Math.sqrt(x), dref: (x: number) => -0.5 * x ** -1.5 },
} satisfies Record<string, UnarySpec>;

export type UnaryOpName = keyof typeof defs;

/** The unary ops: each one's op-code `const` in shaders/unary.wgsl, float64 reference value and derivative. */
export const unaryOps: Record<UnaryOpName, UnarySpec> = defs;

const GELU_C = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation (GPT-2's): 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))). */
export function geluRef(x: number): number {
  return 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x ** 3)));
}

export function geluGradRef(x: number): number {
  const t = Math.tanh(GELU_C * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x);
}

function run(entry: 'forward' | 'backward', op: UnaryOpName, x: Tensor, dy: Tensor | null, a: number, b: number): Tensor<'f32'> {
  const out = Tensor.empty(x.shape, 'f32');
  for (const { start, count } of chunks(x.size)) {
    if (count === 0) continue;
    launch(kernel, entry, {
      constants: { OP: kernel.consts[unaryOps[op].op] },
      params: { n: count, a, b },
      bind: { x: range(x, start, count), y: range(out, start, count), dy: dy ? range(dy, start, count) : null },
      items: count,
    });
  }
  return out;
}

/** Applies a unary op by name (`a`, `b` are its scalar parameters: pow's exponent, affine's scale/shift). */
export function unary(op: UnaryOpName, x: Tensor, a = 0, b = 0): Tensor<'f32'> {
  expectDType(op, x, 'f32');
  const out = run('forward', op, x, null, a, b);
  return record(out, op, [x], [x], (g, [xs]) => [() => run('backward', op, xs, g, a, b)]);
}

/** −x */
export const neg = (x: Tensor) => unary('neg', x);
/** eˣ */
export const exp = (x: Tensor) => unary('exp', x);
/** Natural logarithm. */
export const log = (x: Tensor) => unary('log', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
/** 1/√x */
export const rsqrt = (x: Tensor) => unary('rsqrt', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const relu = (x: Tensor) => unary('relu', x);
/** GELU with the tanh approximation, as in GPT-2. */
export const gelu = (x: Tensor) => unary('gelu', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const abs = (x: Tensor) => unary('abs', x);
/** xᵉ for a scalar exponent. */
export const pow = (x: Tensor, exponent: number) => unary('pow', x, exponent);
/** x·scale (no broadcast tensor needed). */
export function mulScalar(x: Tensor, scale: number): Tensor<'f32'> {
  expectDType('mulScalar', x, 'f32');
  return unary('affine', x, scale, 0);
}
/** x + shift. */
export function addScalar(x: Tensor, shift: number): Tensor<'f32'> {
  expectDType('addScalar', x, 'f32');
  return unary('affine', x, 1, shift);
}
/** x·scale + shift in one kernel. */
export const affine = (x: Tensor, scale: number, shift: number) => unary('affine', x, scale, shift);

/** Input ranges where each op is defined and smooth (default [-3, 3]). */
const domains: Partial<Record<UnaryOpName, readonly [number, number]>> = {
  log: [0.1, 3],
  sqrt: [0.1, 3],
  rsqrt: [0.1, 3],
  pow: [0.1, 2],
  exp: [-4, 4],
  tanh: [-4, 4],
  gelu: [-5, 5],
};

/** Registry entry of the exported function `name`, which computes unary op `op` with scalars `a`, `b`. */
function unaryInfo(name: string, op: UnaryOpName, run: (x: Tensor) => Tensor, a = 0, b = 0): OpInfo {
  const { ref } = unaryOps[op];
  return {
    name,
    samples: [[1], [7], [3, 5], [23], [2, 3, 37], [1031]].map((shape) => ({ shapes: [shape] })),
    run: ([x]) => run(x),
    ref: ([x]) => x.map((v) => ref(v, a, b)),
    tol: { rtol: 2e-6, atol: 1e-6 },
    domain: domains[op] ?? [-3, 3],
    // relu and abs have a kink at 0: keep inputs away from it.
    data: (_k, [shape], _args, random, dtype) => (dtype === 'f32' && (op === 'relu' || op === 'abs') ? random(sizeOf(shape)).map((x) => (Math.abs(x) < 0.05 ? x + 0.1 : x)) : undefined),
    dtype: { reject: 'i32' },
  };
}

/** Registry entries of the unary ops (see `ops/info.ts`). */
export const unaryInfos: OpInfo[] = [
  unaryInfo('neg', 'neg', neg),
  unaryInfo('exp', 'exp', exp),
  unaryInfo('log', 'log', log),
  unaryInfo('sqrt', 'sqrt', sqrt),
  unaryInfo('rsqrt', 'rsqrt', rsqrt),
  unaryInfo('tanh', 'tanh', tanh),
  unaryInfo('relu', 'relu', relu),
  unaryInfo('gelu', 'gelu', gelu),
  unaryInfo('sigmoid', 'sigmoid', sigmoid),
  unaryInfo('abs', 'abs', abs),
  unaryInfo('pow', 'pow', (x) => pow(x, 2.5), 2.5),
  unaryInfo('mulScalar', 'affine', (x) => mulScalar(x, -1.5), -1.5, 0),
  unaryInfo('addScalar', 'affine', (x) => addScalar(x, 0.25), 1, 0.25),
  unaryInfo('affine', 'affine', (x) => affine(x, -1.5, 0.25), -1.5, 0.25),
];
