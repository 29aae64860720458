import { beforeAll, describe, expect, it } from 'vitest';
import { causalMask, fromArray, init, maskedFill, softmax, tril, triu, where } from '../src/node';
import { causalMaskRef, maskedFillRef, softmaxRef, trilRef, triuRef } from '../src/testing';
import { expectClose, expectError, randomData, rng, size } from './helpers';

beforeAll(async () => {
  await init();
});

function randomInts(n: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor((r() - 0.5) * 2 ** 32));
}

/** A 0/1-ish condition: about half the entries zero, the rest assorted nonzero values. */
function randomCond(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() < 0.5 ? 0 : r() < 0.5 ? 1 : -3.5));
}

// where (f32, i32 and u32 conditions, broadcasting among all three), maskedFill (masks of each dtype,
// ±Infinity and finite values), triu and tril (every diagonal): f32 against the references, i32 and
// u32 words exactly, backward against finite differences, leaks and pipelines are in the registry
// (ops.test.ts). Here: special values, the references themselves, causalMask, errors.
describe('where', () => {
  it('f32 conditions: -0 is false, NaN is true', async () => {
    const cond = fromArray([0, -0, NaN, 1e-30, -1]);
    const a = fromArray([1, 1, 1, 1, 1]);
    const b = fromArray([2, 2, 2, 2, 2]);
    const y = where(cond, a, b);
    expect(Array.from(await y.toArray())).toEqual([2, 2, 1, 1, 1]);
    for (const t of [cond, a, b, y]) t.dispose();
  });

  it('clear errors', () => {
    const c = fromArray([1, 0, 1]);
    const a = fromArray([1, 2, 3]);
    const i = fromArray(new Int32Array([1, 2, 3]));
    const b = fromArray([1, 2, 3, 4], [4]);
    expect(() => where(c, a, i)).toThrow(/dtype.*f32 \[3\] vs i32 \[3\]/);
    expect(() => where(c, a, b)).toThrow(/\[3\] and \[4\] cannot be broadcast/);
    expectError(() => where(c, a, i), 'dtype', /branches differ in dtype/);
    expectError(() => where(c, a, b), 'shape', /cannot be broadcast/);
    for (const t of [c, a, i, b]) t.dispose();
  });
});

describe('maskedFill', () => {
  it('-Infinity survives the upload exactly', async () => {
    const x = fromArray([1, 2, 3, 4]);
    const mask = fromArray(new Int32Array([0, 1, 1, 0]));
    const got = await maskedFill(x, mask, -Infinity).toArray();
    expect(got[1]).toBe(-Infinity);
    expect(got[2]).toBe(-Infinity);
    expect([got[0], got[3]]).toEqual([1, 4]);
    x.dispose();
    mask.dispose();
  });

  it('i32 data with an integer value', async () => {
    const [sx, sm] = [[4, 3, 5], [3, 1]];
    const xData = randomInts(size(sx), 10);
    const maskData = Int32Array.from(randomCond(size(sm), 11));
    const x = fromArray(xData, sx);
    const mask = fromArray(maskData, sm);
    const y = maskedFill(x, mask, -2147483648);
    expect(Array.from(await y.toArray())).toEqual(Array.from(maskedFillRef(xData, sx, maskData, sm, -2147483648)));
    expect(() => maskedFill(x, mask, 0.5)).toThrow(/0.5 is not representable as i32/);
    expectError(() => maskedFill(x, mask, 0.5), 'value', /not representable/);
    for (const t of [x, mask, y]) t.dispose();
  });

  it('the mask must broadcast to x itself', () => {
    const x = fromArray(randomData(5, 1), [5]);
    const m = fromArray(new Int32Array(15), [3, 5]);
    expect(() => maskedFill(x, m, 0)).toThrow(/mask of shape \[3, 5\] does not broadcast to the input shape \[5\]/);
    x.dispose();
    m.dispose();
  });
});

describe('triu / tril / causalMask', () => {
  it('the reference matches torch.triu on a small example', () => {
    const data = [1, 2, 3, 4, 5, 6];
    expect(Array.from(triuRef(data, [2, 3]))).toEqual([1, 2, 3, 0, 5, 6]);
    expect(Array.from(triuRef(data, [2, 3], 1))).toEqual([0, 2, 3, 0, 0, 6]);
    expect(Array.from(trilRef(data, [2, 3], -1))).toEqual([0, 0, 0, 4, 0, 0]);
    expect(Array.from(causalMaskRef(3))).toEqual([0, 1, 1, 0, 0, 1, 0, 0, 0]);
  });

  it('causalMask in f32, i32 and u32', async () => {
    for (const T of [1, 2, 5, 37]) {
      for (const dtype of ['f32', 'i32', 'u32'] as const) {
        const m = causalMask(T, { dtype });
        expect(m.shape).toEqual([T, T]);
        expect(m.dtype).toBe(dtype);
        expect(Array.from(await m.toArray())).toEqual(Array.from(causalMaskRef(T)));
        m.dispose();
      }
    }
    expect(causalMask(3).dtype).toBe('f32');
    expect(() => causalMask(-1)).toThrow(/non-negative integer/);
  });

  it('maskedFill(scores, causalMask(T), -Infinity) then softmax, as in the book', async () => {
    const [B, H, T] = [2, 3, 7];
    const shape = [B, H, T, T];
    const scoresData = randomData(size(shape), 15, -3, 3);
    const scores = fromArray(scoresData, shape);
    const mask = causalMask(T);
    const masked = maskedFill(scores, mask, -Infinity);
    const expected = maskedFillRef(scoresData, shape, causalMaskRef(T), [T, T], -Infinity);
    const got = await masked.toArray();
    expectClose(got, expected, { rtol: 0, atol: 0, label: 'masked scores' });
    expect(got.filter((v) => v === -Infinity).length).toBe((B * H * T * (T - 1)) / 2);
    const weights = softmax(masked);
    const w = await weights.toArray();
    expectClose(w, softmaxRef(expected, T), { rtol: 1e-5, atol: 1e-7, label: 'causal softmax' });
    expect(w.every((v, i) => (i % T > Math.floor(i / T) % T ? v === 0 : v > 0))).toBe(true);
    for (const t of [scores, mask, masked, weights]) t.dispose();
  });

  it('clear errors', () => {
    const x = fromArray([1, 2, 3]);
    expect(() => triu(x)).toThrow(/triu needs at least 2 dimensions, got shape \[3\]/);
    expect(() => tril(x)).toThrow(/tril needs at least 2 dimensions/);
    x.dispose();
  });
});
