/** Checks of matmul products with f16 operands against the float64 product of the stored values. */
import { expect } from 'vitest';
import { cast, matmul, type MatmulOptions, type Tensor } from '../src/node';
import { castRef, matmulRef } from '../src/testing';
import { expectClose, randomTensor } from './helpers';

export type Half = 'a' | 'b' | 'both';

/** A random operand, and its values as stored: rounded to f16 when it is an f16 tensor. */
function operand(shape: number[], seed: number, half: boolean): { t: Tensor; values: Float64Array } {
  const { t, data } = randomTensor(shape, seed);
  if (!half) return { t, values: Float64Array.from(data) };
  const h = cast(t, 'f16');
  t.dispose();
  return { t: h, values: castRef(data, 'f16') };
}

/** `a @ b` with the operands `half` names stored as f16, vs the float64 product of the stored values. */
export async function check(aShape: number[], bShape: number[], options: MatmulOptions, half: Half, seed: number): Promise<void> {
  const a = operand(aShape, seed, half !== 'b');
  const b = operand(bShape, seed + 1, half !== 'a');
  const c = matmul(a.t, b.t, options);
  const expected = matmulRef(a.values, aShape, b.values, bShape, options);
  const name = `[${aShape}]${options.transA ? 'ᵀ' : ''} @ [${bShape}]${options.transB ? 'ᵀ' : ''} f16 ${half} (${options._matmulKernel ?? 'policy'})`;
  expect(c.dtype, name).toBe('f32');
  expect(c.shape, name).toEqual(expected.shape);
  // Exact halves, f32 arithmetic: as close as the f32 product.
  expectClose(await c.toArray(), expected.data, { rtol: 1e-5, atol: 1e-5, label: name });
  for (const t of [a.t, b.t, c]) t.dispose();
}
