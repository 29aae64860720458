import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, matmul, matmulShape, memory, randn, type MatmulOptions, type Tensor } from '../src/node';
import { setBindingLimitForTests } from '../src/ops/gemm/dispatch';
import { MATMUL_VARIANTS, type MatmulKernel } from '../src/ops/gemm/variants';
import { matmulRef } from '../src/testing';
import { expectClose, randomTensor } from './helpers';

beforeAll(async () => {
  await init();
});

const TRANS: MatmulOptions[] = [{}, { transA: true }, { transB: true }, { transA: true, transB: true }];

/** Stored shape of an operand given its logical [..., rows, cols] and whether it is transposed. */
function stored(batch: number[], rows: number, cols: number, trans: boolean): number[] {
  return trans ? [...batch, cols, rows] : [...batch, rows, cols];
}

const label = (aShape: readonly number[], bShape: readonly number[], options: MatmulOptions) =>
  `[${aShape}]${options.transA ? 'ᵀ' : ''} @ [${bShape}]${options.transB ? 'ᵀ' : ''}${options._matmulKernel ? ` (${options._matmulKernel})` : ''}`;

async function check(aShape: number[], bShape: number[], options: MatmulOptions, seed: number): Promise<void> {
  const a = randomTensor(aShape, seed);
  const b = randomTensor(bShape, seed + 1);
  const c = matmul(a.t, b.t, options);
  const expected = matmulRef(a.data, aShape, b.data, bShape, options);
  const name = label(aShape, bShape, options);
  expect(c.shape, name).toEqual(expected.shape);
  expectClose(await c.toArray(), expected.data, { rtol: 1e-5, atol: 1e-5, label: name });
  for (const t of [a.t, b.t, c]) t.dispose();
}

/**
 * (M, K, N) products every variant runs under all four transpose combinations: 1, primes, row counts
 * around gemv's 4-row blocks and the 128-row block tile, K tails (K % 4); first with every dim odd
 * (no stored row starts on a vec4 under any transpose), then with every dim a multiple of 4 (the
 * vec4 paths: tile interiors plus ragged edges, tile32x16's 64 + 4 rows). Keeping the two groups
 * apart keeps the override combinations, hence the pipelines to compile, few.
 */
const ODD: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 5],
  [3, 13, 17],
  [37, 29, 23],
  [129, 13, 65],
  [4, 8, 12],
  [68, 36, 40],
];

/**
 * Batched, broadcast and folded products (with the transposes attention and linear layers use), with
 * all dims odd or all multiples of 4 like ODD (the same pipelines).
 */
const BATCHED: [number[], number[], MatmulOptions][] = [
  [[2, 7, 5], [5, 17], {}], // [B, T, C] @ [C, N]: folded into one product
  [[2, 3, 7, 5], [17, 5], { transB: true }], // linear with an [out, in] weight
  [[2, 3, 9, 8], [2, 3, 9, 8], { transB: true }], // q @ kᵀ
  [[2, 3, 9, 9], [2, 3, 9, 17], {}], // att @ v
  [[2, 1, 5, 3], [4, 3, 7], {}],
  [[3, 5], [2, 1, 7, 3], { transA: true, transB: true }],
  [[2, 1, 3, 1, 5, 3], [1, 3, 1, 2, 3, 7], {}],
];

describe.each(MATMUL_VARIANTS.map((v) => v.name))('matmul variant %s vs float64 reference', (kernel) => {
  it('odd shapes, all four transpose combinations', async () => {
    const start = memory().liveTensors;
    let seed = 1;
    for (const [m, k, n] of ODD) {
      for (const t of TRANS) {
        const options = { ...t, _matmulKernel: kernel };
        await check(stored([], m, k, t.transA ?? false), stored([], k, n, t.transB ?? false), options, seed++);
      }
    }
    expect(memory().liveTensors).toBe(start);
  });

  it('batched and broadcast; narrow outputs (computed transposed); an empty K', async () => {
    let seed = 100;
    for (const [sa, sb, options] of BATCHED) await check(sa, sb, { ...options, _matmulKernel: kernel }, seed++);
    await check([45, 13], [13, 2], { _matmulKernel: kernel }, seed++);
    await check([45, 13], [5, 13], { transB: true, _matmulKernel: kernel }, seed++);
    const c = matmul(fromArray(new Float32Array(0), [3, 0]), fromArray(new Float32Array(0), [0, 5]), { _matmulKernel: kernel });
    expectClose(await c.toArray(), new Float64Array(15), { label: `K = 0 (${kernel})` });
    c.dispose();
  });

  it('big problems with unaligned rows (multiplied as padded copies)', async () => {
    await check([150, 131], [131, 140], { _matmulKernel: kernel }, 950);
    await check([150, 131], [140, 131], { transB: true, _matmulKernel: kernel }, 951);
  });

  it('split into binding-sized parts, accumulating over K chunks', async () => {
    // 16 KiB bindings: operands are cut along the dim of their stored rows into chunks (M in 32s, N in 16s, K in 4s).
    setBindingLimitForTests(16384);
    try {
      await check([8, 300], [300, 40], { _matmulKernel: kernel }, 960); // B in K chunks, accumulated
      await check([700, 8], [700, 20], { transA: true, _matmulKernel: kernel }, 961); // A and B in K chunks
      await check([244, 8], [40, 244], { transA: true, transB: true, _matmulKernel: kernel }, 962); // B in N chunks
      await check([150, 12], [12, 40], { _matmulKernel: kernel }, 963); // C in M chunks
      await check([2, 70, 9], [2, 9, 51], { _matmulKernel: kernel }, 964); // one batch entry at a time
    } finally {
      setBindingLimitForTests(null);
    }
  });
});

describe('matmul variants agree', () => {
  it('the register tiles and gemv give bit-identical results (the autotune may pick any; decoding matches the prompt)', async () => {
    const tiles: MatmulKernel[] = ['tile4x16', 'tile16x16', 'tile32x16'];
    let seed = 300;
    for (const [m, k, n] of [[68, 36, 40], [37, 29, 23], [3, 13, 17], [1, 7, 5], [4, 8, 12]] as const) {
      for (const t of TRANS) {
        const a = randomTensor(stored([], m, k, t.transA ?? false), seed++);
        const b = randomTensor(stored([], k, n, t.transB ?? false), seed++);
        const kernels: MatmulKernel[] = m <= 4 ? [...tiles, 'gemv'] : tiles;
        const results = [];
        for (const kernel of kernels) {
          const c = matmul(a.t, b.t, { ...t, _matmulKernel: kernel });
          results.push(new Uint32Array((await c.toArray()).buffer));
          c.dispose();
        }
        for (let i = 1; i < kernels.length; i++) expect(results[i], `${kernels[i]} vs ${kernels[0]} on ${label(a.t.shape, b.t.shape, t)}`).toEqual(results[0]);
        a.t.dispose();
        b.t.dispose();
      }
    }
  });

  it('the register-prefetch (double-buffered) block tiles give the bits of their plain twins', async () => {
    let seed = 700;
    // K spans one step, a partial second step and several steps (BK = 16); M and N cross block edges.
    for (const [m, k, n] of [[67, 16, 70], [130, 37, 129], [5, 81, 33]] as const) {
      for (const t of TRANS) {
        const a = randomTensor(stored([], m, k, t.transA ?? false), seed++);
        const b = randomTensor(stored([], k, n, t.transB ?? false), seed++);
        for (const [plain, prefetch] of [['shared64', 'shared64_prefetch'], ['shared128', 'shared128_prefetch']] as const) {
          const bits = [];
          for (const kernel of [plain, prefetch]) {
            const c = matmul(a.t, b.t, { ...t, _matmulKernel: kernel });
            bits.push(new Uint32Array((await c.toArray()).buffer));
            c.dispose();
          }
          expect(bits[1], `${prefetch} vs ${plain} on ${label(a.t.shape, b.t.shape, t)}`).toEqual(bits[0]);
        }
        a.t.dispose();
        b.t.dispose();
      }
    }
  });

  it('SCRATCHGPT_MATMUL_KERNEL forces a variant; an unknown name is a clear error', async () => {
    const saved = process.env.SCRATCHGPT_MATMUL_KERNEL;
    try {
      process.env.SCRATCHGPT_MATMUL_KERNEL = 'gemv';
      await check([9, 8], [8, 12], {}, 400);
      process.env.SCRATCHGPT_MATMUL_KERNEL = 'tile99';
      const x = fromArray(new Float32Array(4), [2, 2]);
      expect(() => matmul(x, x)).toThrow(/scratchgpt: SCRATCHGPT_MATMUL_KERNEL: matmul kernel 'tile99' does not exist \(variants: simple, tile4x16/);
      expect(() => matmul(x, x, { _matmulKernel: 'nope' as MatmulKernel })).toThrow(/_matmulKernel 'nope' does not exist/);
      x.dispose();
    } finally {
      if (saved === undefined) delete process.env.SCRATCHGPT_MATMUL_KERNEL;
      else process.env.SCRATCHGPT_MATMUL_KERNEL = saved;
    }
  });
});

describe('matmul forward vs float64 reference (default policy)', () => {
  it('empty inner dimension gives zeros, empty outer gives an empty tensor', async () => {
    const c = matmul(fromArray(new Float32Array(0), [3, 0]), fromArray(new Float32Array(0), [0, 5]));
    expect(c.shape).toEqual([3, 5]);
    expectClose(await c.toArray(), new Float64Array(15));
    const e = matmul(fromArray(new Float32Array(0), [0, 4]), fromArray(new Float32Array(8), [4, 2]));
    expect(e.shape).toEqual([0, 2]);
  });

  it('rejects bad shapes and dtypes with clear errors', () => {
    const v = fromArray([1, 2, 3]);
    const m = fromArray(new Float32Array(6), [3, 2]);
    expect(() => matmul(v, m)).toThrow(/at least 2 dimensions.*\[3\] and \[3, 2\]/);
    expect(() => matmul(m, m)).toThrow(/inner dimensions differ \(2 vs 3\) for \[3, 2\] and \[3, 2\]/);
    expect(() => matmul(m, m, { transB: true })).not.toThrow();
    expect(() => matmulShape([2, 3, 4], [3, 4, 5])).toThrow(/batch dimensions of \[2, 3, 4\] and \[3, 4, 5\] cannot be broadcast together \(2 vs 3\)/);
    const i = fromArray(new Int32Array(6), [2, 3]);
    expect(() => matmul(i, m)).toThrow(/matmul expects f32 or f16 but got a i32 tensor of shape \[2, 3\]/);
  });
});

describe('operands larger than one storage binding', () => {
  const V = 50257;
  const C = 768;
  let w: Tensor<'f32'>;
  let wData: Float32Array;

  beforeAll(async () => {
    w = randn([V, C], { seed: 1234 }); // 154 MB: more than maxStorageBufferBindingSize (128 MiB)
    wData = await w.toArray();
  });

  /** Output columns to check: both ends, chunk boundaries and random ones. */
  function sampleColumns(n: number, count: number, seed: number): number[] {
    const cols = new Set([0, 1, n - 1, n - 2, 43680, 43681, 43695, 43696, 43711, 43712]);
    let s = seed;
    while (cols.size < count + 10) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      cols.add(s % n);
    }
    return [...cols].filter((c) => c < n);
  }

  it('x [3, 768] @ W[50257, 768]ᵀ (GPT-2 LM head)', async () => {
    const x = randn([3, C], { seed: 99 });
    const xData = await x.toArray();
    const y = matmul(x, w, { transB: true });
    expect(y.shape).toEqual([3, V]);
    const out = await y.toArray();
    const cols = sampleColumns(V, 200, 5);
    const got: number[] = [];
    const want: number[] = [];
    for (let i = 0; i < 3; i++) {
      for (const n of cols) {
        let sum = 0;
        for (let p = 0; p < C; p++) sum += xData[i * C + p] * wData[n * C + p];
        got.push(out[i * V + n]);
        want.push(sum);
      }
    }
    expectClose(got, want, { rtol: 1e-4, atol: 1e-4, label: 'lm head' });
    x.dispose();
    y.dispose();
  });

  it('chunks over rows of A, and over K when A is transposed or B is not (the LM head gradients)', async () => {
    const g = randn([3, V], { seed: 7 });
    const gData = await g.toArray();
    // W @ u: rows of A in chunks.
    const u = randn([C, 2], { seed: 8 });
    const uData = await u.toArray();
    const wu = await matmul(w, u).toArray();
    // dX = dY @ W: K = 50257 in chunks of B's rows, accumulated.
    const dx = await matmul(g, w).toArray();
    // Wᵀ @ z: A read transposed, K = 50257 in chunks of A's rows.
    const z = randn([V, 2], { seed: 9 });
    const zData = await z.toArray();
    const wtz = await matmul(w, z, { transA: true }).toArray();
    const rows = sampleColumns(V, 60, 11);
    const cols = sampleColumns(C, 40, 12);
    const got: number[] = [];
    const want: number[] = [];
    for (const r of rows) {
      for (let j = 0; j < 2; j++) {
        let sum = 0;
        for (let p = 0; p < C; p++) sum += wData[r * C + p] * uData[p * 2 + j];
        got.push(wu[r * 2 + j]);
        want.push(sum);
      }
    }
    for (const c of cols) {
      for (let i = 0; i < 3; i++) {
        let sum = 0;
        for (let p = 0; p < V; p++) sum += gData[i * V + p] * wData[p * C + c];
        got.push(dx[i * C + c]);
        want.push(sum);
      }
      for (let j = 0; j < 2; j++) {
        let sum = 0;
        for (let p = 0; p < V; p++) sum += wData[p * C + c] * zData[p * 2 + j];
        got.push(wtz[c * 2 + j]);
        want.push(sum);
      }
    }
    // Sums of 50257 products of N(0, 1) values: magnitude ~220, f32 accumulation error ~1e-3.
    expectClose(got, want, { rtol: 1e-4, atol: 1e-2, label: 'chunked' });
    for (const t of [g, u, z]) t.dispose();
  });
});
