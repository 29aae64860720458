import { beforeAll, describe, expect, it } from 'vitest';
import { checkTokenIds, embedding, embeddingRef, fromArray, init, randn } from '../src/node';
import { checkGradients, expectClose, randomTensor } from './helpers';

beforeAll(async () => {
  await init();
});

describe('embedding', () => {
  for (const [v, c, idShape] of [[1, 1, [1]], [7, 5, [3]], [13, 31, [2, 9]], [50, 64, [4, 17]]] as [number, number, number[]][]) {
    it(`gathers rows: V=${v} C=${c} ids ${idShape}`, async () => {
      const table = randomTensor([v, c], v + c);
      const n = idShape.reduce((a, b) => a * b, 1);
      const ids = Int32Array.from({ length: n }, (_, i) => (i * 7 + 3) % v);
      const out = embedding(fromArray(ids, idShape), table.t);
      expect(out.shape).toEqual([...idShape, c]);
      expectClose(await out.toArray(), embeddingRef(ids, table.data, v, c), { rtol: 0, atol: 0 });
    });
  }
  it('out-of-range ids gather zeros; checkTokenIds names the bad id', async () => {
    const table = randomTensor([4, 3], 1);
    const ids = Int32Array.from([0, -1, 4, 3]);
    expectClose(await embedding(fromArray(ids), table.t).toArray(), embeddingRef(ids, table.data, 4, 3), { rtol: 0, atol: 0 });
    expect(() => checkTokenIds([1, 2, 50257], 50257)).toThrow(/token id 50257 at position 2 is out of range for vocabulary size 50257/);
  });
  it('backward scatter-adds repeated ids (finite differences)', async () => {
    const ids = Int32Array.from([2, 0, 2, 5, 2, 1]);
    await checkGradients({
      label: 'embedding',
      shapes: [[6], [7, 3]],
      data: [ids, undefined],
      dtypes: ['i32', 'f32'],
      noGrad: [0],
      gpu: ([i, w]) => embedding(i, w),
      ref: ([i, w]) => embeddingRef(i, w, 7, 3),
    });
  });
  it("GPT-2's 50257×768 table (larger than one binding) gathers and back-propagates", async () => {
    const [v, c] = [50257, 768];
    const table = randn([v, c], { seed: 5 }).requireGrad();
    const ids = Int32Array.from([0, 50256, 25000, 43690, 43691, 1, 50256, 43690]);
    const out = embedding(fromArray(ids), table);
    const all = await table.toArray();
    const got = await out.toArray();
    for (let i = 0; i < ids.length; i++) {
      expect(Array.from(got.subarray(i * c, (i + 1) * c))).toEqual(Array.from(all.subarray(ids[i] * c, (ids[i] + 1) * c)));
    }
    out.backward(fromArray(new Float32Array(ids.length * c).fill(1), [ids.length, c]));
    const grad = await table.grad!.toArray();
    for (const [id, count] of [[50256, 2], [43690, 2], [43691, 1], [0, 1], [2, 0]]) {
      expect(grad[id * c + 5]).toBe(count);
      expect(grad[id * c + c - 1]).toBe(count);
    }
    table.zeroGrad();
    table.dispose();
  });
});
