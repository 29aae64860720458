/**
 * The brand that marks tensors, in a leaf module so that modules below `tensor.ts` (scopes) can
 * recognise a tensor without importing the class.
 */
import type { Tensor } from './tensor';

/** Set to `true` on every {@link Tensor}. */
export const tensorBrand: unique symbol = Symbol('scratchgpt.Tensor');

/** Whether `value` is a tensor of this library. */
export function isTensor(value: unknown): value is Tensor {
  return typeof value === 'object' && value !== null && (value as { [tensorBrand]?: unknown })[tensorBrand] === true;
}
