import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, matmul, matmulRef, matmulShape, memory, pipelineCount, randn, sync, type MatmulOptions, type Tensor } from '../src/node';
import { checkGradients, expectClose, randomTensor } from './helpers';

beforeAll(async () => {
  await init();
});

const DIMS = [1, 3, 4, 5, 17, 31, 64, 65, 129];
const TRANS: MatmulOptions[] = [{}, { transA: true }, { transB: true }, { transA: true, transB: true }];

/** Stored shape of an operand given its logical [..., rows, cols] and whether it is transposed. */
function stored(batch: number[], rows: number, cols: number, trans: boolean): number[] {
  return trans ? [...batch, cols, rows] : [...batch, rows, cols];
}

async function check(aShape: number[], bShape: number[], options: MatmulOptions, seed: number): Promise<void> {
  const a = randomTensor(aShape, seed);
  const b = randomTensor(bShape, seed + 1);
  const c = matmul(a.t, b.t, options);
  const expected = matmulRef(a.data, aShape, b.data, bShape, options);
  const label = `[${aShape}]${options.transA ? 'ᵀ' : ''} @ [${bShape}]${options.transB ? 'ᵀ' : ''}`;
  expect(c.shape, label).toEqual(expected.shape);
  expectClose(await c.toArray(), expected.data, { rtol: 1e-5, atol: 1e-5, label });
  for (const t of [a.t, b.t, c]) t.dispose();
}

describe('matmul forward vs float64 reference', () => {
  it('odd shapes, all four transpose combinations', async () => {
    let seed = 1;
    for (let i = 0; i < DIMS.length; i++) {
      for (let r = 0; r < 3; r++) {
        // Every M meets three (K, N) pairs; together they cover every value of each dim.
        const m = DIMS[i];
        const k = DIMS[(i + 3 * r + 1) % DIMS.length];
        const n = DIMS[(2 * i + 5 * r + 2) % DIMS.length];
        for (const options of TRANS) {
          await check(stored([], m, k, options.transA ?? false), stored([], k, n, options.transB ?? false), options, seed++);
        }
      }
    }
  });

  it('every combination of small and tile-sized dims', async () => {
    let seed = 500;
    for (const m of [1, 5, 17, 33]) {
      for (const k of [1, 3, 4, 9]) {
        for (const n of [1, 7, 16, 19]) await check([m, k], [k, n], {}, seed++);
      }
    }
  });

  it('large tiles with ragged edges and a K tail', async () => {
    let seed = 900;
    for (const options of TRANS) {
      await check(stored([], 97, 131, options.transA ?? false), stored([], 131, 83, options.transB ?? false), options, seed++);
      await check(stored([], 128, 256, options.transA ?? false), stored([], 256, 64, options.transB ?? false), options, seed++);
    }
  });

  it('big problems with unaligned rows (multiplied as padded copies)', async () => {
    let seed = 950;
    for (const options of TRANS) {
      await check(stored([], 150, 131, options.transA ?? false), stored([], 131, 140, options.transB ?? false), options, seed++);
    }
    await check([3, 70, 131], [131, 132], {}, seed++);
    await check([2, 3, 67, 99], [2, 3, 99, 64], {}, seed++);
    await check([2, 1, 99, 67], [3, 64, 99], { transA: true, transB: true }, seed++);
  });

  it('empty inner dimension gives zeros, empty outer gives an empty tensor', async () => {
    const c = matmul(fromArray(new Float32Array(0), [3, 0]), fromArray(new Float32Array(0), [0, 5]));
    expect(c.shape).toEqual([3, 5]);
    expectClose(await c.toArray(), new Float64Array(15));
    const e = matmul(fromArray(new Float32Array(0), [0, 4]), fromArray(new Float32Array(8), [4, 2]));
    expect(e.shape).toEqual([0, 2]);
  });

  it('broadcasts batch dims', async () => {
    const cases: [number[], number[], MatmulOptions][] = [
      [[2, 7, 5], [5, 6], {}], // [B, T, C] @ [C, N]: folded into one product
      [[2, 3, 7, 5], [6, 5], { transB: true }], // linear with an [out, in] weight
      [[2, 3, 4, 8], [2, 3, 8, 4], {}], // [B, H, T, D] @ [B, H, D, T]
      [[2, 3, 9, 8], [2, 3, 9, 8], { transB: true }], // q @ kᵀ
      [[2, 3, 9, 9], [2, 3, 9, 8], {}], // att @ v
      [[2, 1, 5, 3], [4, 3, 6], {}],
      [[5, 3], [4, 3, 6], {}],
      [[3, 5], [2, 1, 6, 3], { transA: true, transB: true }],
      [[1, 4, 6], [3, 1, 4, 5], { transA: true }],
      [[2, 1, 3, 1, 5, 4], [1, 3, 1, 2, 4, 3], {}],
    ];
    let seed = 100;
    for (const [sa, sb, options] of cases) await check(sa, sb, options, seed++);
  });

  it('rejects bad shapes and dtypes with clear errors', () => {
    const v = fromArray([1, 2, 3]);
    const m = fromArray(new Float32Array(6), [3, 2]);
    expect(() => matmul(v, m)).toThrow(/at least 2 dimensions.*\[3\] and \[3, 2\]/);
    expect(() => matmul(m, m)).toThrow(/inner dimensions differ \(2 vs 3\) for \[3, 2\] and \[3, 2\]/);
    expect(() => matmul(m, m, { transB: true })).not.toThrow();
    expect(() => matmulShape([2, 3, 4], [3, 4, 5])).toThrow(/batch dimensions of \[2, 3, 4\] and \[3, 4, 5\] cannot be broadcast together \(2 vs 3\)/);
    const i = fromArray(new Int32Array(6), [2, 3]);
    expect(() => matmul(i, m)).toThrow(/matmul expects f32 but got a i32 tensor of shape \[2, 3\]/);
  });

  it('new shapes reuse compiled pipelines', async () => {
    await check([40, 24], [24, 36], {}, 7);
    const before = pipelineCount();
    await check([72, 52], [52, 20], {}, 8);
    await check([3, 2, 37, 20], [20, 44], {}, 9);
    expect(pipelineCount()).toBe(before);
  });

  it('frees everything it allocates', async () => {
    const start = memory().liveTensors;
    const a = randomTensor([2, 9, 6], 3).t.requireGrad();
    const b = randomTensor([6, 7], 4).t.requireGrad();
    const c = matmul(a, b, {});
    const grad = fromArray(new Float32Array(c.size).fill(1), c.shape);
    c.backward(grad);
    await sync();
    for (const t of [a, b, c, grad]) {
      t.zeroGrad();
      t.dispose();
    }
    expect(memory().liveTensors).toBe(start);
  });
});

describe('matmul backward vs finite differences', () => {
  const cases: [number[], number[], MatmulOptions][] = [
    [[5, 7], [7, 3], {}],
    [[7, 5], [7, 3], { transA: true }],
    [[5, 7], [3, 7], { transB: true }],
    [[7, 5], [3, 7], { transA: true, transB: true }],
    [[2, 3, 5], [5, 4], {}], // weight gradient folded over the batch
    [[2, 3, 5], [4, 5], { transB: true }],
    [[2, 5, 3], [5, 4], { transA: true }], // transposed input: batched then summed
    [[2, 2, 3, 4], [2, 2, 4, 3], {}],
    [[2, 1, 3, 4], [3, 4, 2], {}], // both broadcast
    [[3, 4], [2, 4, 5], {}],
    // Big enough for the tiled entries (the cases above take the scalar one).
    [[2, 40, 36], [36, 24], {}],
    [[2, 40, 36], [24, 36], { transB: true }],
    [[36, 40], [36, 44], { transA: true }],
  ];
  for (const [sa, sb, options] of cases) {
    it(`[${sa}]${options.transA ? 'ᵀ' : ''} @ [${sb}]${options.transB ? 'ᵀ' : ''}`, async () => {
      await checkGradients({
        label: `matmul ${sa} ${sb}`,
        shapes: [sa, sb],
        gpu: ([a, b]) => matmul(a, b, options),
        ref: ([a, b]) => matmulRef(a, sa, b, sb, options).data,
      });
    });
  }
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
