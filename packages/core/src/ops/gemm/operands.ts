/**
 * How the matmul kernels (shaders/matmul*.wgsl) read their operands A and B: f32 as vec4s, or f16 as
 * four halves packed in a vec2u (core WGSL's `unpack2x16float`: every adapter, no shader-f16), widened
 * exactly to f32. Accumulation and C are f32 either way. Each kernel module has a twin per operand
 * dtype pair (mixed precision: `matmul(a, b, { precision: 'f16' })` and `autocast`).
 * @internal
 */
import { ScratchGPTError } from '../../engine/errors';
import { defineKernel, type Kernel } from '../../engine/kernel';
import type { DType } from '../../engine/tensor';

/** Storage of a matmul operand. @internal */
export type OperandDType = 'f32' | 'f16';

/**
 * The accessors of operand `name` (`a` or `b`), appended to a matmul kernel's source: `<name>_quad(q)`
 * is elements 4q..4q+3, `<name>_at(e)` element e.
 * @internal
 */
export function operandWgsl(name: 'a' | 'b', dtype: OperandDType): string {
  if (dtype === 'f32') {
    return `alias ${name}_word = vec4f;
fn ${name}_quad(q: u32) -> vec4f { return ${name}[q]; }
fn ${name}_at(e: u32) -> f32 { return ${name}[e >> 2u][e & 3u]; }
`;
  }
  return `alias ${name}_word = vec2u;
fn ${name}_quad(q: u32) -> vec4f { let w = ${name}[q]; return vec4f(unpack2x16float(w.x), unpack2x16float(w.y)); }
fn ${name}_at(e: u32) -> f32 {
  let w = ${name}[e >> 2u];
  let halves = unpack2x16float(select(w.x, w.y, (e & 2u) != 0u));
  return select(halves.x, halves.y, (e & 1u) != 0u);
}
`;
}

/** Marks a twin's source on its first line (compile errors keep the file's line numbers; only the f32 kernel starts with the file's text). */
function tag(a: OperandDType, b: OperandDType): string {
  return `/* matmul operands: a ${a}, b ${b} */ `;
}

/** Accessors of f32 operands A and B: the base kernels' snippet. @internal */
export const F32_OPERANDS = operandWgsl('a', 'f32') + operandWgsl('b', 'f32');

const twins = new WeakMap<Kernel, Map<string, Kernel>>();

/**
 * Defines the twins of `base` (defined from `source` with `snippets` and {@link F32_OPERANDS}) that
 * read f16 A, f16 B or both.
 * @internal
 */
export function defineOperandTwins(base: Kernel, source: string, snippets: readonly string[]): void {
  const byPair = new Map<string, Kernel>([['f32,f32', base]]);
  for (const [a, b] of [['f16', 'f32'], ['f32', 'f16'], ['f16', 'f16']] as const) {
    byPair.set(`${a},${b}`, defineKernel(`${base.name}_${a}_${b}`, `${tag(a, b)}${source}`, { with: [...snippets, operandWgsl('a', a), operandWgsl('b', b)] }));
  }
  twins.set(base, byPair);
}

/** `base`, or its twin that reads A and B in these dtypes. @internal */
export function operandVariant(base: Kernel, a: DType, b: DType): Kernel {
  const twin = twins.get(base)?.get(`${a},${b}`);
  if (!twin) throw new ScratchGPTError('dtype', `scratchgpt: matmul kernel '${base.name}' cannot read operands of dtypes ${a} and ${b} (f32 or f16)`);
  return twin;
}

/** Bytes of one element of an operand or of C. @internal */
export function elementBytes(dtype: DType): number {
  return dtype === 'f16' ? 2 : 4;
}
