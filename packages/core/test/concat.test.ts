import { beforeAll, describe, expect, it } from 'vitest';
import { concat, concatRef, fromArray, init, memory, split, splitRef, sum } from '../src/node';
import { checkGradients, expectClose, randomData, rng, size } from './helpers';

beforeAll(async () => {
  await init();
});

function randomInts(n: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor((r() - 0.5) * 2 ** 32));
}

// [shapes, dim]
const cases: [number[][], number][] = [
  [[[7]], 0],
  [[[1], [7], [3]], 0],
  [[[3, 5], [2, 5]], 0],
  [[[3, 5], [3, 1], [3, 2]], -1],
  [[[2, 3, 37], [2, 1, 37], [2, 0, 37], [2, 5, 37]], 1],
  [[[2, 3, 5, 7], [2, 3, 5, 1]], 3],
  [[[2, 1, 3, 5, 2], [2, 4, 3, 5, 2]], -4],
  [[[1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1]], 2],
];

describe('concat / split forward', () => {
  it('concat f32 matches the reference (ranks 1..5, negative dims, empty pieces)', async () => {
    for (const [shapes, dim] of cases) {
      const datas = shapes.map((s, k) => randomData(size(s), 10 + k));
      const xs = shapes.map((s, k) => fromArray(datas[k], s));
      const y = concat(xs, dim);
      const ref = concatRef(datas, shapes, dim);
      expect(y.shape).toEqual(ref.shape);
      expectClose(await y.toArray(), ref.data, { rtol: 0, atol: 0, label: `concat ${JSON.stringify(shapes)} ${dim}` });
      for (const t of [...xs, y]) t.dispose();
    }
  });

  it('concat moves i32 words exactly', async () => {
    for (const [shapes, dim] of cases) {
      const datas = shapes.map((s, k) => randomInts(size(s), 20 + k));
      const xs = shapes.map((s, k) => fromArray(datas[k], s));
      const y = concat(xs, dim);
      expect(y.dtype).toBe('i32');
      expect(Array.from(await y.toArray())).toEqual(Array.from(concatRef(datas, shapes, dim).data));
      for (const t of [...xs, y]) t.dispose();
    }
  });

  it('the reference agrees with a hand-built example', () => {
    const ref = concatRef([[1, 2, 3, 4], [5, 6]], [[2, 2], [2, 1]], 1);
    expect(ref.shape).toEqual([2, 3]);
    expect(Array.from(ref.data)).toEqual([1, 2, 5, 3, 4, 6]);
  });

  it('split by one size and by a list, f32 and i32', async () => {
    const sCases: [number[], number | number[], number][] = [
      [[7], 3, 0],
      [[3, 10], [2, 5, 3], -1],
      [[2, 13, 5], 13, 1],
      [[2, 3, 5, 7], [0, 3, 4], 3],
      [[4, 3, 1, 5, 2], 1, -5],
    ];
    for (const [shape, sizes, dim] of sCases) {
      for (const data of [randomData(size(shape), 5), randomInts(size(shape), 6)]) {
        const x = fromArray(data, shape);
        const pieces = split(x, sizes, dim);
        const ref = splitRef(data, shape, sizes, dim);
        expect(pieces.length).toBe(ref.length);
        for (let k = 0; k < ref.length; k++) {
          expect(pieces[k].shape).toEqual(ref[k].shape);
          expect(pieces[k].dtype).toBe(x.dtype);
          expectClose(await pieces[k].toArray(), ref[k].data, { rtol: 0, atol: 0, label: `split ${shape} ${sizes} ${dim} piece ${k}` });
        }
        // split then concat is the identity
        const back = concat(pieces, dim);
        expect(Array.from(await back.toArray())).toEqual(Array.from(data));
        for (const t of [x, back, ...pieces]) t.dispose();
      }
    }
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
    for (const t of [a, b, c, d]) t.dispose();
  });
});

describe('concat / split backward', () => {
  it('concat vs finite differences', async () => {
    for (const [shapes, dim] of cases.filter(([s]) => s.every((x) => size(x) < 300))) {
      await checkGradients({
        label: `concat ${JSON.stringify(shapes)} ${dim}`,
        shapes,
        gpu: (xs) => concat(xs, dim),
        ref: (xs) => concatRef(xs, shapes, dim).data,
      });
    }
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

  it('split vs finite differences (pieces recombined)', async () => {
    const shape = [3, 11];
    await checkGradients({
      label: 'split',
      shapes: [shape],
      // Reordering the pieces checks that each piece's gradient goes back to its own region.
      gpu: ([x]) => {
        const pieces = split(x, [4, 0, 7], -1);
        const out = concat([pieces[2], pieces[0], pieces[1]], 1);
        for (const p of pieces) p.dispose();
        return out;
      },
      ref: ([x]) => {
        const [p0, p1, p2] = splitRef(x, shape, [4, 0, 7], -1);
        return concatRef([p2.data, p0.data, p1.data], [p2.shape, p0.shape, p1.shape], 1).data;
      },
    });
  });

  it('forward and backward do not leak', () => {
    const before = memory();
    const a = fromArray(randomData(6, 1), [2, 3]).requireGrad();
    const b = fromArray(randomData(4, 2), [2, 2]).requireGrad();
    const y = concat([a, b], -1);
    const g = fromArray(randomData(10, 3), [2, 5]);
    y.backward(g);
    for (const t of [a, b]) t.zeroGrad();
    for (const t of [a, b, y, g]) t.dispose();
    expect(memory().liveTensors).toBe(before.liveTensors);
    expect(memory().liveBuffers).toBe(before.liveBuffers);
  });
});
