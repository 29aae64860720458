/** trainClassifier on the gpt package's loop: accuracy rises on a small fixed subset of the SMS data. */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { init, manualSeed, memory, sync } from '@scratchgpt/core/node';
import { GPTModel, gptConfig, type TrainProgress } from '@scratchgpt/gpt';
import {
  accuracy,
  asEpochSource,
  BOOK_CLASSIFIER_SETTINGS,
  bookSmsSpamSplit,
  ClassificationDataset,
  createClassificationLoader,
  GPTClassifier,
  SMS_SPAM_LABELS,
  trainClassifier,
  type ClassificationBatch,
} from '../src/index';

beforeAll(async () => {
  await init();
});

const split = bookSmsSpamSplit(readFileSync(new URL('../data/SMSSpamCollection.tsv', import.meta.url), 'utf8'));

describe('trainClassifier', () => {
  it('raises accuracy on a fixed subset, reports per-epoch accuracy and examples seen, and frees its memory', async () => {
    manualSeed(3);
    const config = gptConfig({ vocabSize: 50257, contextLength: 32, embDim: 16, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false, tieWeights: false });
    const model = GPTClassifier.fromGPT(new GPTModel(config), { numClasses: 2, labels: SMS_SPAM_LABELS, trainable: 'all', pooling: 'mean', seed: 3 });
    const rows = split.train.slice(0, 48);
    const data = new ClassificationDataset(rows, { labels: SMS_SPAM_LABELS, maxLength: 32 });
    const loader = createClassificationLoader(data, { batchSize: 8, shuffle: true, dropLast: true, seed: 1 });
    const fixed = createClassificationLoader(data, { batchSize: 16 });
    const before = await accuracy(model, fixed);
    await sync();
    const base = memory();
    const progress: TrainProgress[] = [];
    const result = await trainClassifier(model, loader, loader, { epochs: 6, lr: 5e-3, evalFreq: 10, evalIter: 2, onProgress: (p) => progress.push(p) });
    const after = await accuracy(model, fixed);
    console.log(`trainClassifier test: accuracy ${before.toFixed(3)} → ${after.toFixed(3)}; per epoch ${result.trainAccuracies.map((a) => a.toFixed(2)).join(' ')}`);
    expect(after).toBeGreaterThanOrEqual(0.9);
    expect(after).toBeGreaterThan(before + 0.2);
    expect(result.trainAccuracies).toHaveLength(6);
    expect(result.valAccuracies).toHaveLength(6);
    expect(result.steps).toEqual([1, 11, 21, 31]); // the book's schedule: global_step % eval_freq == 0
    expect(result.examplesSeen).toEqual([8, 88, 168, 248]);
    expect(result.trainLosses[3]).toBeLessThan(result.trainLosses[0]);
    const epochEnds = progress.filter((p) => p.epochEnd);
    expect(epochEnds.map((p) => p.examplesSeen)).toEqual([48, 96, 144, 192, 240, 288]);
    expect(epochEnds[5].metrics).toEqual({ trainAccuracy: result.trainAccuracies[5], valAccuracy: result.valAccuracies[5] });
    expect(model.parameters().every((p) => p.grad === null)).toBe(true);
    result.optimizer.dispose();
    expect(memory().liveTensors).toBe(base.liveTensors);
    expect(memory().liveBytes).toBe(base.liveBytes);
    model.dispose();
  });

  it("uses the book's defaults and optimizes the trainable parameters only", async () => {
    expect(BOOK_CLASSIFIER_SETTINGS).toEqual({ epochs: 5, lr: 5e-5, weightDecay: 0.1, evalFreq: 50, evalIter: 5 });
    manualSeed(4);
    const config = gptConfig({ vocabSize: 50257, contextLength: 16, embDim: 16, nHeads: 2, nLayers: 2, dropRate: 0, qkvBias: false, tieWeights: false });
    const model = GPTClassifier.fromGPT(new GPTModel(config), { numClasses: 2, labels: SMS_SPAM_LABELS }); // trainable 'book'
    const data = new ClassificationDataset(split.train.slice(0, 16), { labels: SMS_SPAM_LABELS, maxLength: 16 });
    const loader = createClassificationLoader(data, { batchSize: 8 });
    const frozen = model.gpt.trf_blocks.at(0).parameters();
    const frozenBefore = await Promise.all(frozen.map((p) => p.toArray()));
    const result = await trainClassifier(model, loader, loader, { epochs: 1 });
    expect(result.lrs).toEqual([5e-5, 5e-5]);
    expect(result.optimizer.params.length).toBe(model.trainableParameters().length);
    expect(result.optimizer.params).not.toContain(model.gpt.tok_emb.weight);
    const frozenAfter = await Promise.all(frozen.map((p) => p.toArray()));
    frozenAfter.forEach((a, i) => expect(a).toEqual(frozenBefore[i]));
    result.optimizer.dispose();
    model.dispose();
  });

  it("gives the loop each epoch's order explicitly (resume continues in the same order; evaluation does not advance the loader)", () => {
    const data = new ClassificationDataset(split.train.slice(0, 24), { labels: SMS_SPAM_LABELS, maxLength: 8 });
    const loader = createClassificationLoader(data, { batchSize: 4, shuffle: true, seed: 2 });
    const source = asEpochSource(loader);
    const labelsOf = (batches: Iterable<ClassificationBatch>) => [...batches].map((b) => [...b.labels, ...b.inputs.slice(0, 3)]);
    const epoch0 = labelsOf(loader); // the loader's own first and second iterations
    const epoch1 = labelsOf(loader);
    expect(labelsOf(source.batches!(1))).toEqual(epoch1);
    expect(labelsOf(source.batches!(1, 4))).toEqual(epoch1.slice(4));
    expect(labelsOf(source)).toEqual(epoch0);
    expect(source.numBatches).toBe(6);
  });
});
