/**
 * Model code frees its own intermediates (every Module.forward runs in a scope), and generation never
 * holds grad mode or eval mode across an await, so it can overlap other generations and training.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, isGradEnabled, memory, scope, sync } from '@scratchgpt/core/node';
import { batchLoss, generate, type TokenBatch } from '../src/index.node';
import { goldenConfig, goldenModel } from './golden';

beforeAll(async () => {
  await init();
});

const B = 2;
const T = 8;
const inputs = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % goldenConfig.vocabSize);
const batch: TokenBatch = { inputs, targets: inputs.map((t) => (t + 1) % goldenConfig.vocabSize), shape: [B, T] };

describe('GPTModel forward frees its intermediates', () => {
  it('a forward, trunk or batch loss with gradients on, never backpropagated, leaves nothing live after the caller scope', async () => {
    const model = goldenModel({ dropRate: 0.1 });
    const ids = fromArray(inputs, [B, T], { dtype: 'i32' });
    await sync();
    const base = memory();
    scope(() => {
      const logits = model.forward(ids); // [B, T, V]
      expect(logits.shape).toEqual([B, T, goldenConfig.vocabSize]);
      expect(logits.requiresGrad).toBe(true);
      expect(model.trunk(ids).shape).toEqual([B, T, goldenConfig.embDim]);
      expect(batchLoss(model, batch).requiresGrad).toBe(true);
    });
    expect(memory().liveTensors).toBe(base.liveTensors);
    expect(memory().liveBytes).toBe(base.liveBytes);
    // Without a scope around it, only the forward's own output (and its graph) stays.
    const loss = batchLoss(model, batch);
    loss.backward();
    loss.dispose();
    expect(model.parameters().every((p) => p.grad !== null)).toBe(true);
    model.zeroGrad();
    expect(memory().liveTensors).toBe(base.liveTensors);
    expect(memory().liveBytes).toBe(base.liveBytes);
    ids.dispose();
    model.dispose();
  });
});

describe('generation and modes', () => {
  const options = { maxNewTokens: 6 }; // greedy

  it('two overlapping generations on a model in train mode with dropout give the sequential results', async () => {
    const model = goldenModel({ dropRate: 0.3 });
    const base = memory().liveTensors;
    const sequential = [await generate(model, [1, 2, 3], options), await generate(model, [4, 5], { ...options, maxNewTokens: 9 })];
    const overlapping = await Promise.all([generate(model, [1, 2, 3], options), generate(model, [4, 5], { ...options, maxNewTokens: 9 })]);
    expect(overlapping).toEqual(sequential);
    expect(isGradEnabled()).toBe(true);
    expect(model.namedModules().every(([, m]) => m.training)).toBe(true);
    expect(memory().liveTensors).toBe(base);
    model.dispose();
  });

  it('training steps while a generation is pending record graphs in train mode, and do not change its tokens', async () => {
    const model = goldenModel({ dropRate: 0.3 });
    const reference = await generate(model, [7, 8, 9], options);
    const pending = generate(model, [7, 8, 9], options);
    for (let step = 0; step < 3; step++) {
      // The generation has recorded a step and awaits its readback: the model is back in train mode.
      expect(isGradEnabled()).toBe(true);
      expect(model.training).toBe(true);
      const loss = batchLoss(model, batch);
      expect(loss.requiresGrad).toBe(true);
      loss.backward();
      expect(model.parameters().every((p) => p.grad !== null)).toBe(true);
      model.zeroGrad(); // no optimizer step: the weights, and so the generated tokens, stay the same
      expect(Number.isFinite(await loss.item())).toBe(true);
      loss.dispose();
    }
    expect(await pending).toEqual(reference);
    expect(isGradEnabled()).toBe(true);
    model.dispose();
  });
});
