import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, memory, permute, permuteRef, transpose, transposeRef, type Tensor } from '../src/node';
import { checkGradients, expectClose, randomData, rng, size } from './helpers';

beforeAll(async () => {
  await init();
});

/** Random i32 data spanning the whole range (raw words must survive the copy). */
function randomInts(n: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor((r() - 0.5) * 2 ** 32));
}

const cases: [number[], number[]][] = [
  [[7], [0]],
  [[1], [-1]],
  [[3, 5], [1, 0]],
  [[1, 13], [-1, -2]],
  [[2, 3, 5], [2, 0, 1]],
  [[4, 1, 7], [1, 2, 0]],
  [[2, 3, 5, 7], [0, 2, 1, 3]],
  [[3, 2, 1, 5], [3, -2, 0, 1]],
  [[2, 3, 1, 5, 3], [4, 2, 0, 3, 1]],
  [[1, 1, 1, 1, 1], [4, 3, 2, 1, 0]],
  [[67, 131], [1, 0]],
];

describe('permute / transpose forward', () => {
  it('permute f32 matches the reference for ranks 1..5', async () => {
    for (const [shape, dims] of cases) {
      const data = randomData(size(shape), 3);
      const x = fromArray(data, shape);
      const y = permute(x, dims);
      const ref = permuteRef(data, shape, dims);
      expect(y.shape, `${shape} ${dims}`).toEqual(ref.shape);
      expectClose(await y.toArray(), ref.data, { rtol: 0, atol: 0, label: `permute ${shape} by ${dims}` });
      x.dispose();
      y.dispose();
    }
  });

  it('permute moves i32 and u32 words exactly', async () => {
    for (const [shape, dims] of cases) {
      const data = randomInts(size(shape), 5);
      const x = fromArray(data, shape);
      const y = permute(x, dims);
      expect(y.dtype).toBe('i32');
      expect(Array.from(await y.toArray()), `${shape}`).toEqual(Array.from(permuteRef(data, shape, dims).data));
      const u = fromArray(new Uint32Array(data.buffer), shape);
      const v = permute(u, dims);
      expect(Array.from(await v.toArray())).toEqual(Array.from(permuteRef(new Uint32Array(data.buffer), shape, dims).data));
      for (const t of [x, y, u, v]) t.dispose();
    }
  });

  it('transpose with negative dims', async () => {
    const pairs: [number[], number, number][] = [
      [[3, 5], 0, 1],
      [[2, 3, 5], -1, -2],
      [[2, 7, 3, 5], 1, -1],
      [[2, 7, 3, 5], 2, 2],
      [[1, 3, 1, 5, 2], 0, -2],
    ];
    for (const [shape, a, b] of pairs) {
      const data = randomData(size(shape), 9);
      const x = fromArray(data, shape);
      const y = transpose(x, a, b);
      const ref = transposeRef(data, shape, a, b);
      expect(y.shape).toEqual(ref.shape);
      expectClose(await y.toArray(), ref.data, { rtol: 0, atol: 0, label: `transpose ${shape} ${a} ${b}` });
      x.dispose();
      y.dispose();
    }
  });

  it('empty tensors and clear errors', async () => {
    const x = fromArray([], [0, 3]);
    const y = permute(x, [1, 0]);
    expect(y.shape).toEqual([3, 0]);
    const z = fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(() => permute(z, [0, 0])).toThrow(/\[0, 0\].*permutation.*\[2, 3\]/);
    expect(() => permute(z, [0])).toThrow(/permutation/);
    expect(() => permute(z, [0, 2])).toThrow(/permutation/);
    expect(() => transpose(z, 0, 2)).toThrow(/dim 2 is out of range.*\[2, 3\]/);
    for (const t of [x, y, z]) t.dispose();
  });

  it('forward and backward do not leak', () => {
    const before = memory();
    const x = fromArray(randomData(30, 1), [2, 3, 5]).requireGrad();
    const y = permute(x, [2, 1, 0]);
    const g = fromArray(randomData(30, 2), [5, 3, 2]);
    y.backward(g);
    expect(x.grad!.shape).toEqual([2, 3, 5]);
    x.zeroGrad();
    for (const t of [x, y, g]) t.dispose();
    expect(memory().liveTensors).toBe(before.liveTensors);
    expect(memory().liveBuffers).toBe(before.liveBuffers);
  });
});

describe('permute / transpose backward', () => {
  it('permute vs finite differences', async () => {
    for (const [shape, dims] of cases.slice(0, 10)) {
      await checkGradients({
        label: `permute ${shape} ${dims}`,
        shapes: [shape],
        gpu: ([x]) => permute(x, dims),
        ref: ([x]) => permuteRef(x, shape, dims).data,
      });
    }
  });

  it('transpose vs finite differences', async () => {
    await checkGradients({
      label: 'transpose',
      shapes: [[2, 3, 5, 7]],
      gpu: ([x]: Tensor[]) => transpose(x, 1, -1),
      ref: ([x]) => transposeRef(x, [2, 3, 5, 7], 1, -1).data,
    });
  });
});
