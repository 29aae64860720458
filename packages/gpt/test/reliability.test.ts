/**
 * Model-level reliability regressions of issue 10: out-of-range token ids (item 3) are refused at the
 * host boundaries (batchLoss, data sets, prompts) and found on the GPU otherwise; generation from a
 * model with non-finite outputs raises (item 2); an empty sequence says so (item 13).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, memory, type Tensor } from '@scratchgpt/core/node';
import { batchLoss, DataLoader, generate, SlidingWindowDataset, trainModel, type GPTModel, type TokenBatch } from '../src/index.node';
import { goldenConfig, goldenModel } from './golden';

beforeAll(async () => {
  await init();
});

const V = goldenConfig.vocabSize;

/** A batch [2, 4] of ids below V, with `set` applied. */
function batch(set: (inputs: Int32Array, targets: Int32Array) => void = () => undefined): TokenBatch {
  const inputs = Int32Array.from({ length: 8 }, (_, i) => (i * 7 + 1) % V);
  const targets = Int32Array.from({ length: 8 }, (_, i) => (i * 5 + 2) % V);
  set(inputs, targets);
  return { inputs, targets, shape: [2, 4] };
}

/** Overwrites parameter `name` of `model` with `value` everywhere. */
function poison(model: GPTModel, name: string, value: number): void {
  const p = model.namedParameters().find(([n]) => n === name)![1];
  const t: Tensor = fromArray(new Float32Array(p.size).fill(value), p.shape);
  model.loadStateDict(new Map([[name, t]]), { strict: false });
  t.dispose();
}

describe('token ids out of range (item 3)', () => {
  it('batchLoss refuses input and target ids outside the vocabulary before any GPU work; -100 targets are ignored', async () => {
    const model = goldenModel();
    const before = memory();
    expect(() => batchLoss(model, batch((inputs) => (inputs[5] = V)))).toThrow(
      new RegExp(`input token id ${V} at position 5 \\(row 1, column 1\\) is out of range for vocabulary size ${V}`),
    );
    expect(() => batchLoss(model, batch((_, targets) => (targets[2] = -1)))).toThrow(/target token id -1 at position 2 \(row 0, column 2\) is out of range/);
    expect(memory().liveTensors, 'nothing was allocated').toBe(before.liveTensors);
    const loss = batchLoss(model, batch((_, targets) => (targets[2] = -100)));
    expect(Number.isFinite(await loss.item())).toBe(true);
    loss.dispose();
    model.dispose();
  });

  it('trainModel on ids beyond the model vocabulary fails naming the id (a vocab-96 model fed GPT-2 ids)', async () => {
    const model = goldenModel();
    const gpt2Ids = batch((inputs) => (inputs[0] = 50256));
    await expect(trainModel(model, [gpt2Ids], [], { evalFreq: Infinity })).rejects.toThrow(/input token id 50256 at position 0 .* vocabulary size 96/);
    model.dispose();
  });

  it('GPTModel.forward with a bad id on the GPU: the readback of the logits names it', async () => {
    const model = goldenModel();
    const ids = fromArray([3, 1, V + 4, 2], [2, 2], { dtype: 'i32' });
    const logits = model.forward(ids);
    await expect(logits.toArray()).rejects.toThrow(new RegExp(`embedding: token id ${V + 4} at position 2 of the ids is out of range for vocabulary size ${V}`));
    for (const t of [ids, logits]) t.dispose();
    model.dispose();
  });

  it('data sets refuse ids that are negative, not integers, too large for i32, or beyond vocabSize', () => {
    expect(() => new SlidingWindowDataset([1, 2, -1, 3], 2, 1)).toThrow(/token id -1 at position 2 is out of range/);
    expect(() => new SlidingWindowDataset([1, 2.5, 3], 1, 1)).toThrow(/token id 2.5 at position 1/);
    expect(() => new SlidingWindowDataset([1, 2 ** 31, 3], 1, 1)).toThrow(/token id 2147483648 at position 1/);
    expect(() => new SlidingWindowDataset([1, 2, 600, 3], 2, 1, { vocabSize: 512 })).toThrow(/token id 600 at position 2 is out of range for vocabulary size 512/);
    const ok = new DataLoader(new SlidingWindowDataset([1, 2, 3, 4, 5], 2, 1, { vocabSize: 6 }), { batchSize: 1 });
    expect(ok.numBatches).toBe(3);
  });
});

describe('generation from a model with non-finite outputs (item 2)', () => {
  it('raises instead of returning ids like −1 or 2143289344, greedy and sampled, with and without the cache', async () => {
    const model = goldenModel();
    poison(model, 'final_norm.weight', NaN);
    const message = /sampleLogits: row 0 of the logits \(vocabulary 96\) holds NaN or \+Infinity.*non-finite outputs/;
    await expect(generate(model, [1, 2, 3], { maxNewTokens: 2 })).rejects.toThrow(message);
    await expect(generate(model, [1, 2, 3], { maxNewTokens: 2, temperature: 1, seed: 1 })).rejects.toThrow(message);
    await expect(generate(model, [1, 2, 3], { maxNewTokens: 2, topK: 5, temperature: 0.7, seed: 1, useCache: false })).rejects.toThrow(message);
    model.dispose();
  });
});

describe('empty sequences (item 13)', () => {
  it('GPTModel names an empty sequence instead of an attention kvLength error', () => {
    const model = goldenModel();
    const ids = fromArray([], [1, 0], { dtype: 'i32' });
    expect(() => model.forward(ids)).toThrow(/^scratchgpt: GPTModel got an empty sequence \(ids of shape \[1, 0\], T = 0\): give every row at least one token/);
    expect(() => model.trunk(ids)).toThrow(/GPTModel got an empty sequence/);
    ids.dispose();
    model.dispose();
  });
});
