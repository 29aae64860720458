import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, logSoftmax, logSoftmaxBackward, softmax, softmaxBackward, sum } from '../src/node';
import { logSoftmaxRef, softmaxRef } from '../src/testing';
import { expectClose, expectError, randomData, randomTensor } from './helpers';

beforeAll(async () => {
  await init();
});

// Forward on rows of 1 to 50257, backward against finite differences, leaks, pipelines and dtypes:
// the registry (ops.test.ts). Here: stability, row sums, the exported backward entry points, errors.
const ops = { softmax: [softmax, softmaxRef], logSoftmax: [logSoftmax, logSoftmaxRef] } as const;

describe('softmax / logSoftmax forward', () => {
  for (const [name, [op, ref]] of Object.entries(ops)) {
    it(`${name} is stable for huge logits and masked (−inf) entries`, async () => {
      const data = randomData(3 * 300, 5, -1, 1).map((v, i) => (i < 300 ? v * 1e4 : i < 600 ? v + 3e4 : v));
      for (let j = 600; j < 900; j += 3) data[j] = -Infinity;
      const y = op(fromArray(data, [3, 300]));
      const got = await y.toArray();
      expect(got.every((v) => !Number.isNaN(v))).toBe(true);
      expectClose(got, ref(data, 300), { label: `${name} stability`, rtol: 2e-5, atol: 1e-6 });
      y.dispose();
    });
  }

  it('softmax rows sum to one', async () => {
    const { t } = randomTensor([4, 50257], 3, -10, 10);
    const y = softmax(t);
    const s = sum(y, -1);
    expectClose(await s.toArray(), [1, 1, 1, 1], { rtol: 1e-5, label: 'row sums' });
    for (const x of [t, y, s]) x.dispose();
  });

  it('clear errors', () => {
    expect(() => softmax(fromArray(new Int32Array([1, 2])))).toThrow(/softmax expects f32/);
    expect(() => softmaxBackward(fromArray([1, 2, 3]), fromArray([1, 2]))).toThrow(/\[3\].*\[2\]/);
    expectError(() => softmaxBackward(fromArray([1, 2, 3]), fromArray([1, 2])), 'shape', /shapes differ/);
  });
});

describe('softmax / logSoftmax backward entry points', () => {
  it('backward entry points on a long row match the float64 formulas', async () => {
    const c = 50257;
    const { t: x, data } = randomTensor([2, c], 12, -5, 5);
    const { t: dy, data: g } = randomTensor([2, c], 13);
    for (const [op, backward, ref] of [
      [softmax, softmaxBackward, softmaxRef],
      [logSoftmax, logSoftmaxBackward, logSoftmaxRef],
    ] as const) {
      const y = op(x);
      const dx = backward(y, dy);
      const yr = ref(data, c);
      const expected = new Float64Array(2 * c);
      for (let r = 0; r < 2; r++) {
        let s = 0;
        for (let j = r * c; j < (r + 1) * c; j++) s += op === softmax ? g[j] * yr[j] : g[j];
        for (let j = r * c; j < (r + 1) * c; j++) expected[j] = op === softmax ? yr[j] * (g[j] - s) : g[j] - Math.exp(yr[j]) * s;
      }
      expectClose(await dx.toArray(), expected, { label: `${op.name} backward c=${c}`, rtol: 1e-4, atol: 1e-7 });
      y.dispose();
      dx.dispose();
    }
    x.dispose();
    dy.dispose();
  });
});
