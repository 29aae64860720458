/**
 * `GPTModel.castWeights('f16')`: the projection weights stored as halves (the fused decoding kernels
 * read them, f32 arithmetic), on the PyTorch golden fixture: logits against the f32 weights and the
 * fixture within the error f16 rounding allows, greedy tokens, memory, dispatches per token, the
 * error when a gradient would flow through an f16 weight, and the way back to f32.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { castRef } from '@scratchgpt/core/testing';
import { commandCounts, fromArray, init, memory, noGrad, type Tensor } from '@scratchgpt/core/node';
import { batchLoss, generateTokens, type GPTModel } from '../src/index';
import { deviation, goldenConfig, goldenModel, tensorOf } from './golden';

beforeAll(async () => {
  await init();
});

/** Unit roundoff of binary16 (11 significant bits). */
const HALF_U = 2 ** -11;
/**
 * Weight roundings a logit passes through in series: per block the attention projections, out_proj,
 * fc1 and fc2, then the head. To first order each perturbs its output by at most u relative to the
 * scale of its terms, so the logits move by about (that count)·u of their scale; LayerNorm, GELU and
 * softmax are smooth and rescale the perturbation along with the signal.
 */
const SERIAL_ROUNDINGS = 4 * goldenConfig.nLayers + 1;
const BOUND = SERIAL_ROUNDINGS * HALF_U;

function projectionWeights(model: GPTModel): [string, Tensor][] {
  return model.namedParameters().filter(([name]) => /(W_query|W_key|W_value|out_proj|ff\.layers\.\d)\.weight$|^out_head\.weight$/.test(name));
}

/** Greedy decoding with the KV cache along `tokens` (teacher-forced): the last-position logits of every step. */
async function stepLogits(model: GPTModel, tokens: number[]): Promise<Float32Array[]> {
  const cache = model.createCache(1);
  const out: Float32Array[] = [];
  try {
    for (let i = 0; i < tokens.length; i++) {
      const logits = noGrad(() => model.forward(fromArray([tokens[i]], [1, 1], { dtype: 'i32' }), { cache, lastOnly: true }));
      out.push((await logits.toArray()) as Float32Array);
      logits.dispose();
    }
  } finally {
    cache.dispose();
  }
  return out;
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

describe('GPTModel.castWeights', () => {
  it("converts only the projection weights, in place; memory of those halves; 'f32' widens them back exactly", async () => {
    const model = goldenModel();
    const before = new Map(await Promise.all(projectionWeights(model).map(async ([n, t]) => [n, await t.toArray()] as const)));
    const names = model.namedParameters().map(([n]) => n);
    const base = memory();
    expect(model.castWeights('f16')).toBe(model);
    expect(model.weightDType).toBe('f16');
    // 6 matrices per block and the untied head.
    expect(before.size).toBe(6 * goldenConfig.nLayers + 1);
    let f32Bytes = 0;
    let f16Bytes = 0;
    for (const [name, t] of model.namedParameters()) {
      expect(t.dtype, name).toBe(before.has(name) ? 'f16' : 'f32');
      if (before.has(name)) {
        f32Bytes += 4 * t.size;
        f16Bytes += t.byteLength;
        expect(t.requiresGrad, name).toBe(false);
      }
    }
    expect(model.namedParameters().map(([n]) => n)).toEqual(names); // same names, same order
    expect(model.trf_blocks.at(0).att.W_query.weight).toBe(model.stateDict().get('trf_blocks.0.att.W_query.weight'));
    const after = memory();
    console.log(`f16 weights: projection weights ${f32Bytes} → ${f16Bytes} bytes; live ${base.liveBytes} → ${after.liveBytes} bytes, ${base.liveTensors} → ${after.liveTensors} tensors`);
    expect(f16Bytes).toBe(f32Bytes / 2);
    expect(after.liveTensors).toBe(base.liveTensors);
    expect(base.liveBytes - after.liveBytes).toBe(f32Bytes - f16Bytes);
    // Casting again is a no-op; back to f32: the rounded values, trainable again.
    model.castWeights('f16');
    expect(memory().liveBytes).toBe(after.liveBytes);
    model.castWeights('f32');
    expect(model.weightDType).toBe('f32');
    expect(memory().liveBytes).toBe(base.liveBytes);
    for (const [name, t] of projectionWeights(model)) {
      expect(t.dtype, name).toBe('f32');
      expect(t.requiresGrad, name).toBe(true);
      expect(Array.from(await t.toArray()), name).toEqual(Array.from(castRef(before.get(name)!, 'f16'), Math.fround));
    }
    expect(() => model.castWeights('bf16' as 'f16')).toThrow(/^scratchgpt: castWeights: dtype must be 'f32' or 'f16', got 'bf16'/);
    // Module.replaceParameter, which castWeights uses: clear errors, nothing changed.
    const head = model.out_head!;
    const wrong = fromArray(new Float32Array(6), [2, 3]);
    expect(() => head.replaceParameter('bias', wrong)).toThrow(/^scratchgpt: Linear has no parameter 'bias' to replace/);
    expect(() => head.replaceParameter('weight', wrong)).toThrow(/^scratchgpt: Linear: parameter 'weight' is \[96, 32\], its replacement \[2, 3\]/);
    expect(head.weight.dtype).toBe('f32');
    wrong.dispose();
    model.dispose();
  });

  it('a tied head stays f32 (it is the token embedding)', () => {
    const model = goldenModel({ tieWeights: true });
    model.castWeights('f16');
    expect(model.tok_emb.weight.dtype).toBe('f32');
    expect(model.trf_blocks.at(0).ff.namedParameters().map(([, t]) => t.dtype)).toEqual(['f16', 'f32', 'f16', 'f32']);
    model.dispose();
  });

  it('logits (the prompt: composed ops) within the f16 rounding bound of the f32 weights and of PyTorch', async () => {
    const ids = tensorOf('input_ids');
    const model = goldenModel();
    model.eval();
    const run = async () => {
      const logits = noGrad(() => model.forward(fromArray(ids.data, ids.shape, { dtype: 'i32' })));
      const data = await logits.toArray();
      logits.dispose();
      return data;
    };
    const full = await run();
    model.castWeights('f16');
    const half = await run();
    const torch = tensorOf('logits').data;
    const vsF32 = deviation(half, full);
    const vsTorch = deviation(half, torch);
    console.log(
      `f16 weights, prompt logits (${ids.shape.join('×')} tokens): vs f32 weights max |Δ| ${vsF32.maxAbs.toExponential(2)} (logit scale ${vsF32.scale.toFixed(3)}), ` +
        `mean rel ${vsF32.meanRel.toExponential(2)}; vs PyTorch max |Δ| ${vsTorch.maxAbs.toExponential(2)}, mean rel ${vsTorch.meanRel.toExponential(2)}; bound ${BOUND.toExponential(2)}·scale`,
    );
    expect(vsF32.maxAbs).toBeGreaterThan(0); // the weights really were rounded
    expect(vsF32.maxAbs).toBeLessThanOrEqual(BOUND * vsF32.scale);
    expect(vsF32.meanRel).toBeLessThanOrEqual(BOUND);
    // PyTorch's logits: the f16 error plus the f32 tolerance of golden.test.ts (1e-4 relative).
    expect(vsTorch.maxAbs).toBeLessThanOrEqual((BOUND + 1e-4) * vsTorch.scale);
    model.dispose();
  });

  it('decoding (KV cache, fused kernels): step logits within the bound, greedy tokens agree except at near ties', async () => {
    const model = goldenModel();
    model.eval();
    // 16 positions (the context): the fixture's first prompt token, then 15 greedy tokens of the f32 model.
    const tokens = [Number(tensorOf('gen_prompt').data[0])];
    for await (const id of generateTokens(model, tokens, { maxNewTokens: goldenConfig.contextLength - 1 })) tokens.push(id);
    const full = await stepLogits(model, tokens);
    model.castWeights('f16');
    const half = await stepLogits(model, tokens);
    let agree = 0;
    let worst = { maxAbs: 0, meanRel: 0 };
    for (let i = 0; i < tokens.length; i++) {
      const d = deviation(half[i], full[i]);
      worst = { maxAbs: Math.max(worst.maxAbs, d.maxAbs), meanRel: Math.max(worst.meanRel, d.meanRel) };
      expect(d.maxAbs, `step ${i}`).toBeLessThanOrEqual(BOUND * d.scale);
      if (argmax(half[i]) === argmax(full[i])) agree += 1;
      else {
        // A different greedy token only where the f32 top two are closer than the f16 perturbation.
        const sorted = Array.from(full[i]).sort((a, b) => b - a);
        expect(sorted[0] - sorted[1], `step ${i}: tokens differ at a margin larger than 2·max |Δ|`).toBeLessThanOrEqual(2 * d.maxAbs);
      }
    }
    console.log(`f16 weights, decoding ${tokens.length} steps: max |Δ| ${worst.maxAbs.toExponential(2)}, worst mean rel ${worst.meanRel.toExponential(2)}; greedy agreement ${agree}/${tokens.length}`);
    // The greedy generation itself, with f16 weights.
    const generated: number[] = [];
    for await (const id of generateTokens(model, tokens.slice(0, 1), { maxNewTokens: tokens.length - 1 })) generated.push(id);
    const same = generated.filter((id, i) => id === tokens[i + 1]).length;
    console.log(`f16 weights, free-running greedy: ${same}/${generated.length} tokens equal to the f32 model's`);
    expect(generated).toHaveLength(tokens.length - 1);
    model.dispose();
  });

  it('dispatches per decoded token unchanged; no memory growth over the steps', async () => {
    const model = goldenModel();
    const perToken = async () => {
      const counts: number[] = [];
      let before = 0;
      let step = 0;
      let live = 0;
      for await (const _ of generateTokens(model, [5], { maxNewTokens: 6 })) {
        void _;
        const now = commandCounts().dispatches;
        if (step > 0) counts.push(now - before);
        if (step === 1) live = memory().liveTensors;
        if (step > 1) expect(memory().liveTensors).toBe(live);
        before = now;
        step += 1;
      }
      return counts;
    };
    const full = await perToken();
    model.castWeights('f16');
    const half = await perToken();
    console.log(`dispatches per token: f32 weights ${full.join(', ')}; f16 weights ${half.join(', ')}`);
    expect(half).toEqual(full);
    model.dispose();
  });

  it('a gradient through an f16 weight is a clear error (training needs castWeights(\'f32\')), leaking nothing', async () => {
    const model = goldenModel();
    model.castWeights('f16');
    const ids = tensorOf('input_ids');
    const targets = tensorOf('target_ids');
    const batch = { inputs: ids.data as Int32Array, targets: targets.data as Int32Array, shape: ids.shape as [number, number] };
    const live = memory().liveTensors;
    expect(() => batchLoss(model, batch)).toThrow(/^scratchgpt: linear: f16 weights carry no gradients.*castWeights\('f32'\)/);
    expect(memory().liveTensors).toBe(live);
    model.castWeights('f32');
    const loss = batchLoss(model, batch);
    loss.backward();
    expect(model.trf_blocks.at(0).att.W_query.weight.grad).not.toBeNull();
    loss.dispose();
    model.dispose();
  });
});
