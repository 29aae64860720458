import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, logSoftmax, logSoftmaxBackward, logSoftmaxRef, memory, softmax, softmaxBackward, softmaxRef, sum } from '../src/node';
import { checkGradients, expectClose, randomData, randomTensor } from './helpers';

beforeAll(async () => {
  await init();
});

// Rows of 1 to 50257: from 256 rows per workgroup (several workgroups, the last one partly idle) to a
// workgroup per row.
const shapes = [[1], [1, 1], [7], [3, 5], [2, 3, 37], [300, 40], [5, 257], [1, 1000], [2, 50257]];
const ops = { softmax: [softmax, softmaxRef], logSoftmax: [logSoftmax, logSoftmaxRef] } as const;

describe('softmax / logSoftmax forward vs float64 reference', () => {
  for (const [name, [op, ref]] of Object.entries(ops)) {
    it(`${name} over the last axis, rows of any length`, async () => {
      for (const shape of shapes) {
        const { t, data } = randomTensor(shape, 41, -4, 4);
        const y = op(t);
        expect(y.shape).toEqual(shape);
        expectClose(await y.toArray(), ref(data, shape[shape.length - 1]), { label: `${name} ${shape}`, rtol: 1e-5, atol: 1e-6 });
        t.dispose();
        y.dispose();
      }
    });

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
  });
});

describe('softmax / logSoftmax backward', () => {
  for (const [name, [op, ref]] of Object.entries(ops)) {
    it(`${name} vs finite differences`, async () => {
      for (const shape of [[1], [7], [3, 5], [2, 3, 37], [2, 300]]) {
        const c = shape[shape.length - 1];
        await checkGradients({ label: `${name} ${shape}`, shapes: [shape], low: -3, high: 3, gpu: ([x]) => op(x), ref: ([x]) => ref(x, c) });
      }
    });
  }

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

  it('frees saved tensors after backward', async () => {
    const before = memory().liveTensors;
    const { t } = randomTensor([3, 11], 2);
    t.requireGrad();
    const y = logSoftmax(t);
    const z = softmax(y);
    const s = sum(z);
    s.backward();
    await t.grad!.toArray();
    for (const x of [t, y, z, s]) {
      x.zeroGrad();
      x.dispose();
    }
    expect(memory().liveTensors).toBe(before);
  });
});
