import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, memory, narrow, narrowRef, slice, sliceRef } from '../src/node';
import { checkGradients, expectClose, randomData, rng, size } from './helpers';

beforeAll(async () => {
  await init();
});

function randomInts(n: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor((r() - 0.5) * 2 ** 32));
}

// [shape, starts, ends]: negative indices, clamping, whole trailing dims, empty ranges.
const cases: [number[], number[], number[]][] = [
  [[7], [2], [5]],
  [[7], [-3], [Infinity]],
  [[1], [0], [1]],
  [[7], [-100], [100]],
  [[7], [5], [2]],
  [[3, 5], [1, 1], [3, -1]],
  [[3, 5], [-2], [-1]],
  [[1, 13], [0, 3], [1, 11]],
  [[2, 3, 37], [1, 0, 5], [2, 3, 36]],
  [[4, 3, 5, 7], [1, -2, 0, 2], [-1, 3, 5, 3]],
  [[2, 3, 1, 5, 3], [0, 1, 0, 1, -2], [2, 2, 1, -1, 3]],
  [[5, 11, 13], [0, 0, 1], [5, 11, 12]],
];

describe('slice / narrow forward', () => {
  it('slice f32 matches the reference (ranks 1..5, negative and clamped indices)', async () => {
    for (const [shape, starts, ends] of cases) {
      const data = randomData(size(shape), 3);
      const x = fromArray(data, shape);
      const y = slice(x, starts, ends);
      const ref = sliceRef(data, shape, starts, ends);
      expect(y.shape, `${shape} ${starts}:${ends}`).toEqual(ref.shape);
      expectClose(await y.toArray(), ref.data, { rtol: 0, atol: 0, label: `slice ${shape} ${starts}:${ends}` });
      x.dispose();
      y.dispose();
    }
  });

  it('the reference follows Python slicing', () => {
    const data = Array.from({ length: 7 }, (_, i) => i);
    expect(Array.from(sliceRef(data, [7], [-3], [Infinity]).data)).toEqual([4, 5, 6]);
    expect(Array.from(sliceRef(data, [7], [1], [-1]).data)).toEqual([1, 2, 3, 4, 5]);
    expect(Array.from(sliceRef(data, [7], [-100], [2]).data)).toEqual([0, 1]);
    expect(sliceRef(data, [7], [5], [2]).shape).toEqual([0]);
  });

  it('slice moves i32 words exactly', async () => {
    for (const [shape, starts, ends] of cases) {
      const data = randomInts(size(shape), 4);
      const x = fromArray(data, shape);
      const y = slice(x, starts, ends);
      expect(y.dtype).toBe('i32');
      expect(Array.from(await y.toArray())).toEqual(Array.from(sliceRef(data, shape, starts, ends).data));
      x.dispose();
      y.dispose();
    }
  });

  it('narrow like torch.narrow, negative dim and start', async () => {
    const nCases: [number[], number, number, number][] = [
      [[7], 0, 2, 3],
      [[3, 5], -1, -3, 2],
      [[2, 3, 37], 2, 5, 31],
      [[2, 3, 37], -2, 1, 0],
      [[4, 3, 5, 7], 0, 3, 1],
      [[2, 3, 1, 5, 3], 3, 1, 4],
    ];
    for (const [shape, dim, start, length] of nCases) {
      const data = randomData(size(shape), 7);
      const x = fromArray(data, shape);
      const y = narrow(x, dim, start, length);
      const ref = narrowRef(data, shape, dim, start, length);
      expect(y.shape).toEqual(ref.shape);
      expectClose(await y.toArray(), ref.data, { rtol: 0, atol: 0, label: `narrow ${shape} ${dim} ${start} ${length}` });
      const xi = fromArray(randomInts(size(shape), 8), shape);
      const yi = narrow(xi, dim, start, length);
      expect(Array.from(await yi.toArray())).toEqual(Array.from(narrowRef(await xi.toArray(), shape, dim, start, length).data));
      for (const t of [x, y, xi, yi]) t.dispose();
    }
  });

  it('clear errors', () => {
    const x = fromArray(randomData(15, 1), [3, 5]);
    expect(() => slice(x, [0, 0], [1])).toThrow(/same length/);
    expect(() => slice(x, [0, 0, 0], [1, 1, 1])).toThrow(/\[3, 5\]/);
    expect(() => slice(x, [0.5], [2])).toThrow(/not an integer/);
    expect(() => narrow(x, 1, 3, 3)).toThrow(/start 3 and length 3.*size 5.*\[3, 5\]/);
    expect(() => narrow(x, 2, 0, 1)).toThrow(/out of range/);
    x.dispose();
  });
});

describe('slice / narrow backward', () => {
  it('slice vs finite differences (gradient lands in the sliced region, zeros elsewhere)', async () => {
    for (const [shape, starts, ends] of cases.filter(([s]) => size(s) < 600)) {
      await checkGradients({
        label: `slice ${shape} ${starts}:${ends}`,
        shapes: [shape],
        gpu: ([x]) => slice(x, starts, ends),
        ref: ([x]) => sliceRef(x, shape, starts, ends).data,
      });
    }
  });

  it('narrow vs finite differences', async () => {
    await checkGradients({
      label: 'narrow',
      shapes: [[2, 7, 5]],
      gpu: ([x]) => narrow(x, -2, -4, 3),
      ref: ([x]) => narrowRef(x, [2, 7, 5], -2, -4, 3).data,
    });
  });

  it('forward and backward do not leak', () => {
    const before = memory();
    const x = fromArray(randomData(30, 1), [2, 3, 5]).requireGrad();
    const y = slice(x, [0, 1], [2, 3]);
    const g = fromArray(randomData(20, 2), [2, 2, 5]);
    y.backward(g);
    expect(x.grad!.shape).toEqual([2, 3, 5]);
    x.zeroGrad();
    for (const t of [x, y, g]) t.dispose();
    expect(memory().liveTensors).toBe(before.liveTensors);
    expect(memory().liveBuffers).toBe(before.liveBuffers);
  });
});
