/**
 * Decoding with an f16 KV cache (`createCache(b, { dtype: 'f16' })`, `generate(..., { kvCache: 'f16' })`)
 * on the PyTorch golden model (fixtures/make_golden.py): logits against the f32 cache and the
 * fixture, greedy tokens, cache memory, leaks, batch 2, dispatches per token. Needs shader-f16: the
 * `lavapipe` project of vitest.config.ts runs it on Mesa lavapipe; on an adapter without the feature
 * (llvmpipe, the default project) the same tests check the clear error instead.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { commandCounts, fromArray, gpu, hasF16, init, manualSeed, memory, noGrad } from '@scratchgpt/core/node';
import { generate, generateTokens, GPTModel, gptConfig, setFusedKernels, type KVCacheDType } from '../src/index';
import { deviation, goldenModel, tensorOf } from './golden';

beforeAll(async () => {
  await init();
  if (process.env.SCRATCHGPT_BACKEND === 'lavapipe' && !hasF16()) {
    // The lavapipe project runs this file for its shader-f16: never pass silently without it.
    throw new Error(`kv-cache-f16: SCRATCHGPT_BACKEND=lavapipe gave ${gpu().adapterName} without shader-f16: install Mesa lavapipe ≥ 24 (scripts/setup.sh)`);
  }
});

const ids = tensorOf('input_ids'); // [2, 12]
const reference = tensorOf('logits').data; // [2, 12, V], PyTorch
const [B, T] = ids.shape;
const V = tensorOf('logits').shape[2];
/** f16 keeps 11 significant bits: a key or value moves by at most this fraction when stored. */
const HALF_ROUNDING = 2 ** -11;

const missingF16 = /scratchgpt: an f16 KV cache needs the adapter's 'shader-f16' feature, which .* lacks: use an f32 cache \(the default\)/;

/**
 * Logits `[rows.length, T, V]` of the fixture's input rows `rows` decoded through a KV cache of
 * `dtype`, one position per forward (the decoding kernels). Batch 1 runs the one-row kernels; more
 * rows run the four-row ones, whose first compile on lavapipe takes tens of seconds: only one test
 * uses them.
 */
async function decodeLogits(model: GPTModel, dtype: KVCacheDType, rows: number[]): Promise<Float32Array> {
  const b = rows.length;
  const cache = model.createCache(b, { dtype });
  const out = new Float32Array(b * T * V);
  try {
    for (let t = 0; t < T; t++) {
      const step = Int32Array.from(rows, (r) => ids.data[r * T + t]);
      const logits = noGrad(() => model.forward(fromArray(step, [b, 1], { dtype: 'i32' }), { cache })); // [b, 1, V]
      const data = await logits.toArray();
      logits.dispose();
      for (let i = 0; i < b; i++) out.set(data.subarray(i * V, (i + 1) * V), (i * T + t) * V);
    }
  } finally {
    cache.dispose();
  }
  return out;
}

/** Both fixture rows, each decoded at batch 1, as `[B, T, V]`. */
async function decodeEachRow(model: GPTModel, dtype: KVCacheDType): Promise<Float32Array> {
  const out = new Float32Array(B * T * V);
  for (let r = 0; r < B; r++) out.set(await decodeLogits(model, dtype, [r]), r * T * V);
  return out;
}

const fmt = (d: { maxAbs: number; meanRel: number }) => `max |Δ| ${d.maxAbs.toExponential(2)}, mean rel ${d.meanRel.toExponential(2)}`;

/**
 * The golden model in eval mode where the adapter has shader-f16; elsewhere (llvmpipe) the check that
 * an f16 cache is refused with the feature's name, then null.
 */
function f16GoldenModel(): GPTModel | null {
  const model = goldenModel();
  model.eval();
  if (hasF16()) return model;
  expect(() => model.createCache(1, { dtype: 'f16' })).toThrow(missingF16);
  model.dispose();
  return null;
}
describe('f16 KV cache', () => {
  it('createCache and generate check their options; without shader-f16 they name it and suggest f32', async () => {
    const model = goldenModel();
    expect(() => model.createCache(1, { dtype: 'bf16' as KVCacheDType })).toThrow(/scratchgpt: KV cache dtype must be 'f32' or 'f16', got 'bf16'/);
    await expect(generate(model, [1, 2], { kvCache: 'f16', useCache: false })).rejects.toThrow(/scratchgpt: generate: kvCache 'f16' .* useCache is false/);
    const live = memory().liveTensors;
    if (hasF16()) {
      const cache = model.createCache(2, { dtype: 'f16' });
      expect(cache.dtype).toBe('f16');
      expect(cache.layers.every(({ k, v }) => k.dtype === 'f16' && v.dtype === 'f16')).toBe(true);
      cache.dispose();
    } else {
      expect(() => model.createCache(1, { dtype: 'f16' })).toThrow(missingF16);
      await expect(generate(model, [1, 2], { kvCache: 'f16' })).rejects.toThrow(missingF16);
    }
    expect(memory().liveTensors).toBe(live);
    const plain = model.createCache(1);
    expect(plain.dtype).toBe('f32');
    plain.dispose();
    model.dispose();
  });

  it('logits (each fixture row, one position per step) stay within f16 rounding of PyTorch', async () => {
    const model = f16GoldenModel();
    if (!model) return;
    const d = deviation(await decodeEachRow(model, 'f16'), reference);
    console.log(`golden decode logits (${B}×${T} positions), f16 cache vs torch: ${fmt(d)} (max |logit| ${d.scale.toFixed(2)})`);
    // Each stored key and value moves by ≤ 2⁻¹¹ relative; carried through this model's two layers, a
    // few such roundings: ≤ 8·2⁻¹¹ of the logits' scale at any element, ≤ 2·2⁻¹¹ on average.
    expect(d.maxAbs).toBeLessThanOrEqual(8 * HALF_ROUNDING * d.scale);
    expect(d.meanRel).toBeLessThanOrEqual(2 * HALF_ROUNDING);
    model.dispose();
  });

  it('logits differ from the f32 cache\'s by f16 rounding only, with the same top token everywhere', async () => {
    const model = f16GoldenModel();
    if (!model) return;
    const f32 = await decodeEachRow(model, 'f32');
    const f16 = await decodeEachRow(model, 'f16');
    const f32VsTorch = deviation(f32, reference);
    const f16VsF32 = deviation(f16, f32);
    console.log(`golden decode logits: f32 cache vs torch ${fmt(f32VsTorch)}; f16 vs f32 cache ${fmt(f16VsF32)}`);
    // The f32 cache decodes like the golden forward (golden.test.ts's tolerance).
    expect(f32VsTorch.maxAbs).toBeLessThanOrEqual(1e-4 * f32VsTorch.scale);
    // The f16 cache rounded something (else this test would pass on an f32 cache too), within the bounds above.
    expect(f16VsF32.maxAbs).toBeGreaterThan(0);
    expect(f16VsF32.maxAbs).toBeLessThanOrEqual(8 * HALF_ROUNDING * f32VsTorch.scale);
    expect(f16VsF32.meanRel).toBeLessThanOrEqual(2 * HALF_ROUNDING);
    // The same top token at every position of both rows (no near-ties in this fixture).
    for (let r = 0; r < B * T; r++) {
      const argmax = (x: Float32Array) => x.subarray(r * V, (r + 1) * V).reduce((best, v, j, row) => (v > row[best] ? j : best), 0);
      expect(argmax(f16), `position ${r}`).toBe(argmax(f32));
    }
    model.dispose();
  });

  it('batch 2 (the four-row decoding kernels) decodes each sequence as batch 1 does', async () => {
    const model = goldenModel();
    model.eval();
    if (!hasF16()) {
      expect(() => model.createCache(B, { dtype: 'f16' })).toThrow(missingF16);
      model.dispose();
      return;
    }
    const batched = await decodeLogits(model, 'f16', [0, 1]);
    const single = await decodeEachRow(model, 'f16');
    const d = deviation(batched, single);
    console.log(`f16 cache, batch 2 vs batch 1: ${fmt(d)}`);
    // Other kernels (rows summed in another order) may round a stored half the other way.
    expect(d.maxAbs).toBeLessThanOrEqual(2 * HALF_ROUNDING * d.scale);
    expect(deviation(batched, reference).meanRel).toBeLessThanOrEqual(2 * HALF_ROUNDING);
    model.dispose();
  });

  it("the modules' own forwards (no fused kernels; rows written with castInto) decode like the fused kernels", async () => {
    const model = f16GoldenModel();
    if (!model) return;
    const fused = await decodeLogits(model, 'f16', [1]);
    const previous = setFusedKernels(false);
    let unfused: Float32Array;
    try {
      unfused = await decodeLogits(model, 'f16', [1]);
    } finally {
      setFusedKernels(previous);
    }
    const d = deviation(unfused, fused);
    console.log(`f16 cache, unfused vs fused: ${fmt(d)}`);
    // The two paths round slightly different f32 keys and values (sums in another order): a stored
    // half may differ by one unit.
    expect(d.maxAbs).toBeLessThanOrEqual(2 * HALF_ROUNDING * d.scale);
    model.dispose();
  });

  it('greedy generation to the end of the context gives the f32 cache\'s tokens, without leaks', async () => {
    const model = goldenModel();
    // One prompt token (the one-row kernels only; golden.test.ts checks the f32 cache's tokens
    // against PyTorch), then up to the 16-position context.
    const prompt = [tensorOf('gen_prompt').data[0]];
    const steps = model.config.contextLength - prompt.length;
    if (!hasF16()) {
      await expect(generate(model, prompt, { maxNewTokens: steps, kvCache: 'f16' })).rejects.toThrow(missingF16);
      model.dispose();
      return;
    }
    const f32 = await generate(model, prompt, { maxNewTokens: steps });
    const before = memory();
    const runs: number[][] = [];
    for (let i = 0; i < 3; i++) runs.push(await generate(model, prompt, { maxNewTokens: steps, kvCache: 'f16' }));
    const after = memory();
    console.log(`greedy, ${steps} tokens: f32 cache ${f32.slice(1).join(' ')}; f16 cache ${runs[0].slice(1).join(' ')}`);
    expect(runs[0]).toEqual(f32);
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
    expect(after.liveTensors).toBe(before.liveTensors);
    expect(after.liveBytes).toBe(before.liveBytes);
    model.dispose();
  });

  it('halves the cache memory and adds no dispatch per token', async () => {
    manualSeed(5);
    const config = gptConfig('gpt2-small', { vocabSize: 101, contextLength: 32, embDim: 32, nHeads: 2, nLayers: 3, dropRate: 0 });
    const model = new GPTModel(config);
    const bytesOf = (dtype: KVCacheDType): number => {
      const before = memory().liveBytes;
      const cache = model.createCache(3, { dtype });
      const bytes = memory().liveBytes - before;
      cache.dispose();
      return bytes;
    };
    const f32Bytes = bytesOf('f32');
    expect(f32Bytes).toBe(2 * 3 * 3 * 32 * 32 * 4); // K and V, 3 layers, [3, 32, 32] f32
    if (!hasF16()) {
      expect(() => bytesOf('f16')).toThrow(missingF16);
      model.dispose();
      return;
    }
    const f16Bytes = bytesOf('f16');
    console.log(`KV cache of 3 layers, batch 3, 32 positions, C = 32: f32 ${f32Bytes} bytes, f16 ${f16Bytes} bytes`);
    expect(f16Bytes * 2).toBe(f32Bytes);

    /** Dispatches of each decoding step after the first (dispatches.test.ts's count). */
    const perToken = async (kvCache: KVCacheDType): Promise<number[]> => {
      const counts: number[] = [];
      let before = 0;
      let step = 0;
      for await (const _ of generateTokens(model, [1], { maxNewTokens: 4, kvCache })) {
        void _;
        const now = commandCounts().dispatches;
        if (step++ > 0) counts.push(now - before);
        before = now;
      }
      return counts;
    };
    const [f32Counts, f16Counts] = [await perToken('f32'), await perToken('f16')];
    console.log(`dispatches per token, 3 layers: f32 cache ${f32Counts.join(', ')}; f16 cache ${f16Counts.join(', ')}`);
    expect(f16Counts).toEqual(f32Counts);
    model.dispose();
  });
});
