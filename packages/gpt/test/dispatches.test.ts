/**
 * Dispatches per generated token: WebGPU charges tens of µs per dispatch, so on a GPU the count sets
 * the ceiling of decoding speed. Counted (not timed) with `commandCounts()` on `generateTokens` with
 * the KV cache: the difference between consecutive tokens is one decoding step, prefill excluded. The
 * count depends on the number of layers, not on their width, so narrow models stand in for GPT-2
 * 124M's 12 layers; the width only matters through binding splits, which 124M's decode does not need
 * except in the LM head (checked with the 50,257-token vocabulary).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { commandCounts, init, manualSeed } from '@scratchgpt/core/node';
import { generateTokens, GPTModel, gptConfig } from '../src/index';

beforeAll(async () => {
  await init();
});

/** Dispatches of each decoding step after the first (greedy, KV cache). */
async function dispatchesPerToken(nLayers: number, vocabSize: number, tokens = 4): Promise<number[]> {
  manualSeed(3);
  const model = new GPTModel(gptConfig('gpt2-small', { vocabSize, contextLength: 32, embDim: 32, nHeads: 2, nLayers, dropRate: 0 }));
  try {
    const counts: number[] = [];
    let before = 0;
    let step = 0;
    for await (const _ of generateTokens(model, [1, 2, 3, 4, 5], { maxNewTokens: tokens + 1 })) {
      void _;
      const now = commandCounts().dispatches;
      if (step > 0) counts.push(now - before);
      before = now;
      step += 1;
    }
    return counts;
  } finally {
    model.dispose();
  }
}

describe('dispatches per generated token (KV cache, batch 1)', () => {
  it('are the same for every step and grow by a fixed number per layer: ≤ 80 at GPT-2 124M depth', async () => {
    const one = await dispatchesPerToken(1, 101);
    const twelve = await dispatchesPerToken(12, 101);
    for (const counts of [one, twelve]) expect(new Set(counts).size, JSON.stringify(counts)).toBe(1);
    const perLayer = (twelve[0] - one[0]) / 11;
    console.log(`dispatches per token: 1 layer ${one[0]}, 12 layers ${twelve[0]} (${perLayer} per layer + ${one[0] - perLayer})`);
    expect(Number.isInteger(perLayer)).toBe(true);
    expect(perLayer).toBeLessThanOrEqual(6);
    expect(twelve[0]).toBeLessThanOrEqual(80);
  });

  it('stay ≤ 80 with GPT-2 vocabulary (the LM head over 50,257 tokens)', async () => {
    const counts = await dispatchesPerToken(12, 50257, 2);
    console.log(`12 layers, V=50257: ${counts.join(', ')} dispatches per token`);
    expect(counts.every((c) => c <= 80)).toBe(true);
  });
});
