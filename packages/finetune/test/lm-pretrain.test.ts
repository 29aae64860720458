/**
 * Language-model pretraining of a classifier's trunk: the corpus never holds a validation or test text
 * (the book's SMS split), and `pretrainTrunk` lowers the next-token loss deterministically, trains the
 * trunk only, restores `requiresGrad` and frees what it allocated.
 */
import { readFileSync } from 'node:fs';
import { init, manualSeed, memory } from '@scratchgpt/core/node';
import { GPTModel, gptConfig } from '@scratchgpt/gpt';
import { beforeAll, describe, expect, it } from 'vitest';
import { bookSmsSpamSplit, parseSmsSpam, pretrainingTexts, pretrainTrunk } from '../src/index';

const tsv = readFileSync(new URL('../data/SMSSpamCollection.tsv', import.meta.url), 'utf8');
const key = (text: string) => text.toLowerCase().replace(/\s+/g, ' ').trim();

describe('pretrainingTexts', () => {
  it('on the SMS Spam Collection: every distinct text but the validation and test texts (near copies included)', () => {
    const rows = parseSmsSpam(tsv, { quoting: 'pandas' });
    const split = bookSmsSpamSplit(tsv);
    const texts = pretrainingTexts(rows, [split.val, split.test]);
    const heldOut = new Set([...split.val, ...split.test].map((r) => key(r.text)));
    expect(texts.filter((t) => heldOut.has(key(t)))).toEqual([]);
    // the training split is in, the rows the balancing left out too, each distinct text once
    const kept = new Set(texts.map(key));
    expect(kept.size).toBe(texts.length);
    expect(split.train.filter((r) => !heldOut.has(key(r.text))).every((r) => kept.has(key(r.text)))).toBe(true);
    const distinct = new Set(rows.map((r) => key(r.text)));
    expect(texts.length).toBe([...distinct].filter((k) => !heldOut.has(k)).length);
    expect(texts.length).toBeGreaterThan(split.train.length * 4);
  });

  it('compares ignoring case and whitespace runs; keeps first appearances in order', () => {
    const rows = [{ text: 'Free  prize' }, { text: 'hello' }, { text: 'b' }, { text: 'HELLO' }, { text: 'a' }];
    expect(pretrainingTexts(rows, [[{ text: 'free prize ' }]])).toEqual(['hello', 'b', 'a']);
  });
});

describe('pretrainTrunk', () => {
  beforeAll(async () => {
    await init();
  });

  const texts = Array.from({ length: 40 }, (_, i) => (i % 2 ? 'Call now to claim your free prize!' : `See you at ${i % 5} tonight, ok?`));

  async function run(seed: number) {
    manualSeed(7);
    const gpt = new GPTModel(gptConfig({ vocabSize: 50257, contextLength: 16, embDim: 16, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false, tieWeights: false }));
    gpt.tok_emb.requiresGrad(false); // restored as it was
    const head = await gpt.out_head!.weight.toArray();
    const r = await pretrainTrunk(gpt, texts, { epochs: 3, batchSize: 4, lr: 1e-2, headVocab: 8, seed, evalBatches: 2 });
    const pos = Array.from(await gpt.pos_emb.weight.toArray());
    expect(gpt.tok_emb.weight.requiresGrad).toBe(false);
    expect(gpt.trf_blocks.at(0).parameters().every((p) => p.requiresGrad)).toBe(true);
    expect(Array.from(await gpt.out_head!.weight.toArray())).toEqual(Array.from(head)); // the LM head is not trained
    gpt.dispose();
    return { r, pos };
  }

  it('lowers the next-token loss, deterministically for a seed, and frees its head and optimizer', async () => {
    const before = memory().liveBytes;
    const a = await run(3);
    expect(memory().liveBytes).toBe(before);
    expect(a.r).toMatchObject({ texts: 40, headVocab: 8 });
    expect(a.r.windows).toBe(Math.ceil((a.r.tokens - 16) / 16));
    expect(a.r.steps).toBe(3 * Math.ceil(a.r.windows / 4));
    expect(a.r.lossAfter).toBeLessThan(a.r.lossBefore - 0.5);
    const b = await run(3);
    expect(b.r).toEqual(a.r);
    expect(b.pos).toEqual(a.pos);
  });

  it('bad options and too little text: clear errors', async () => {
    manualSeed(7);
    const gpt = new GPTModel(gptConfig({ vocabSize: 50257, contextLength: 16, embDim: 16, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false, tieWeights: false }));
    const before = memory().liveBytes;
    await expect(pretrainTrunk(gpt, texts, { headVocab: 1 })).rejects.toThrow('scratchgpt: pretrainTrunk headVocab must be an integer ≥ 2, got 1');
    await expect(pretrainTrunk(gpt, texts, { windowLength: 17 })).rejects.toThrow("windowLength 17 exceeds the model's context length 16");
    await expect(pretrainTrunk(gpt, ['hi'])).rejects.toThrow('scratchgpt: pretrainTrunk: 1 texts (2 tokens) make no window of 16 + 1 tokens');
    expect(memory().liveBytes).toBe(before);
    gpt.dispose();
  });
});
