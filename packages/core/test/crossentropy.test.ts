import { beforeAll, describe, expect, it } from 'vitest';
import { argmax, crossEntropy, fromArray, init, randn, topk } from '../src/node';
import { argmaxRef, crossEntropyRef, topkRef } from '../src/testing';
import { expectError, randomData, randomTensor } from './helpers';

beforeAll(async () => {
  await init();
});

// crossEntropy forward (ignored rows, V up to 50257) and backward against finite differences, argmax
// (ties, any axis, keepdim), topk values forward and backward; leaks, pipelines, dtypes: the registry
// (ops.test.ts). Here: [B, T, V] shapes and errors, rows beyond one binding, i32 argmax, topk indices.
describe('crossEntropy', () => {
  it('accepts [B, T, V] with [B, T] targets; all ignored gives NaN; bad shapes are named', async () => {
    const logits = randomTensor([2, 3, 5], 3);
    const targets = Int32Array.from([1, 4, 0, 2, 3, 3]);
    expect(await crossEntropy(logits.t, fromArray(targets, [2, 3])).item()).toBeCloseTo(crossEntropyRef(logits.data, targets, 5), 5);
    expect(await crossEntropy(logits.t, fromArray(new Int32Array(6).fill(-100), [2, 3])).item()).toBeNaN();
    expect(() => crossEntropy(logits.t, fromArray(targets.slice(0, 5)))).toThrow(/hold 6 rows but targets \[5\] hold 5/);
    expect(() => crossEntropy(logits.t, fromArray([1, 2, 3, 4, 0, 1], [6]))).toThrow(/expects i32/);
    expectError(() => crossEntropy(logits.t, fromArray(targets.slice(0, 5))), 'shape', /hold 6 rows/);
    expectError(() => crossEntropy(logits.t, fromArray([1, 2, 3, 4, 0, 1], [6])), 'dtype', /crossEntropy targets expects i32/);
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
  it('argmax of i32 values: the first maximum', async () => {
    const ints = Int32Array.from([3, 9, 9, -1]);
    expect(await argmax(fromArray(ints)).item()).toBe(1);
    const data = Int32Array.from(randomData(2 * 7 * 3, 9, -3, 3), (x) => Math.round(x));
    expect(Array.from(await argmax(fromArray(data, [2, 7, 3]), 1).toArray())).toEqual(Array.from(argmaxRef(data, 2, 7, 3)));
  });
  it('topk values/indices sorted, ties by lower index, rows up to 50257', async () => {
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
  });
});
