/**
 * The ops of an f16 KV cache: `castInto` (f32 rows rounded into part of an f16 tensor; every adapter),
 * `qkvProjection` writing f16 caches and `attention` with f32 queries over f16 keys and values (both
 * need shader-f16: checked against float64 references where the adapter has it, e.g. the `lavapipe`
 * project of vitest.config.ts, and their clear device error where it does not, e.g. llvmpipe).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { attention, castInto, fromArray, gpu, hasF16, init, memory, qkvProjection, setKernelVariants, zeros, type Tensor } from '../src/node';
import { FLASH_BYTES } from '../src/ops/attention';
import { setQkvFallbackForTests } from '../src/ops/qkv';
import { attentionRef, castRef, qkvProjectionRef } from '../src/testing';
import { expectClose, expectError, randomData, randomTensor } from './helpers';

beforeAll(async () => {
  await init();
  if (process.env.SCRATCHGPT_BACKEND === 'lavapipe' && !hasF16()) {
    // The lavapipe project runs this file for its shader-f16: never pass silently without it.
    throw new Error(`f16-kv: SCRATCHGPT_BACKEND=lavapipe gave ${gpu().adapterName} without shader-f16: install Mesa lavapipe ≥ 24 (scripts/setup.sh)`);
  }
});

afterEach(() => {
  setKernelVariants({});
  setQkvFallbackForTests(false);
});

/** f32 values across the f16 range: normal, subnormal, halfway ties, overflow, zeros. */
function halfTestData(n: number, seed: number): Float32Array {
  const u = randomData(n, seed, 0, 1);
  return Float32Array.from(u, (r, i) => {
    const sign = i % 2 === 0 ? 1 : -1;
    switch (i % 5) {
      case 0: return sign * r * 70000;
      case 1: return sign * r * 1e-4;
      case 2: return sign * (1 + (Math.floor(r * 1024) + 0.5) / 1024);
      case 3: return sign * r * 2;
      default: return i % 10 === 4 ? 0 : sign * r * 1e-7;
    }
  });
}

describe('castInto', () => {
  // [source size, target size, sourceOffset, targetOffset, count]: odd and even offsets, one element,
  // ranges past the first 256-byte binding boundary, whole tensors, nothing.
  const cases: [number, number, number, number, number][] = [
    [7, 7, 0, 0, 7],
    [37, 41, 3, 5, 17],
    [5, 9, 1, 2, 1],
    [5, 9, 4, 7, 1],
    [300, 1031, 67, 517, 233],
    [1031, 1031, 0, 0, 1031],
    [600, 700, 129, 130, 400],
    [3, 3, 1, 2, 0],
  ];

  it.each(cases)('source %i, target %i: [%i..] → [%i..] × %i; exact halves, the rest untouched', async (ns, nt, from, to, count) => {
    const src = halfTestData(ns, ns + 11);
    const before = castRef(randomData(nt, nt + 5, -3, 3), 'f16');
    const source = fromArray(src, [ns]);
    const target = fromArray(before, [nt], { dtype: 'f16' });
    castInto(source, target, { sourceOffset: from, targetOffset: to, count });
    const expected = Float64Array.from(before);
    expected.set(castRef(src.subarray(from, from + count), 'f16'), to);
    const got = await target.toArray();
    // Bit-exact (NaN-free data): toEqual compares −0 and +0 apart too.
    expect(Array.from(got)).toEqual(Array.from(expected));
    source.dispose();
    target.dispose();
  });

  it('defaults to the whole source at the start of the target, rejects bad input and frees nothing it does not own', async () => {
    const src = randomTensor([2, 3], 1);
    const target = zeros([4, 3], { dtype: 'f16' });
    const live = memory().liveTensors;
    castInto(src.t, target);
    expectError(() => castInto(target, target), 'dtype', /castInto expects .*f32.*f16|castInto.*f16/);
    expectError(() => castInto(src.t, src.t), 'dtype', /castInto: target must be an f16 tensor, got f32/);
    expectError(() => castInto(src.t, target, { targetOffset: 7 }), 'range', /6 elements from source element 0 to target element 7 do not fit \(source has 6, target 12\)/);
    expectError(() => castInto(src.t, target, { count: 1.5 }), 'range', /count must be a non-negative integer, got 1.5/);
    expect(memory().liveTensors).toBe(live);
    expect(Array.from(await target.toArray())).toEqual([...castRef(src.data, 'f16'), 0, 0, 0, 0, 0, 0]);
    src.t.dispose();
    target.dispose();
  });
});

/** One ulp of f16 at 1 (2⁻¹⁰): WGSL's f32 → f16 store may round either way. */
const HALF_ULP = 2 ** -10;

describe('qkvProjection into f16 caches', () => {
  // One decoding row (one dispatch), a batch of three rows, and a prompt of nine (composed ops + castInto).
  const samples = [
    { batch: 1, t: 1, capacity: 5, position: 2, k: 16, n: 20 },
    { batch: 3, t: 1, capacity: 4, position: 3, k: 13, n: 7 },
    { batch: 2, t: 9, capacity: 11, position: 1, k: 12, n: 9 },
  ];

  async function run(s: (typeof samples)[number], seed: number): Promise<void> {
    const x = randomTensor([s.batch, s.t, s.k], seed);
    const ws = [1, 2, 3].map((i) => randomTensor([s.n, s.k], seed + i, -0.5, 0.5));
    const bs = [4, 5, 6].map((i) => randomTensor([s.n], seed + i));
    const norm = [randomTensor([s.k], seed + 7, 0.5, 1.5), randomTensor([s.k], seed + 8)];
    const keys = zeros([s.batch, s.capacity, s.n], { dtype: 'f16' });
    const values = zeros([s.batch, s.capacity, s.n], { dtype: 'f16' });
    const q = qkvProjection(
      x.t,
      { query: ws[0].t, key: ws[1].t, value: ws[2].t, queryBias: bs[0].t, keyBias: bs[1].t, valueBias: bs[2].t },
      { keys, values, position: s.position },
      { norm: { weight: norm[0].t, bias: norm[1].t } },
    );
    const ref = qkvProjectionRef([x, ...ws, ...bs, ...norm].map((t) => t.data), s.k, s.n, { ...s, bias: true, norm: true });
    const qn = s.batch * s.t * s.n;
    expect(q.dtype).toBe('f32');
    expectClose(await q.toArray(), ref.subarray(0, qn), { rtol: 1e-4, atol: 2e-5, label: 'q' });
    // The caches hold the f32 results rounded to f16 (zeros elsewhere): f32 tolerance plus one half ulp.
    const caches = [...(await keys.toArray()), ...(await values.toArray())];
    expectClose(caches, ref.subarray(qn), { rtol: 1e-4 + HALF_ULP, atol: 2e-5 + 2 ** -24, label: 'caches' });
    for (const t of [...[x, ...ws, ...bs, ...norm].map((i) => i.t), keys, values, q] as Tensor[]) t.dispose();
  }

  /** Without shader-f16: the device error, and nothing left allocated. */
  function expectDeviceError(): void {
    const x = randomTensor([1, 1, 4], 1);
    const w = randomTensor([4, 4], 2);
    const keys = zeros([1, 3, 4], { dtype: 'f16' });
    const live = memory().liveTensors;
    expectError(() => qkvProjection(x.t, { query: w.t, key: w.t, value: w.t }, { keys, values: keys, position: 0 }), 'device', /qkvProjection: f16 tensors need the adapter's 'shader-f16' feature.*\(use f32\)/);
    expect(memory().liveTensors).toBe(live);
    for (const t of [x.t, w.t, keys]) t.dispose();
  }

  it('one dispatch writes each decoding row as halves (batch 1 and 3), or says shader-f16 is missing', async () => {
    if (!hasF16()) return expectDeviceError();
    await run(samples[0], 40);
    await run(samples[1], 50);
  });

  it('a prompt (composed ops, then castInto per batch row), or says shader-f16 is missing', async () => {
    if (!hasF16()) return expectDeviceError();
    await run(samples[2], 60);
  });

  it('where twelve storage bindings are not available (composed ops, then castInto), or says shader-f16 is missing', async () => {
    if (!hasF16()) return expectDeviceError();
    setQkvFallbackForTests(true);
    await run(samples[1], 90);
  });

  it('rejects caches of two dtypes', () => {
    const x = randomTensor([1, 1, 4], 1);
    const w = randomTensor([4, 4], 2);
    const keys = zeros([1, 3, 4], { dtype: 'f16' });
    const values = zeros([1, 3, 4]);
    expectError(() => qkvProjection(x.t, { query: w.t, key: w.t, value: w.t }, { keys, values, position: 0 }), 'dtype', /caches must share a dtype, got keys f16 and values f32/);
    for (const t of [x.t, w.t, keys, values]) t.dispose();
  });
});

describe('attention: f32 queries, f16 keys and values', () => {
  // [batch, heads, head dim, queries T, cache rows, kvLength]: decode steps against a packed cache.
  const shapes: [number, number, number, number, number, number][] = [
    [1, 1, 1, 1, 1, 1],
    [2, 3, 5, 1, 9, 6],
    [1, 2, 64, 3, 17, 17],
    [3, 4, 8, 2, 12, 7],
  ];

  /** The same computation on [BH, ·, D] data (the reference's layout) from packed [B, ·, H·D]. */
  function unpack(data: ArrayLike<number>, b: number, rows: number, heads: number, d: number, keep: number): Float64Array {
    const out = new Float64Array(b * heads * keep * d);
    for (let i = 0; i < b; i++) for (let h = 0; h < heads; h++) for (let r = 0; r < keep; r++) for (let c = 0; c < d; c++) {
      out[((i * heads + h) * keep + r) * d + c] = data[((i * rows + r) * heads + h) * d + c];
    }
    return out;
  }

  for (const variant of ['rows', 'flash'] as const) {
    it(`${variant}: = float64 on the rounded keys and values (f32 output, no output rounding), or the device error`, async () => {
      const q0 = randomTensor([1, 1, 4], 1);
      const k0 = zeros([1, 2, 4], { dtype: 'f16' });
      if (!hasF16()) {
        expectError(() => attention(q0.t, k0, k0, { causal: true, heads: 1, kvLength: 2 }), 'device', /attention: f16 tensors need the adapter's 'shader-f16' feature/);
        q0.t.dispose();
        k0.dispose();
        return;
      }
      expectError(() => attention(k0, q0.t, q0.t), 'dtype', /q, k and v must share a dtype \(or be f32 q with f16 k and v\), got q f16, k f32/);
      q0.t.dispose();
      k0.dispose();
      setKernelVariants({ attention: variant });
      if (variant === 'flash' && gpu().limits.maxComputeWorkgroupStorageSize < FLASH_BYTES) {
        const [q1, k1] = [randomTensor([1, 1, 4], 2), zeros([1, 2, 4], { dtype: 'f16' })];
        expectError(() => attention(q1.t, k1, k1, { kvLength: 2 }), 'device', /flash attention was forced.*workgroup memory/);
        q1.t.dispose();
        k1.dispose();
        return;
      }
      for (const [i, [b, heads, d, t, rows, kvLength]] of shapes.entries()) {
        const width = heads * d;
        const q = randomTensor([b, t, width], 200 + i);
        const kData = castRef(randomData(b * rows * width, 300 + i, -2, 2), 'f16');
        const vData = castRef(randomData(b * rows * width, 400 + i, -2, 2), 'f16');
        const k = fromArray(kData, [b, rows, width], { dtype: 'f16' });
        const v = fromArray(vData, [b, rows, width], { dtype: 'f16' });
        const out = attention(q.t, k, v, { causal: true, heads, kvLength });
        expect(out.dtype).toBe('f32');
        const expected = attentionRef(unpack(q.data, b, t, heads, d, t), unpack(kData, b, rows, heads, d, kvLength), unpack(vData, b, rows, heads, d, kvLength), { bh: b * heads, t, s: kvLength, d }, { causal: true });
        const got = unpack(await out.toArray(), b, t, heads, d, t);
        expectClose(got, expected, { rtol: 1e-5, atol: 1e-6, label: `${variant} sample ${i}` });
        for (const x of [q.t, k, v, out] as Tensor[]) x.dispose();
      }
    });
  }
});
