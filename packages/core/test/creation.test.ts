import { beforeAll, describe, expect, it } from 'vitest';
import { arange, fromArray, full, init, memory, rand, randn, tensor, zeros } from '../src/node';

beforeAll(async () => {
  await init();
});

describe('creation', () => {
  it('full/zeros/arange/fromArray', async () => {
    expect(Array.from(await full([2, 3], 2.5).toArray())).toEqual([2.5, 2.5, 2.5, 2.5, 2.5, 2.5]);
    expect(Array.from(await zeros([5], { dtype: 'i32' }).toArray())).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(await arange(2, 11, 3).toArray())).toEqual([2, 5, 8]);
    expect(Array.from(await arange(0, 1, 0.25).toArray())).toEqual([0, 0.25, 0.5, 0.75]);
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(await t.reshape(3, -1).toArray())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => fromArray([1, 2, 3], [2, 2])).toThrow(/do not fill shape \[2, 2\]/);
  });
  it('randn statistics and seeding', async () => {
    const a = await randn([100003], { seed: 7 }).toArray();
    const b = await randn([100003], { seed: 7 }).toArray();
    expect(a).toEqual(b);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.02);
    const u = await rand([10007], { seed: 1, low: -2, high: 3 }).toArray();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...u)).toBeLessThan(3);
    console.log(memory());
  });
});
