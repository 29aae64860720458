/**
 * The book's LoRA trainable-parameter counts, counted on the real module trees (GPU buffers of the
 * full size: ~500 MB for 124M, ~1.6 GB for 355M).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { init, manualSeed, memory } from '@scratchgpt/core/node';
import { GPTModel, gptConfig } from '@scratchgpt/gpt';
import { applyLoRA, GPTClassifier } from '../src/index';

beforeAll(async () => {
  await init();
});

describe('LoRA on GPT-2: trainable parameters as in the book', () => {
  it('124M spam classifier, rank 16, alpha 16: 2,666,528 (appendix E)', () => {
    const start = memory().liveBytes;
    manualSeed(0);
    const model = GPTClassifier.fromGPT(new GPTModel(gptConfig('gpt2-small', { qkvBias: true, dropRate: 0 })), { numClasses: 2, labels: ['ham', 'spam'] });
    const paths = applyLoRA(model, { rank: 16, alpha: 16 });
    expect(paths.length).toBe(12 * 6 + 1); // q, k, v, out_proj, ff×2 per block, and the 2-class head
    expect(paths.at(-1)).toBe('out_head');
    expect(model.numParameters({ trainableOnly: true })).toBe(2_666_528);
    expect(model.numParameters()).toBe(124_441_346 + 2_666_528);
    model.dispose();
    expect(memory().liveBytes).toBe(start);
  });

  it('355M instruction model (qkv bias on), rank 16, alpha 16: 7,898,384 (exercise 7.4)', () => {
    const start = memory().liveBytes;
    manualSeed(0);
    const model = new GPTModel(gptConfig('gpt2-medium', { qkvBias: true, dropRate: 0 }));
    const paths = applyLoRA(model, { rank: 16, alpha: 16 });
    expect(paths.length).toBe(24 * 6 + 1); // … and the LM head (1024 → 50257), an untied Linear
    expect(model.numParameters({ trainableOnly: true })).toBe(7_898_384);
    model.dispose();
    expect(memory().liveBytes).toBe(start);
  });
});
