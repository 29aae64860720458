import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, full, init, max, mean, sum, sumTo } from '../src/node';
import { maxRef, sumRef } from '../src/testing';
import { expectClose, expectError, randomData, randomTensor, size } from './helpers';

beforeAll(async () => {
  await init();
});

type Axis = number | number[] | undefined;

// Forward on odd shapes and axes (keepdim both ways), backward against finite differences, leaks,
// pipelines and dtypes: the registry (ops.test.ts). Here: accuracy, i32, empty and NaN cases, errors.
describe('sum / mean / max', () => {
  it('sums a million elements quickly and accurately (tree, not a serial f32 loop)', async () => {
    const n = 1_000_003;
    const { t, data } = randomTensor([n], 5, 0, 1);
    const expected = sumRef(data, [n]).data[0];
    const start = performance.now();
    const s = sum(t);
    const got = await s.item();
    const ms = performance.now() - start;
    // A serial f32 loop is off by ~1.4e-5 relative here; the pairwise passes stay near f32 rounding.
    expect(Math.abs(got - expected) / expected, `sum ${got} vs ${expected}`).toBeLessThan(2e-6);
    expect(ms, 'sum of 1e6 elements took too long').toBeLessThan(5000);
    const m = mean(t);
    expect(Math.abs((await m.item()) - expected / n) / (expected / n)).toBeLessThan(2e-6);
    const mx = max(t);
    expect(await mx.item()).toBe(maxRef(data, [n]).data[0]);
    for (const x of [t, s, m, mx]) x.dispose();
  });

  it('sums a million equal values with no drift (serial runs are short)', async () => {
    // Long serial f32 runs drift systematically here (~4e-5 relative with 4000-element lanes).
    const n = 1_000_003;
    for (const v of [0.1, 1 / 3, 0.7]) {
      const t = full([n], v);
      const s = sum(t);
      const expected = Math.fround(v) * n;
      expect(Math.abs((await s.item()) - expected) / expected, `sum of ${n} × ${v}`).toBeLessThan(1e-6);
      t.dispose();
      s.dispose();
    }
  });

  it('i32 sum and max', async () => {
    const shape = [3, 41, 5];
    const data = Int32Array.from(randomData(size(shape), 9, -1000, 1000), Math.round);
    const t = fromArray(data, shape);
    for (const axis of [undefined, 0, 1, -1, [0, 2]] as Axis[]) {
      const s = sum(t, axis);
      expect(s.dtype).toBe('i32');
      expectClose(await s.toArray(), sumRef(data, shape, axis).data, { label: `i32 sum ${axis}`, rtol: 0, atol: 0 });
      const m = max(t, axis);
      expectClose(await m.toArray(), maxRef(data, shape, axis).data, { label: `i32 max ${axis}`, rtol: 0, atol: 0 });
      s.dispose();
      m.dispose();
    }
    t.dispose();
  });

  it('empty reductions: sum is 0, mean is NaN; max of nothing is an error', async () => {
    const t = fromArray(new Float32Array(0), [3, 0]);
    expectClose(await sum(t, 1).toArray(), [0, 0, 0]);
    const m = await mean(t, 1).toArray();
    expect(Array.from(m).every(Number.isNaN)).toBe(true);
    expect(() => max(t, -1)).toThrow(/size 0/);
    expect(sum(t, 0).shape).toEqual([0]);
  });

  it('max propagates NaN', async () => {
    const row = randomData(100, 4);
    row[57] = NaN;
    const t = fromArray(row, [2, 50]);
    const m = await max(t, 1).toArray();
    expect(Number.isNaN(m[1])).toBe(true);
    expect(m[0]).toBe(Math.max(...row.slice(0, 50)));
  });

  it('clear errors for bad axes and dtypes', () => {
    const t = fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(() => sum(t, 2)).toThrow(/axis 2 is out of range for rank 2/);
    expect(() => sum(t, [1, -1])).toThrow(/repeated axis/);
    expect(() => mean(fromArray(new Int32Array([1, 2])), 0)).toThrow(/mean expects f32/);
    expect(() => sum(fromArray(new Uint32Array([1, 2])))).toThrow(/sum expects f32 or i32/);
    expect(() => sumTo(t, [3, 3])).toThrow(/cannot sum shape \[2, 3\] down to \[3, 3\]/);
    expect(() => sumTo(t, [1, 2, 3])).toThrow(/sumTo/);
    expectError(() => sum(t, 2), 'range', /axis 2/);
    expectError(() => sumTo(t, [3, 3]), 'shape', /cannot sum/);
  });
});

describe('sum / mean / max backward', () => {
  it('max sends the gradient to the first maximum, within and across passes', async () => {
    const check = async (data: Float32Array, shape: number[], axis: number, firsts: number[]) => {
      const x = fromArray(data, shape).requireGrad();
      const y = max(x, axis);
      const g = randomData(y.size, 3);
      y.backward(fromArray(g, y.shape));
      const expected = new Float64Array(data.length);
      firsts.forEach((at, k) => (expected[at] = g[k]));
      expectClose(await x.grad!.toArray(), expected, { label: `max ties ${shape}`, rtol: 0, atol: 0 });
    };
    await check(Float32Array.from([1, 3, 3, 2]), [4], 0, [1]);
    // rows of 5000 (one tree per row; the ties sit in different lanes) and of 40000 (three passes;
    // the ties sit in different workgroups of the first pass)
    for (const n of [5000, 40000]) {
      const long = randomData(2 * n, 8, -1, 1);
      long[700] = long[n - 1000] = 5;
      long[n + n - 1] = long[n + 3] = 7;
      await check(long, [2, n], 1, [700, n + 3]);
    }
    // down columns (axis 0) with ties, in one pass and in several
    for (const rows of [300, 20000]) {
      const col = randomData(rows * 3, 9, -1, 1);
      col[(rows - 1) * 3 + 1] = col[5 * 3 + 1] = 2;
      const firsts = [0, 2].map((c) => {
        let best = 0;
        for (let r = 1; r < rows; r++) if (col[r * 3 + c] > col[best * 3 + c]) best = r;
        return best * 3 + c;
      });
      await check(col, [rows, 3], 0, [firsts[0], 5 * 3 + 1, firsts[1]]);
    }
  });
});
