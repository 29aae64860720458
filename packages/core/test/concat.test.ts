import { beforeAll, describe, expect, it } from 'vitest';
import { concat, fromArray, init, split, sum } from '../src/node';
import { concatRef } from '../src/testing';
import { expectClose, expectError, randomData } from './helpers';

beforeAll(async () => {
  await init();
});

// concat and split on ranks 1 to 5 with negative dims and empty pieces (f32 against the reference,
// i32 and u32 words exactly), backward against finite differences, leaks and pipelines: the
// registry (ops.test.ts).
describe('concat / split', () => {
  it('the reference agrees with a hand-built example', () => {
    const ref = concatRef([[1, 2, 3, 4], [5, 6]], [[2, 2], [2, 1]], 1);
    expect(ref.shape).toEqual([2, 3]);
    expect(Array.from(ref.data)).toEqual([1, 2, 5, 3, 4, 6]);
  });

  it('clear errors naming the tensor and shapes', () => {
    const a = fromArray(randomData(15, 1), [3, 5]);
    const b = fromArray(randomData(8, 2), [2, 4]);
    const c = fromArray(new Int32Array(10), [2, 5]);
    const d = fromArray(randomData(5, 3), [5]);
    expect(() => concat([a, a, b], 0)).toThrow(/tensor 2 has shape \[2, 4\] but tensor 0 has shape \[3, 5\]/);
    expect(() => concat([a, d], 0)).toThrow(/tensor 1 has shape \[5\]/);
    expect(() => concat([a, c], 0)).toThrow(/tensor 1 is i32 \[2, 5\] but tensor 0 is f32 \[3, 5\]/);
    expect(() => concat([], 0)).toThrow(/at least one tensor/);
    expect(() => concat([a], 2)).toThrow(/out of range/);
    expect(() => split(a, [2, 2], 1)).toThrow(/sizes \[2, 2\] do not add up.*size 5.*\[3, 5\]/);
    expect(() => split(a, 0, 1)).toThrow(/positive integer/);
    expectError(() => concat([a, c], 0), 'dtype', /tensor 1 is i32/);
    expectError(() => concat([a, a, b], 0), 'shape', /tensor 2 has shape \[2, 4\]/);
    for (const t of [a, b, c, d]) t.dispose();
  });

  it('concat sends no gradient to inputs that do not need one', async () => {
    const a = fromArray(randomData(6, 1), [2, 3]).requireGrad();
    const b = fromArray(randomData(4, 2), [2, 2]);
    const y = concat([a, b], 1);
    const s = sum(y);
    s.backward();
    expectClose(await a.grad!.toArray(), new Float64Array(6).fill(1), { label: 'd/da' });
    expect(b.grad).toBeNull();
    a.zeroGrad();
    for (const t of [a, b, y, s]) t.dispose();
  });
});
