import { beforeAll, describe, expect, it } from 'vitest';
import { init, manualSeed, memory } from '@scratchgpt/core/node';
import { GPTModel, gptConfig } from '@scratchgpt/gpt';
import { GPTClassifier } from '../src/index';

beforeAll(async () => {
  await init();
});

describe('GPT-2 124M as a spam classifier', () => {
  it("the book's freezing leaves exactly 7,090,946 trainable parameters (counted on the real module)", () => {
    const start = memory().liveBytes;
    manualSeed(0);
    const gpt = new GPTModel(gptConfig('gpt2-small', { qkvBias: true, dropRate: 0 }));
    const model = GPTClassifier.fromGPT(gpt, { numClasses: 2, labels: ['ham', 'spam'] });
    expect(model.numParameters({ trainableOnly: true })).toBe(7_090_946);
    // 124,441,346 = GPT-2's 124,439,808 + the head's 2·768 + 2, with the LM head gone (and freed).
    expect(model.numParameters()).toBe(124_441_346);
    const bytes = memory().liveBytes - start; // buffers are rounded up a little
    expect(bytes).toBeGreaterThanOrEqual(124_441_346 * 4);
    expect(bytes).toBeLessThan(124_441_346 * 4 * 1.01);
    model.dispose();
    expect(memory().liveBytes).toBe(start);
  });
});
