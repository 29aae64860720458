/**
 * Mixed-precision matmul: f16 operands (widened to f32 copies on CPU adapters; read as halves by the
 * kernels' twins on GPUs: matmul-f16-variants.test.ts), `precision: 'f16'` and `autocast('f16', …)`
 * rounding f32 operands first, and the gradients of the f32 originals (products of the saved halves).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { autocast, backward, cast, fromArray, init, matmul, memory, mul, noGrad, sum } from '../src/node';
import { setHalfOperandsForTests } from '../src/ops/gemm/dispatch';
import { castRef, matmulRef } from '../src/testing';
import { expectClose, expectError, randomTensor } from './helpers';
import { check } from './matmul-f16-helpers';

beforeAll(async () => {
  await init();
});

describe('f16 operands under the CPU policy', () => {
  it('are widened to f32 copies (exact) and multiplied by the f32 kernels; one f16 operand or both', async () => {
    setHalfOperandsForTests('widen');
    try {
      await check([2, 3, 7, 5], [17, 5], { transB: true }, 'a', 10); // an f16 activation times a weight, batched
      await check([7, 13], [7, 17], { transA: true }, 'b', 11); // a weight gradient
      await check([1, 9], [9, 3], {}, 'both', 12);
      await check([150, 131], [140, 131], { transB: true }, 'both', 13); // unaligned rows: padded while widened
    } finally {
      setHalfOperandsForTests(null);
    }
  });
});

describe("precision: 'f16' and autocast", () => {
  /** Float64 references of C = A·Bᵀ and of the gradients of sum(C ⊙ G) from the halves of A and B. */
  function reference(a: Float32Array, b: Float32Array, g: Float32Array, m: number, k: number, n: number) {
    const ah = castRef(a, 'f16');
    const bh = castRef(b, 'f16');
    return {
      c: matmulRef(ah, [m, k], bh, [n, k], { transB: true }).data,
      da: matmulRef(g, [m, n], bh, [n, k]).data, // dA = G·B
      db: matmulRef(g, [m, n], ah, [m, k], { transA: true }).data, // dB = Gᵀ·A
    };
  }

  it('rounds f32 operands to f16; gradients of the f32 originals are the products of the halves', async () => {
    const [m, k, n] = [7, 37, 13];
    const a = randomTensor([m, k], 70);
    const b = randomTensor([n, k], 71);
    const g = randomTensor([m, n], 72);
    a.t.requiresGrad = true;
    b.t.requiresGrad = true;
    const ref = reference(a.data, b.data, g.data, m, k, n);
    const c = matmul(a.t, b.t, { transB: true, precision: 'f16' });
    expectClose(await c.toArray(), ref.c, { rtol: 1e-5, atol: 1e-5, label: 'C' });
    // Rounding shows: the f32 product differs.
    const exact = matmulRef(a.data, [m, k], b.data, [n, k], { transB: true }).data;
    expect(Math.max(...(await c.toArray()).map((v, i) => Math.abs(v - exact[i])))).toBeGreaterThan(1e-5);
    backward(sum(mul(c, g.t)));
    expect(a.t.grad!.dtype).toBe('f32');
    expectClose(await a.t.grad!.toArray(), ref.da, { rtol: 1e-5, atol: 1e-5, label: 'dA' });
    expectClose(await b.t.grad!.toArray(), ref.db, { rtol: 1e-5, atol: 1e-5, label: 'dB' });
    for (const t of [a.t, b.t, g.t, c]) t.dispose();
  });

  it("autocast('f16', fn) gives the bits of precision 'f16'; an explicit precision wins; the scope ends with fn", async () => {
    const a = randomTensor([5, 11], 80).t;
    const b = randomTensor([11, 6], 81).t;
    const explicit = await matmul(a, b, { precision: 'f16' }).toArray();
    const scoped = autocast('f16', () => matmul(a, b));
    expect(Array.from(await scoped.toArray())).toEqual(Array.from(explicit));
    const f32 = autocast('f16', () => matmul(a, b, { precision: 'f32' }));
    const plain = matmul(a, b);
    expect(Array.from(await f32.toArray())).toEqual(Array.from(await plain.toArray()));
    expect(Array.from(await plain.toArray())).not.toEqual(Array.from(explicit));
    // Async functions keep the mode until they settle; a throwing fn ends it too.
    const later = await autocast('f16', async () => {
      await Promise.resolve();
      return matmul(a, b);
    });
    expect(Array.from(await later.toArray())).toEqual(Array.from(explicit));
    expect(() => autocast('f16', () => { throw new Error('boom'); })).toThrow('boom');
    const after = matmul(a, b);
    expect(Array.from(await after.toArray())).toEqual(Array.from(await plain.toArray()));
    for (const t of [a, b, scoped, f32, plain, later, after]) t.dispose();
  });

  it('the backward pass keeps the halves: half the bytes of an f32 input freed after the product', async () => {
    const w = randomTensor([16, 64], 90).t;
    w.requiresGrad = true;
    const retained = (precision: 'f32' | 'f16') => {
      const x = randomTensor([32, 64], 91).t;
      x.requiresGrad = true;
      const h = mul(x, x); // an activation the caller frees once the product is recorded
      const before = memory().liveBytes;
      const y = matmul(h, w, { transB: true, precision });
      h.dispose();
      const kept = memory().liveBytes - before;
      return { kept, dispose: () => [x, y].forEach((t) => t.dispose()) };
    };
    const full = retained('f32');
    const half = retained('f16');
    const yBytes = 32 * 16 * 4;
    // f32: the product keeps h itself; f16: h is freed, its halves and w's are kept instead.
    expect(full.kept).toBe(yBytes);
    expect(half.kept).toBe(yBytes - 32 * 64 * 4 + 32 * 64 * 2 + 16 * 64 * 2);
    full.dispose();
    half.dispose();
    w.dispose();
  });

  it('no gradient for f16 tensors; f16 operands without gradients record nothing; bad precision is a clear error', async () => {
    const a = randomTensor([3, 4], 100).t;
    const b = cast(randomTensor([4, 2], 101).t, 'f16');
    a.requiresGrad = true;
    const c = matmul(a, b);
    backward(sum(c));
    expect(a.grad).not.toBeNull();
    expect(b.requiresGrad).toBe(false);
    const d = noGrad(() => matmul(a, b, { precision: 'f16' }));
    expect(d.gradNode).toBeFalsy();
    expectError(() => matmul(a, a, { transB: true, precision: 'bf16' as 'f16' }), 'value', /matmul: precision must be 'f32' or 'f16', got 'bf16'/);
    expectError(() => autocast('bf16' as 'f16', () => 0), 'dtype', /autocast: dtype must be 'f16'/);
    const i = fromArray(new Int32Array(8), [4, 2]);
    expect(() => matmul(a, i)).toThrow(/matmul expects f32 or f16 but got a i32 tensor/);
    for (const t of [a, b, c, d, i]) t.dispose();
  });
});
