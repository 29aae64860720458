/**
 * LoRA through the one training loop, on both kinds of fine-tuning: a classifier (`trainClassifier`)
 * and an instruction model (`trainInstructions`). Only A and B change — every base weight stays the
 * same bit for bit — and the merged model exports with the plain names.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { init, manualSeed, type Module } from '@scratchgpt/core/node';
import { exportGPT2, fixedOrder, GPTModel, gptConfig, meanLoss } from '@scratchgpt/gpt';
import {
  applyLoRA,
  bookSmsSpamSplit,
  ClassificationDataset,
  createClassificationLoader,
  formatExample,
  GPTClassifier,
  instructionLoss,
  InstructionDataset,
  InstructionLoader,
  loraLayers,
  parseInstructionData,
  removeLoRA,
  SMS_SPAM_LABELS,
  Subvocabulary,
  trainClassifier,
  trainInstructions,
} from '../src/index';

beforeAll(async () => {
  await init();
});

/** Every parameter's values by name. */
async function snapshot(model: Module): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, p] of model.namedParameters()) out.set(name, (await p.toArray()) as Float32Array);
  return out;
}

/** Checks that the base weights did not change at all and that every A and B did. */
function expectOnlyAdaptersChanged(before: Map<string, Float32Array>, after: Map<string, Float32Array>): void {
  let adapters = 0;
  for (const [name, values] of after) {
    const old = before.get(name)!;
    const changed = values.some((v, i) => v !== old[i]);
    if (/\.lora\.[AB]$/.test(name)) {
      adapters++;
      expect(changed, `${name} should have trained`).toBe(true);
    } else {
      expect(changed, `${name} should be frozen`).toBe(false);
    }
  }
  expect(adapters).toBeGreaterThan(0);
}

describe('LoRA through the training loop', () => {
  it('a classifier: trainClassifier trains A and B only; base weights bit for bit unchanged', async () => {
    manualSeed(8);
    const split = bookSmsSpamSplit(readFileSync(new URL('../data/SMSSpamCollection.tsv', import.meta.url), 'utf8'));
    const gpt = new GPTModel(gptConfig({ vocabSize: 50257, contextLength: 16, embDim: 8, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: true, tieWeights: false }));
    const model = GPTClassifier.fromGPT(gpt, { numClasses: 2, labels: SMS_SPAM_LABELS, trainable: 'all', pooling: 'mean', seed: 8 });
    const paths = applyLoRA(model, { rank: 2, alpha: 4, seed: 8 });
    expect(paths).toContain('out_head'); // the classification head is wrapped too (the book)
    const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);
    expect(trainable.every((n) => /\.lora\.[AB]$/.test(n))).toBe(true);
    const data = new ClassificationDataset(split.train.slice(0, 16), { labels: SMS_SPAM_LABELS, maxLength: 16 });
    const loader = createClassificationLoader(data, { batchSize: 8, shuffle: true, dropLast: true, seed: 2 });
    const before = await snapshot(model);
    const result = await trainClassifier(model, loader, loader, { epochs: 1, lr: 1e-2, evalFreq: 1, evalIter: 1 });
    expect(result.finalStep).toBe(2);
    expect(result.optimizer.params.length).toBe(trainable.length);
    expectOnlyAdaptersChanged(before, await snapshot(model));
    result.optimizer.dispose();
    model.dispose();
  });

  it('an instruction model: trainInstructions trains A and B only, lowers the loss; merged, it exports as plain GPT-2', async () => {
    const entries = parseInstructionData(readFileSync(new URL('../data/instruction-data.json', import.meta.url), 'utf8')).slice(0, 8);
    const vocab = Subvocabulary.fromTexts(entries.map((e) => formatExample(e)));
    const loader = new InstructionLoader(new InstructionDataset(entries, { tokenize: (t) => vocab.encode(t) }), { batchSize: 4, padTokenId: vocab.id(50256) });
    manualSeed(9);
    const model = new GPTModel(gptConfig({ vocabSize: vocab.size, contextLength: 96, embDim: 16, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: true, tieWeights: false }));
    applyLoRA(model, { rank: 4, alpha: 8, seed: 9 });
    expect(loraLayers(model)).toHaveLength(7); // q, k, v, out_proj, 2 feed-forward layers and the LM head
    const lossBefore = await meanLoss(model, fixedOrder(loader), instructionLoss);
    const before = await snapshot(model);
    const result = await trainInstructions(model, loader, loader, { epochs: 2, lr: 2e-2, evalFreq: Infinity });
    const lossAfter = await meanLoss(model, fixedOrder(loader), instructionLoss);
    console.log(`LoRA instruction test: loss ${lossBefore.toFixed(3)} → ${lossAfter.toFixed(3)}`);
    expect(lossAfter).toBeLessThan(lossBefore - 0.1);
    expectOnlyAdaptersChanged(before, await snapshot(model));
    result.optimizer.dispose();
    // Merged for export: the same loss, the plain names, and a GPT-2 file that takes no LoRA tensor.
    removeLoRA(model);
    expect(model.namedParameters().some(([n]) => n.includes('lora'))).toBe(false);
    expect(Math.abs((await meanLoss(model, fixedOrder(loader), instructionLoss)) - lossAfter)).toBeLessThan(1e-4);
    const exported = await exportGPT2(model);
    expect(exported.config.vocab_size).toBe(vocab.size);
    model.dispose();
  });
});
