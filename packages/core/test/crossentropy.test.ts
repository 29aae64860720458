import { beforeAll, describe, expect, it } from 'vitest';
import { argmax, argmaxRef, crossEntropy, crossEntropyRef, fromArray, init, randn, topk, topkRef } from '../src/node';
import { checkGradients, expectClose, randomData, randomTensor } from './helpers';

beforeAll(async () => {
  await init();
});

describe('crossEntropy', () => {
  for (const [n, v] of [[1, 1], [3, 7], [17, 129], [5, 50257]]) {
    it(`matches the float64 reference: N=${n} V=${v}`, async () => {
      const logits = randomTensor([n, v], n * v, -4, 4);
      const targets = Int32Array.from({ length: n }, (_, i) => (i === 1 ? -100 : (i * 31 + 2) % v));
      const loss = await crossEntropy(logits.t, fromArray(targets)).item();
      const ref = crossEntropyRef(logits.data, targets, v);
      expect(Math.abs(loss - ref)).toBeLessThanOrEqual(2e-6 * Math.abs(ref) + 1e-7);
    });
  }
  it('accepts [B, T, V] with [B, T] targets; all ignored gives NaN; bad shapes are named', async () => {
    const logits = randomTensor([2, 3, 5], 3);
    const targets = Int32Array.from([1, 4, 0, 2, 3, 3]);
    expect(await crossEntropy(logits.t, fromArray(targets, [2, 3])).item()).toBeCloseTo(crossEntropyRef(logits.data, targets, 5), 5);
    expect(await crossEntropy(logits.t, fromArray(new Int32Array(6).fill(-100), [2, 3])).item()).toBeNaN();
    expect(() => crossEntropy(logits.t, fromArray(targets.slice(0, 5)))).toThrow(/hold 6 rows but targets \[5\] hold 5/);
    expect(() => crossEntropy(logits.t, fromArray([1, 2, 3, 4, 0, 1], [6]))).toThrow(/expects i32/);
  });
  it('backward vs finite differences (with ignored rows)', async () => {
    const targets = Int32Array.from([3, -100, 0, 6]);
    await checkGradients({
      label: 'crossEntropy',
      shapes: [[4, 7], [4]],
      data: [randomData(28, 4, -2, 2), targets],
      dtypes: ['f32', 'i32'],
      noGrad: [1],
      gpu: ([x, t]) => crossEntropy(x, t),
      ref: ([x, t]) => [crossEntropyRef(x, t, 7)],
    });
  });
  it('rows × V beyond one storage binding (1024 × 50257 logits): loss and gradient rows', async () => {
    const [n, v] = [700, 50257]; // 140.7 MB of logits > 128 MiB
    const logits = randn([n, v], { seed: 3 }).requireGrad();
    const targets = Int32Array.from({ length: n }, (_, i) => (i * 7919) % v);
    const loss = crossEntropy(logits, fromArray(targets));
    const data = await logits.toArray();
    expect(Math.abs((await loss.item()) - crossEntropyRef(data, targets, v))).toBeLessThan(1e-4);
    loss.backward();
    const grad = await logits.grad!.toArray();
    for (const row of [0, 333, 334, 699]) {
      const x = data.subarray(row * v, (row + 1) * v);
      const m = Math.max(...x);
      let s = 0;
      for (const e of x) s += Math.exp(e - m);
      const t = targets[row];
      const expected = (Math.exp(x[t] - m) / s - 1) / n;
      expect(Math.abs(grad[row * v + t] - expected)).toBeLessThan(1e-8);
    }
    logits.zeroGrad();
    logits.dispose();
  });
});

describe('argmax and topk', () => {
  it('argmax over any axis, first index on ties, f32 and i32', async () => {
    const data = Float32Array.from(randomData(2 * 7 * 3, 9, -3, 3), (x) => Math.round(x)); // many ties
    const x = fromArray(data, [2, 7, 3]);
    for (const [axis, outer, r, inner] of [[0, 1, 2, 21], [1, 2, 7, 3], [-1, 14, 3, 1]]) {
      expect(Array.from(await argmax(x, axis).toArray())).toEqual(Array.from(argmaxRef(data, outer, r, inner)));
    }
    expect(argmax(x, 1, true).shape).toEqual([2, 1, 3]);
    const ints = Int32Array.from([3, 9, 9, -1]);
    expect(await argmax(fromArray(ints)).item()).toBe(1);
    const wide = randomData(3 * 50257, 2);
    expect(Array.from(await argmax(fromArray(wide, [3, 50257])).toArray())).toEqual(Array.from(argmaxRef(wide, 3, 50257, 1)));
  });
  it('topk values/indices sorted, ties by lower index, rows up to 50257; values backward', async () => {
    for (const [rows, r, k] of [[1, 1, 1], [3, 10, 4], [2, 50257, 50], [5, 64, 64]]) {
      const data = Float32Array.from(randomData(rows * r, r + k, -2, 2), (v) => Math.round(v * 8) / 8);
      const { values, indices } = topk(fromArray(data, [rows, r]), k);
      const vi = await indices.toArray();
      const vv = await values.toArray();
      for (let row = 0; row < rows; row++) {
        const expected = topkRef(data.subarray(row * r, (row + 1) * r), k);
        expect(Array.from(vi.subarray(row * k, (row + 1) * k))).toEqual(expected);
        expect(Array.from(vv.subarray(row * k, (row + 1) * k))).toEqual(expected.map((i) => data[row * r + i]));
      }
    }
    expect(() => topk(fromArray([1, 2, 3]), 4)).toThrow(/k must be an integer in \[1, 3\]/);
    await checkGradients({
      label: 'topk values',
      shapes: [[3, 9]],
      gpu: ([x]) => topk(x, 4).values,
      ref: ([x]) => {
        const out: number[] = [];
        for (let row = 0; row < 3; row++) for (const i of topkRef(x.subarray(row * 9, row * 9 + 9), 4)) out.push(x[row * 9 + i]);
        return out;
      },
    });
  });
});
