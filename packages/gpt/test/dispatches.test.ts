/**
 * Dispatches per generated token: WebGPU charges tens of µs per dispatch, so on a GPU the count sets
 * the ceiling of decoding speed. Counted (not timed) with `commandCounts()` on `generateTokens` with
 * the KV cache: the difference between consecutive tokens is one decoding step, prefill excluded. The
 * count depends on the number of layers, not on their width, so narrow models stand in for GPT-2
 * 124M's 12 layers; the width only matters through binding splits, which 124M's decode does not need
 * except in the LM head (checked with the 50,257-token vocabulary).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, clipGradNorm, commandCounts, init, manualSeed, scope } from '@scratchgpt/core/node';
import { batchLoss, generateTokens, GPTModel, gptConfig } from '../src/index';

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

/**
 * Dispatches of one training step (forward, loss, backward, gradient clipping, AdamW, zeroGrad) of a
 * 12-layer model with `fused` AdamW or without: [fused, unfused], after a first step that warms up.
 */
async function dispatchesPerTrainingStep(nLayers: number): Promise<{ fused: number; unfused: number; params: number }> {
  const counts: number[] = [];
  let params = 0;
  for (const fused of [true, false]) {
    manualSeed(5);
    const model = new GPTModel(gptConfig('gpt2-small', { vocabSize: 101, contextLength: 16, embDim: 32, nHeads: 2, nLayers, dropRate: 0 }));
    const named = model.namedParameters();
    params = named.length;
    const opt = new AdamW(named, { lr: 1e-3, weightDecay: 0.1, fused });
    const [B, T] = [2, 16];
    const batch = { shape: [B, T] as [number, number], inputs: Int32Array.from({ length: B * T }, (_, i) => (i * 7) % 101), targets: Int32Array.from({ length: B * T }, (_, i) => (i * 11 + 3) % 101) };
    const step = () => {
      scope(() => {
        batchLoss(model, batch).backward();
        clipGradNorm(named, 1);
      });
      opt.step();
      opt.zeroGrad();
    };
    try {
      step();
      const before = commandCounts().dispatches;
      step();
      counts.push(commandCounts().dispatches - before);
      await model.parameters()[0].toArray();
    } finally {
      opt.dispose();
      model.dispose();
    }
  }
  return { fused: counts[0], unfused: counts[1], params };
}

describe('dispatches per training step (12 layers, fused AdamW)', () => {
  it('fused AdamW and flat clipping save ~3 dispatches per parameter tensor', async () => {
    const { fused, unfused, params } = await dispatchesPerTrainingStep(12);
    console.log(`dispatches per training step, 12 layers (${params} parameter tensors): fused AdamW ${fused}, unfused ${unfused}`);
    // Unfused: clipping takes 2 dispatches per gradient (+1) and AdamW one per two parameters; fused:
    // 3 for clipping and 1 for AdamW per flat buffer (one buffer holds this narrow model).
    expect(unfused - fused).toBe(2 * params + 1 + Math.ceil(params / 2) - 4);
    // What remains is forward and backward (about 40 per layer), plus those 4.
    expect(fused).toBeLessThanOrEqual(40 * 12 + 4);
  });
});
