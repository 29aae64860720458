import { beforeAll, describe, expect, it } from 'vitest';
import { crossEntropy, fromArray, init, noGrad } from '@scratchgpt/core/node';
import { batchLoss, countParameters, fromBookNames, generate, gptConfig } from '../src/index';
import { bookParameterNames, compare, goldenAdamWLosses, goldenConfig, goldenModel, gradientDeviations, tensorOf } from './golden';


beforeAll(async () => {
  await init();
});

const ids = tensorOf('input_ids');
const targets = tensorOf('target_ids');
const [B, T] = ids.shape;
const batch = { inputs: ids.data as Int32Array, targets: targets.data as Int32Array, shape: [B, T] as const };

describe('GPT model vs PyTorch 1.13 (golden fixture)', () => {
  it('parameter counts of the presets match the book', () => {
    expect(countParameters(gptConfig('gpt2-small'))).toBe(163_009_536);
    expect(countParameters(gptConfig('gpt2-small', { tieWeights: true }))).toBe(124_412_160);
    const model = goldenModel();
    expect(model.numParameters()).toBe(countParameters(goldenConfig));
    expect(model.namedParameters().map(([n]) => n).sort()).toEqual(bookParameterNames().map(fromBookNames).sort());
    model.dispose();
  });

  it('logits and loss match', async () => {
    const model = goldenModel();
    model.eval();
    const logits = noGrad(() => model.forward(fromArray(ids.data, ids.shape, { dtype: 'i32' })));
    const d = compare(await logits.toArray(), tensorOf('logits').data, 1e-4, 1e-5);
    console.log(`golden logits: max abs diff ${d.maxAbs.toExponential(2)}, max rel ${d.maxRel.toExponential(2)}`);
    expect(d.ok).toBe(true);
    expect(d.maxRel).toBeLessThanOrEqual(1e-4);
    const loss = noGrad(() => crossEntropy(logits.reshape([B * T, goldenConfig.vocabSize]), fromArray(targets.data, [B * T], { dtype: 'i32' })));
    const expected = tensorOf('loss').data[0];
    console.log(`golden loss: ours ${(await loss.item()).toFixed(7)}, torch ${expected.toFixed(7)}`);
    expect(Math.abs((await loss.item()) - expected) / expected).toBeLessThan(1e-5);
    model.dispose();
  });

  it('every parameter gradient matches', async () => {
    const model = goldenModel();
    const loss = batchLoss(model, batch);
    loss.backward();
    const deviations = await gradientDeviations(model);
    for (const { name, rel } of deviations) expect(rel, `grad ${name}: max rel diff ${rel}`).toBeLessThanOrEqual(1e-4);
    const worst = Math.max(...deviations.map((d) => d.rel));
    console.log(`golden gradients: worst max-rel diff over ${model.namedParameters().length} tensors ${worst.toExponential(2)}`);
    model.dispose();
  });

  it('5 AdamW steps follow the same loss curve', async () => {
    const model = goldenModel();
    const { ours, torch } = await goldenAdamWLosses(model, (m) => batchLoss(m, batch));
    console.log(`golden AdamW losses: ours ${ours.map((l) => l.toFixed(6)).join(' ')} | torch ${torch.map((l) => l.toFixed(6)).join(' ')}`);
    expect(ours).toHaveLength(5);
    ours.forEach((l, i) => expect(Math.abs(l - torch[i]) / torch[i]).toBeLessThan(1e-5));
    model.dispose();
  });

  it('greedy generation of 20 tokens matches token for token, with and without the KV cache', async () => {
    const model = goldenModel();
    const prompt = Array.from(tensorOf('gen_prompt').data);
    const expected = Array.from(tensorOf('gen_tokens').data);
    const cached = await generate(model, prompt, { maxNewTokens: 20 });
    const uncached = await generate(model, prompt, { maxNewTokens: 20, useCache: false });
    expect(cached.slice(prompt.length)).toEqual(expected);
    expect(uncached.slice(prompt.length)).toEqual(expected);
    model.dispose();
  });
});
