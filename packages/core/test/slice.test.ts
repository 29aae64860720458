import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, narrow, slice } from '../src/node';
import { sliceRef } from '../src/testing';
import { expectError, randomData } from './helpers';

beforeAll(async () => {
  await init();
});

// slice and narrow with negative, clamped and empty ranges on ranks 1 to 5 (f32 against the
// reference, i32 and u32 words exactly), backward against finite differences, leaks and pipelines:
// the registry (ops.test.ts).
describe('slice / narrow', () => {
  it('the reference follows Python slicing', () => {
    const data = Array.from({ length: 7 }, (_, i) => i);
    expect(Array.from(sliceRef(data, [7], [-3], [Infinity]).data)).toEqual([4, 5, 6]);
    expect(Array.from(sliceRef(data, [7], [1], [-1]).data)).toEqual([1, 2, 3, 4, 5]);
    expect(Array.from(sliceRef(data, [7], [-100], [2]).data)).toEqual([0, 1]);
    expect(sliceRef(data, [7], [5], [2]).shape).toEqual([0]);
  });

  it('clear errors', () => {
    const x = fromArray(randomData(15, 1), [3, 5]);
    expect(() => slice(x, [0, 0], [1])).toThrow(/same length/);
    expect(() => slice(x, [0, 0, 0], [1, 1, 1])).toThrow(/\[3, 5\]/);
    expect(() => slice(x, [0.5], [2])).toThrow(/not an integer/);
    expect(() => narrow(x, 1, 3, 3)).toThrow(/start 3 and length 3.*size 5.*\[3, 5\]/);
    expect(() => narrow(x, 2, 0, 1)).toThrow(/out of range/);
    expectError(() => narrow(x, 1, 3, 3), 'range', /do not fit dimension 1/);
    expectError(() => slice(x, [0.5], [2]), 'value', /not an integer/);
    x.dispose();
  });
});
