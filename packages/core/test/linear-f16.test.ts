/**
 * f16 weights in the fused decoding ops (`linear`, `qkvProjection`): f32 activations, f32
 * accumulation, f32 output, on every adapter (halves read as packed words). Checked against float64
 * references computed from the f16-rounded weights; the QKV projection against the same op on an f32
 * copy of the rounded weights, bit for bit (the same arithmetic in the same order; linear's f32
 * twin is left out: its cold llvmpipe compile alone takes a minute); against the unrounded weights within
 * the bound f16 rounding allows; plus the composed path (more rows), binding splits, the three-launch
 * QKV fallback, dispatch counts, leaks and errors.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cast, fromArray, hasF16, init, linear, memory, noGrad, qkvProjection, zeros, type Tensor } from '../src/node';
import { setLinearBindingLimitForTests, setLinearShapeForTests } from '../src/ops/linear';
import { setQkvFallbackForTests } from '../src/ops/qkv';
import { castRef, linearRef, qkvProjectionRef } from '../src/testing';
import { commandsOf, expectClose, expectError, randomData, randomTensor } from './helpers';

beforeAll(async () => {
  await init();
  if (process.env.SCRATCHGPT_BACKEND === 'lavapipe' && !hasF16()) {
    // Run there for its shader-f16 (f16 weights with an f16 KV cache): never pass silently without it.
    throw new Error(`linear-f16: SCRATCHGPT_BACKEND=lavapipe gave an adapter without shader-f16: install Mesa lavapipe ≥ 24 (scripts/setup.sh)`);
  }
});

afterEach(() => {
  setLinearBindingLimitForTests(null);
  setLinearShapeForTests(null);
  setQkvFallbackForTests(false);
});

/** The f32 tolerance of the fused ops' registry entries (ops/linear.ts, ops/qkv.ts). */
const F32_TOL = { rtol: 1e-4, atol: 2e-5 };
/** Unit roundoff of binary16 (11 significant bits) and its smallest subnormal step / 2. */
const HALF_U = 2 ** -11;
const HALF_SUBNORMAL = 2 ** -25;

/** An f16 weight `[n, k]` from uniform data, and its rounded values (what the kernel multiplies by). */
function halfWeight(n: number, k: number, seed: number, low = -0.5, high = 0.5): { t: Tensor<'f16'>; raw: Float32Array; data: Float64Array } {
  const raw = randomData(n * k, seed, low, high);
  return { t: fromArray(raw, [n, k], { dtype: 'f16' }), raw, data: castRef(raw, 'f16') };
}

interface Case {
  rows: number[];
  k: number;
  n: number;
  bias: boolean;
  gelu: boolean;
  residual: boolean;
  norm: boolean;
}

const all = { bias: true, gelu: true, residual: true, norm: true };
// K and N of 1, 7, 37 (not multiples of 4, nor of the CPU layout's 16 or the GPU layout's 4·64/16
// columns per workgroup), 36/64 (vec4 weight loads); one to eight rows (one dispatch). Chosen to share
// two pipelines (cold llvmpipe compiles take tens of seconds each): a decoding row with the norm and
// scalar weight loads, and blocks of four rows without the norm with vec4 loads.
const decodeCases: Case[] = [
  { rows: [1], k: 1, n: 1, ...all },
  { rows: [1], k: 7, n: 37, ...all },
  { rows: [1], k: 37, n: 7, bias: false, gelu: true, residual: false, norm: true },
  { rows: [1, 1], k: 37, n: 37, bias: true, gelu: false, residual: true, norm: true },
];
const blockCases: Case[] = [
  { rows: [3], k: 64, n: 67, bias: true, gelu: true, residual: true, norm: false },
  { rows: [8], k: 36, n: 7, bias: true, gelu: false, residual: true, norm: false },
  { rows: [2, 3], k: 4, n: 37, bias: false, gelu: true, residual: false, norm: false },
  { rows: [5], k: 12, n: 1, bias: true, gelu: false, residual: true, norm: false },
];

/** Runs `linear` on `w` (f16, or the f32 copy) and the float64 references of the rounded and raw weights. */
async function runCase(c: Case, seed: number) {
  const { k, n } = c;
  const x = randomTensor([...c.rows, k], seed);
  const w = halfWeight(n, k, seed + 1);
  const b = c.bias ? randomTensor([n], seed + 2) : null;
  const r = c.residual ? randomTensor([...c.rows, n], seed + 3) : null;
  const g = c.norm ? randomTensor([k], seed + 4, 0.5, 1.5) : null;
  const beta = c.norm ? randomTensor([k], seed + 5) : null;
  const options = { bias: b?.t, activation: c.gelu ? ('gelu' as const) : ('none' as const), residual: r?.t, norm: c.norm ? { weight: g!.t, bias: beta!.t } : null };
  const refOptions = { bias: b?.data, activation: options.activation, residual: r?.data, norm: c.norm ? { weight: g!.data, bias: beta!.data } : undefined };
  return { x, w, b, r, g, beta, options, refOptions, inputs: ([x.t, w.t, b?.t, r?.t, g?.t, beta?.t] as (Tensor | undefined)[]).filter((t): t is Tensor => t !== undefined) };
}

describe('linear with f16 weights', () => {
  it.each([
    ['decoding rows with the norm, scalar weight loads', decodeCases],
    ['row blocks without the norm, vec4 weight loads', blockCases],
  ])('one dispatch (%s), f32 results within f32 tolerance of float64 on the rounded weights; no leaks', async (_, list) => {
    for (const [i, c] of list.entries()) {
      const label = `rows ${c.rows} K=${c.k} N=${c.n}`;
      const live = memory().liveTensors;
      const s = await runCase(c, 10 * i + 1);
      let y: Tensor | undefined;
      expect(commandsOf(() => (y = linear(s.x.t, s.w.t, s.options))), label).toBe(1);
      expect(y!.dtype).toBe('f32');
      expect(y!.shape).toEqual([...c.rows, c.n]);
      expectClose(await y!.toArray(), linearRef(s.x.data, c.k, s.w.data, c.n, s.refOptions), { ...F32_TOL, label });
      for (const t of [...s.inputs, y!]) t.dispose();
      expect(memory().liveTensors, label).toBe(live);
    }
  });

  it('differs from the unrounded weights by no more than f16 rounding allows (Σ|h·w|·2⁻¹¹)', async () => {
    const [k, n, rows] = [37, 67, 3];
    const x = randomTensor([rows, k], 5);
    const w = halfWeight(n, k, 6, -1, 1);
    const y = await linear(x.t, w.t).toArray();
    const exact = linearRef(x.data, k, w.raw, n);
    let moved = 0;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < n; j++) {
        let scale = 0;
        for (let c = 0; c < k; c++) scale += Math.abs(x.data[i * k + c] * w.raw[j * k + c]);
        const bound = scale * HALF_U + k * HALF_SUBNORMAL + F32_TOL.atol + F32_TOL.rtol * Math.abs(exact[i * n + j]);
        const diff = Math.abs(y[i * n + j] - exact[i * n + j]);
        expect(diff, `row ${i} col ${j}`).toBeLessThanOrEqual(bound);
        moved = Math.max(moved, diff);
      }
    }
    // The rounding is real: the result is not the f32 weights' (their error bound is ~1e-6 here).
    expect(moved).toBeGreaterThan(1e-5);
    x.t.dispose();
    w.t.dispose();
  });

  it("the GPU layout (K split 16 ways, one quad per thread) on f16 weights", async () => {
    setLinearShapeForTests({ WG: 64, QUADS: 1, SPLIT: 16 });
    for (const c of [decodeCases[1]]) {
      const s = await runCase(c, 77);
      const y = linear(s.x.t, s.w.t, s.options);
      expectClose(await y.toArray(), linearRef(s.x.data, c.k, s.w.data, c.n, s.refOptions), { ...F32_TOL, label: `GPU layout K=${c.k}` });
      for (const t of [...s.inputs, y]) t.dispose();
    }
  });

  it('f16 weights larger than one binding are cut into 256-byte-aligned column ranges', async () => {
    for (const [k, n, limit] of [[64, 301, 1000], [36, 53, 150], [12, 41, 100]] as const) {
      setLinearBindingLimitForTests(limit);
      const x = randomTensor([3, k], k);
      const w = halfWeight(n, k, k + 1);
      const b = randomTensor([n], k + 2);
      let y: Tensor | undefined;
      // Several launches (at most 2·limit halves each).
      expect(commandsOf(() => (y = noGrad(() => linear(x.t, w.t, { bias: b.t }))))).toBeGreaterThan(1);
      expectClose(await y!.toArray(), linearRef(x.data, k, w.data, n, { bias: b.data }), { ...F32_TOL, label: `split K=${k}` });
      for (const t of [x.t, w.t, b.t, y!]) t.dispose();
    }
  });

  it('more than eight rows: the composed ops on a temporary f32 copy (freed), same values', async () => {
    for (const rows of [[9], [3, 4]]) {
      const c: Case = { rows, k: 37, n: 7, ...all };
      const live = memory().liveTensors;
      const s = await runCase(c, 31);
      const y = linear(s.x.t, s.w.t, s.options);
      expectClose(await y.toArray(), linearRef(s.x.data, c.k, s.w.data, c.n, s.refOptions), { ...F32_TOL, label: `rows ${rows}` });
      for (const t of [...s.inputs, y]) t.dispose();
      expect(memory().liveTensors).toBe(live);
    }
  });

  it('a gradient through an f16 weight is a clear error, and allocates nothing', () => {
    const x = randomTensor([2, 4], 1).t.requireGrad();
    const w = halfWeight(3, 4, 2).t;
    const live = memory().liveTensors;
    expectError(() => linear(x, w), 'dtype', /^scratchgpt: linear: f16 weights carry no gradients.*\[3, 4\]/);
    expect(memory().liveTensors).toBe(live);
    // Without the gradient the same call runs.
    noGrad(() => linear(x, w)).dispose();
    x.dispose();
    w.dispose();
  });
});

describe('qkvProjection with f16 weights', () => {
  // batch, t (rows = batch·t), capacity, position, K, N (two pipelines per weight dtype); 9 rows: the composed ops.
  const samples = [
    { batch: 1, t: 1, capacity: 5, position: 2, k: 7, n: 37 },
    { batch: 1, t: 1, capacity: 2, position: 1, k: 1, n: 3 },
    { batch: 2, t: 3, capacity: 7, position: 4, k: 8, n: 12 },
    { batch: 3, t: 3, capacity: 5, position: 1, k: 37, n: 5 },
  ];

  async function run(s: (typeof samples)[number], seed: number, { commands, bitwise }: { commands?: number; bitwise: boolean }): Promise<void> {
    const label = `B=${s.batch} T=${s.t} K=${s.k} N=${s.n}`;
    const x = randomTensor([s.batch, s.t, s.k], seed);
    const ws = [1, 2, 3].map((i) => halfWeight(s.n, s.k, seed + i));
    const bs = [4, 5, 6].map((i) => randomTensor([s.n], seed + i));
    const norm = [randomTensor([s.k], seed + 7, 0.5, 1.5), randomTensor([s.k], seed + 8)];
    const project = (w: Tensor[]) => {
      const keys = zeros([s.batch, s.capacity, s.n]);
      const values = zeros([s.batch, s.capacity, s.n]);
      let q: Tensor | undefined;
      const commands = commandsOf(() => {
        q = qkvProjection(
          x.t,
          { query: w[0], key: w[1], value: w[2], queryBias: bs[0].t, keyBias: bs[1].t, valueBias: bs[2].t },
          { keys, values, position: s.position },
          { norm: { weight: norm[0].t, bias: norm[1].t } },
        );
      });
      return { q: q!, keys, values, commands };
    };
    const half = project(ws.map((w) => w.t));
    if (commands !== undefined) expect(half.commands, label).toBe(commands);
    const got = [...(await half.q.toArray()), ...(await half.keys.toArray()), ...(await half.values.toArray())];
    const ref = qkvProjectionRef([x.data, ...ws.map((w) => w.data), ...bs.map((b) => b.data), ...norm.map((t) => t.data)], s.k, s.n, { ...s, bias: true, norm: true });
    expectClose(got, ref, { ...F32_TOL, label });
    const used = [x.t, ...ws.map((w) => w.t), ...bs.map((b) => b.t), ...norm.map((n) => n.t), half.q, half.keys, half.values];
    if (bitwise) {
      // Bit for bit the f32 kernel on exact f32 copies of the halves.
      const wide = ws.map((w) => cast(w.t, 'f32'));
      const full = project(wide);
      const want = [...(await full.q.toArray()), ...(await full.keys.toArray()), ...(await full.values.toArray())];
      expect(got, label).toEqual(want);
      used.push(...wide, full.q, full.keys, full.values);
    }
    for (const t of used) t.dispose();
  }

  it('one dispatch for a decoding row (f32 caches): float64 on the rounded weights; no leaks', async () => {
    const live = memory().liveTensors;
    for (const [i, s] of samples.slice(0, 2).entries()) await run(s, 100 + 10 * i, { commands: 1, bitwise: false });
    expect(memory().liveTensors).toBe(live);
  });

  it('one dispatch for six rows (two row blocks)', async () => {
    await run(samples[2], 130, { commands: 1, bitwise: false });
  });

  it('one dispatch: bit-identical to the f32 kernel on the rounded weights', async () => {
    await run(samples[0], 150, { bitwise: true });
  });

  it('nine rows: the composed ops on temporary f32 copies; no leaks', async () => {
    const live = memory().liveTensors;
    await run(samples[3], 190, { bitwise: false });
    expect(memory().liveTensors).toBe(live);
  });

  it('the three-launch fallback (devices with fewer than twelve storage bindings) reads f16 weights too', async () => {
    setQkvFallbackForTests(true);
    for (const [i, s] of samples.slice(0, 2).entries()) await run(s, 200 + 10 * i, { commands: 3, bitwise: false });
  });

  it('f16 weights and an f16 KV cache (shader-f16: float64 on the rounded weights, caches within one half ulp), or the device error', async () => {
    const s = { batch: 1, t: 1, capacity: 3, position: 1, k: 7, n: 9 };
    const x = randomTensor([s.batch, s.t, s.k], 300);
    const ws = [1, 2, 3].map((i) => halfWeight(s.n, s.k, 300 + i));
    const keys = zeros([s.batch, s.capacity, s.n], { dtype: 'f16' });
    const values = zeros([s.batch, s.capacity, s.n], { dtype: 'f16' });
    const project = () => qkvProjection(x.t, { query: ws[0].t, key: ws[1].t, value: ws[2].t }, { keys, values, position: s.position });
    if (hasF16()) {
      const q = project();
      const ref = qkvProjectionRef([x.data, ...ws.map((w) => w.data)], s.k, s.n, { ...s, bias: false, norm: false });
      const qn = s.batch * s.t * s.n;
      expectClose(await q.toArray(), ref.subarray(0, qn), { ...F32_TOL, label: 'q' });
      expectClose([...(await keys.toArray()), ...(await values.toArray())], ref.subarray(qn), { rtol: F32_TOL.rtol + HALF_U, atol: F32_TOL.atol + 2 ** -24, label: 'caches' });
      q.dispose();
    } else {
      expectError(project, 'device', /qkvProjection: f16 tensors need the adapter's 'shader-f16' feature/);
    }
    for (const t of [x.t, ...ws.map((w) => w.t), keys, values]) t.dispose();
  });

  it('clear errors: mixed weight dtypes', () => {
    const x = randomTensor([1, 1, 4], 1).t;
    const w32 = randomTensor([4, 4], 2).t;
    const w16 = halfWeight(4, 4, 3).t;
    const keys = zeros([1, 3, 4]);
    const values = zeros([1, 3, 4]);
    expectError(() => qkvProjection(x, { query: w16, key: w32, value: w16 }, { keys, values, position: 0 }), 'dtype', /three weights must share a dtype, got query f16 and key f32/);
    for (const t of [x, w32, w16, keys, values]) t.dispose();
  });
});
