import { beforeAll, describe, expect, it } from 'vitest';
import { checkTokenIds, embedding, fromArray, init, randn } from '../src/node';
import { embeddingRef } from '../src/testing';
import { expectClose, expectError, randomTensor } from './helpers';

beforeAll(async () => {
  await init();
});

// Gathering rows of odd tables by repeated ids and the scatter-add backward against finite
// differences, leaks, pipelines and dtypes: the registry (ops.test.ts). Here: bad ids, GPT-2's table.
describe('embedding', () => {
  it('out-of-range ids gather zeros and the next readback throws naming them; checkTokenIds names the bad id', async () => {
    const table = randomTensor([4, 3], 1);
    const ids = Int32Array.from([0, -1, 4, 3]);
    const out = embedding(fromArray(ids), table.t);
    await expect(out.toArray()).rejects.toThrow(/embedding: token id -1 at position 1 of the ids is out of range for vocabulary size 4 \(2 out-of-range ids in all\)/);
    // The report is consumed: reading again gives the data (zero rows for the bad ids).
    expectClose(await out.toArray(), embeddingRef(ids, table.data, 4, 3), { rtol: 0, atol: 0 });
    expect(() => checkTokenIds([1, 2, 50257], 50257)).toThrow(/token id 50257 at position 2 is out of range for vocabulary size 50257/);
    expectError(() => checkTokenIds([1, 2, 50257], 50257), 'range', /token id 50257/);
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
