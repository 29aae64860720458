/**
 * Test helpers: seeded random data and tensors, plus the checks of `@scratchgpt/core/testing`
 * (float comparisons, gradient checks against finite differences of the float64 references), which
 * throw on failure and so work as vitest assertions.
 */
import { expect } from 'vitest';
import { seededRandom } from '../src/ops/creation';
import { commandCounts, flush, fromArray, ScratchGPTError, sizeOf, type ErrorCode, type Tensor } from '../src/node';
import { assertClose, randomData, type CloseOptions } from '../src/testing';

export { checkGradients, numericGrads, randomData } from '../src/testing';

/** Deterministic PRNG (mulberry32, shared with the library). */
export const rng = seededRandom;

export const size = sizeOf;

/** Random f32 tensor plus its data (for the reference). */
export function randomTensor(shape: readonly number[], seed: number, low = -1, high = 1): { t: Tensor<'f32'>; data: Float32Array } {
  const data = randomData(size(shape), seed, low, high);
  return { t: fromArray(data, shape), data };
}

/** Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise (default rtol 1e-5, atol 1e-6), naming the worst element. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, options: CloseOptions = {}): void {
  assertClose(actual, expected, options);
}

/** Asserts that `fn` throws a ScratchGPTError with `code` whose message matches `fragment`. */
export function expectError(fn: () => unknown, code: ErrorCode, fragment: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  expect(error, 'expected a ScratchGPTError').toBeInstanceOf(ScratchGPTError);
  expect((error as ScratchGPTError).code, (error as Error).message).toBe(code);
  expect((error as Error).message).toMatch(fragment);
}

/** Dispatches and copies recorded by `fn` (pending commands are flushed first). */
export function commandsOf(fn: () => void): number {
  flush();
  const before = commandCounts();
  fn();
  const after = commandCounts();
  return after.dispatches - before.dispatches + after.copies - before.copies;
}
