import { beforeAll, describe, expect, it } from 'vitest';
import { attention, init } from '../src/node';
import { attentionKeepRef, attentionRef } from '../src/testing';
import { checkGradients, expectClose, expectError, randomTensor } from './helpers';

beforeAll(async () => {
  await init();
});

// Forward (causal or not, T ≠ S, D up to 64, with dropout) against the float64 reference, backward
// against finite differences, leaks, pipelines and dtypes: the registry (ops.test.ts). Here: the
// dropout keep rate, errors, packed heads and KV caches.
describe('fused attention', () => {
  it('dropout: the reference hash keeps a fraction ≈ 1 − p', () => {
    const [bh, t] = [4, 32];
    const p = 0.3;
    let kept = 0;
    let total = 0;
    for (let h = 0; h < bh; h++) for (let i = 0; i < t; i++) for (let j = 0; j <= i; j++) {
      total++;
      if (attentionKeepRef(99, p, h, i, j) > 0) kept++;
    }
    expect(Math.abs(kept / total - (1 - p))).toBeLessThan(0.03);
  });

  it('rejects mismatched shapes and oversized heads', () => {
    const a = randomTensor([2, 4, 8], 1).t;
    const b = randomTensor([2, 5, 8], 1).t;
    expect(() => attention(b, a, a, { causal: true })).toThrow(/at least as many keys as queries/);
    expect(() => attention(a, a, b)).toThrow(/shapes do not match/);
    const big = randomTensor([1, 2, 129], 1).t;
    expect(() => attention(big, big, big)).toThrow(/head dimension 129/);
    expectError(() => attention(big, big, big), 'limit', /maximum of 128/);
    expectError(() => attention(a, a, b), 'shape', /shapes do not match/);
  });
});

describe('fused attention, packed heads layout', () => {
  it('[B, T, H·D] matches per-head attention on the permuted layout (forward and backward)', async () => {
    const [b, t, h, d] = [2, 6, 3, 4];
    // reference on packed data: unpack to [B·H, T, D], run attentionRef, pack back
    const unpack = (x: ArrayLike<number>) => {
      const out = new Float64Array(b * h * t * d);
      for (let bi = 0; bi < b; bi++) for (let ti = 0; ti < t; ti++) for (let hi = 0; hi < h; hi++) for (let c = 0; c < d; c++) {
        out[((bi * h + hi) * t + ti) * d + c] = x[((bi * t + ti) * h + hi) * d + c];
      }
      return out;
    };
    const pack = (x: ArrayLike<number>) => {
      const out = new Float64Array(b * h * t * d);
      for (let bi = 0; bi < b; bi++) for (let ti = 0; ti < t; ti++) for (let hi = 0; hi < h; hi++) for (let c = 0; c < d; c++) {
        out[((bi * t + ti) * h + hi) * d + c] = x[((bi * h + hi) * t + ti) * d + c];
      }
      return out;
    };
    const ref = ([q, k, v]: Float64Array[]) =>
      pack(attentionRef(unpack(q), unpack(k), unpack(v), { bh: b * h, t, s: t, d }, { causal: true, dropout: 0.2, seed: 3 }));
    const q = randomTensor([b, t, h * d], 11);
    const k = randomTensor([b, t, h * d], 12);
    const v = randomTensor([b, t, h * d], 13);
    const out = attention(q.t, k.t, v.t, { causal: true, heads: h, dropout: 0.2, seed: 3 });
    expect(out.shape).toEqual([b, t, h * d]);
    expectClose(await out.toArray(), ref([q.data, k.data, v.data].map((x) => Float64Array.from(x))), { rtol: 1e-5, atol: 1e-6 });
    await checkGradients({
      label: 'packed attention',
      shapes: [[b, t, h * d], [b, t, h * d], [b, t, h * d]],
      gpu: ([qq, kk, vv]) => attention(qq, kk, vv, { causal: true, heads: h, dropout: 0.2, seed: 3 }),
      ref,
    });
  });
});

describe('fused attention with a KV cache', () => {
  it('one decode step over the first kvLength rows of a larger cache equals the last row of full attention', async () => {
    const [b, t, h, d, rows] = [2, 5, 2, 4, 9];
    const full = { q: randomTensor([b, t, h * d], 21), k: randomTensor([b, t, h * d], 22), v: randomTensor([b, t, h * d], 23) };
    const reference = await attention(full.q.t, full.k.t, full.v.t, { causal: true, heads: h }).toArray();
    // cache with `rows` rows per batch element, the first t filled
    const pad = (x: Float32Array) => {
      const out = new Float32Array(b * rows * h * d).fill(123);
      for (let bi = 0; bi < b; bi++) out.set(x.subarray(bi * t * h * d, (bi + 1) * t * h * d), bi * rows * h * d);
      return out;
    };
    const { fromArray } = await import('../src/node');
    const kc = fromArray(pad(full.k.data), [b, rows, h * d]);
    const vc = fromArray(pad(full.v.data), [b, rows, h * d]);
    const lastQ = new Float32Array(b * h * d);
    for (let bi = 0; bi < b; bi++) lastQ.set(full.q.data.subarray((bi * t + t - 1) * h * d, (bi * t + t) * h * d), bi * h * d);
    const step = await attention(fromArray(lastQ, [b, 1, h * d]), kc, vc, { causal: true, heads: h, kvLength: t }).toArray();
    const expected = new Float32Array(b * h * d);
    for (let bi = 0; bi < b; bi++) expected.set(reference.subarray((bi * t + t - 1) * h * d, (bi * t + t) * h * d), bi * h * d);
    expectClose(step, expected, { rtol: 1e-5, atol: 1e-6 });
  });
});
