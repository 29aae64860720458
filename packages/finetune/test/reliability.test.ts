/**
 * Fine-tuning that never lies (issue 18): results recorded without a callback, label order checked,
 * non-finite classifiers refused, instruction entries validated at every entry point, collation that
 * leaves nothing to learn named, and per-call evaluation modes under concurrency — each on a tiny model.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, manualSeed } from '@scratchgpt/core/node';
import { GPTModel, gptConfig, type TrainProgress } from '@scratchgpt/gpt';
import {
  accuracy,
  bookSmsSpamSplit,
  classify,
  classifyAll,
  ClassificationDataset,
  collateInstructions,
  createClassificationLoader,
  evaluateClassifier,
  formatExample,
  generateResponse,
  generateResponses,
  GPTClassifier,
  InstructionDataset,
  InstructionLoader,
  parseInstructionData,
  predict,
  SMS_SPAM_LABELS,
  Subvocabulary,
  trainClassifier,
  trainInstructions,
  type InstructionEntry,
} from '../src/index';

beforeAll(async () => {
  await init();
});

const split = bookSmsSpamSplit(readFileSync(new URL('../data/SMSSpamCollection.tsv', import.meta.url), 'utf8'));
const entries = parseInstructionData(readFileSync(new URL('../data/instruction-data.json', import.meta.url), 'utf8'));

function tinyClassifier(seed: number, { labels = SMS_SPAM_LABELS as readonly string[], dropRate = 0 } = {}): GPTClassifier {
  manualSeed(seed);
  const config = gptConfig({ vocabSize: 50257, contextLength: 32, embDim: 16, nHeads: 2, nLayers: 1, dropRate, qkvBias: false, tieWeights: false });
  return GPTClassifier.fromGPT(new GPTModel(config), { numClasses: labels.length, labels, trainable: 'all', pooling: 'mean', seed });
}

function spamLoader(rows = 32, labels: readonly string[] = SMS_SPAM_LABELS) {
  const data = new ClassificationDataset(split.train.slice(0, rows), { labels, maxLength: 32 });
  return createClassificationLoader(data, { batchSize: 8, shuffle: true, dropLast: true, seed: 1 });
}

describe('results without a callback (issue 18 #1, #12)', () => {
  it('trainClassifier returns the per-epoch accuracies, losses and examples seen with or without onProgress', async () => {
    const run = async (onProgress?: (p: TrainProgress) => void) => {
      const model = tinyClassifier(3);
      const loader = spamLoader();
      const result = await trainClassifier(model, loader, loader, { epochs: 2, lr: 5e-3, evalFreq: 3, evalIter: 2, onProgress });
      result.optimizer.dispose();
      model.dispose();
      return result;
    };
    const epochEnds: TrainProgress[] = [];
    const [quiet, listened] = [await run(), await run((p) => p.epochEnd && epochEnds.push(p))];
    expect(quiet.trainAccuracies).toHaveLength(2);
    expect(quiet.valAccuracies).toHaveLength(2);
    for (const a of [...quiet.trainAccuracies, ...quiet.valAccuracies]) expect(a).toBeGreaterThanOrEqual(0);
    expect(quiet.trainAccuracies).toEqual(listened.trainAccuracies);
    expect(quiet.valAccuracies).toEqual(epochEnds.map((p) => p.metrics!.valAccuracy));
    // What the book's train_classifier_simple returns: losses at each evaluation and the examples seen.
    expect(quiet.steps).toEqual([1, 4, 7]);
    expect(quiet.examplesSeen).toEqual([8, 32, 56]);
    expect(quiet.trainLosses).toEqual(listened.trainLosses);
    expect(quiet.valLosses).toHaveLength(3);
    expect(quiet.position.examplesSeen).toBe(64);
    expect(quiet.epochReports.map((r) => r.examplesSeen)).toEqual([32, 64]);
  });

  it('trainInstructions returns the sample response of every epoch without onProgress', async () => {
    const train = entries.slice(0, 8);
    const vocab = Subvocabulary.fromTexts(train.map((e) => formatExample(e)));
    const eos = vocab.id(50256);
    const tokenize = (text: string) => vocab.encode(text);
    const loader = new InstructionLoader(new InstructionDataset(train, { tokenize }), { batchSize: 4, padTokenId: eos });
    manualSeed(7);
    const model = new GPTModel(gptConfig({ vocabSize: vocab.size, contextLength: 128, embDim: 16, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false, tieWeights: false }));
    const result = await trainInstructions(model, loader, loader, {
      epochs: 2,
      lr: 1e-2,
      evalFreq: 2,
      evalIter: 1,
      sample: { entry: train[0], options: { eosId: eos, maxNewTokens: 4, encode: tokenize, decode: (ids) => vocab.decode(ids) } },
    });
    expect(result.sampleResponses).toHaveLength(2);
    expect(result.epochReports.map((r) => r.sampleText)).toEqual(result.sampleResponses);
    expect(result.tokensSeen.length).toBe(result.steps.length);
    result.optimizer.dispose();
    model.dispose();
  });
});

describe('label order (issue 18 #3)', () => {
  it('data labelled [spam, ham] cannot train or be scored by a model of [ham, spam]', async () => {
    const model = tinyClassifier(4); // ['ham', 'spam']
    const reversed = spamLoader(16, ['spam', 'ham']);
    const message = /the data's labels are \[spam, ham\] but the model's are \[ham, spam\] \(the same names in another order/;
    await expect(trainClassifier(model, reversed, reversed, { epochs: 1, evalFreq: Infinity })).rejects.toThrow(message);
    await expect(accuracy(model, reversed)).rejects.toThrow(message);
    await expect(predict(model, reversed)).rejects.toThrow(message);
    await expect(evaluateClassifier(model, reversed)).rejects.toThrow(message);
    const other = spamLoader(16, ['ham', 'spam', 'other']);
    await expect(accuracy(model, other)).rejects.toThrow("the data's labels are [ham, spam, other] but the model's are [ham, spam]; build the dataset with the model's labels");
    // the same names in the same order (another array) are fine
    expect(await accuracy(model, spamLoader(16, ['ham', 'spam']))).toBeGreaterThanOrEqual(0);
    model.dispose();
  });
});

describe('a classifier with a non-finite weight (issue 18 #4)', () => {
  it('classify, classifyAll, predict and accuracy refuse it, naming the parameter', async () => {
    const model = tinyClassifier(5);
    const nan = fromArray([NaN, 0], [2]);
    model.out_head.loadStateDict({ weight: model.out_head.weight, bias: nan });
    nan.dispose();
    const message = /the classifier's logits for .* are NaN: its parameter 'out_head.bias' holds NaN at index 0/;
    await expect(classify(model, 'Free entry to win a prize')).rejects.toThrow(/logits for text 0 are NaN: its parameter 'out_head.bias' holds NaN at index 0/);
    await expect(classifyAll(model, ['hello there', 'see you', 'win now'], { batchSize: 2 })).rejects.toThrow(/logits for text 0 are NaN/);
    const loader = spamLoader(16);
    await expect(predict(model, loader)).rejects.toThrow(message);
    await expect(accuracy(model, loader)).rejects.toThrow(message);
    await expect(evaluateClassifier(model, loader)).rejects.toThrow(message);
    model.dispose();
  });
});

describe('instruction entries (issue 18 #5)', () => {
  const bad: [string, unknown, RegExp][] = [
    ['no output', { instruction: 'Say hi.', input: '' }, /instruction entry 0: 'output' must be a string, got nothing/],
    ['a number as instruction', { instruction: 5, input: '', output: 'x' }, /instruction entry 0: 'instruction' must be a string, got a number/],
    ['null input', { instruction: 'a', input: null, output: 'x' }, /instruction entry 0: 'input' must be a string, got a null/],
    ['not an object', 'Say hi.', /instruction entry 0: expected an object/],
  ];
  for (const [what, entry, message] of bad) {
    it(`InstructionDataset and formatExample refuse an entry with ${what}`, () => {
      expect(() => new InstructionDataset([entry as InstructionEntry])).toThrow(message);
      expect(() => formatExample(entry as InstructionEntry)).toThrow(/instruction entry: /);
    });
  }

  it('generateResponse(s) refuse an entry without an instruction before generating anything', async () => {
    manualSeed(1);
    const model = new GPTModel(gptConfig({ vocabSize: 50257, contextLength: 16, embDim: 8, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false, tieWeights: false }));
    await expect(generateResponse(model, { input: 'x' } as unknown as InstructionEntry, { maxNewTokens: 1 })).rejects.toThrow(/instruction entry: 'instruction' must be a string, got nothing/);
    const good = { instruction: 'Say hi.', input: '', output: 'Hi.' };
    await expect(generateResponses(model, [good, { output: 'x' } as unknown as InstructionEntry], { maxNewTokens: 1 })).rejects.toThrow(/instruction entry 1: 'instruction' must be a string/);
    model.dispose();
  });
});

describe('collation that leaves nothing to learn (issue 18 #6)', () => {
  it('a prompt mask that covers the cut is an error naming the entries, at the loader, not a NaN loss later', () => {
    const data = new InstructionDataset(entries.slice(0, 6));
    const prompts = Array.from({ length: 6 }, (_, i) => data.promptLength(i));
    const cut = Math.min(...prompts) - 1; // every prompt is longer than the cut
    expect(() => new InstructionLoader(data, { batchSize: 2, maskPrompt: true, allowedMaxLength: cut })).toThrow(
      new RegExp(`6 of 6 entries have no target left to learn: the prompt mask covers every position, cut at allowedMaxLength ${cut}: entry 0 \\(prompt ${prompts[0]} tokens\\), entry 1`),
    );
    // Without the mask, or with room after the prompts, every entry keeps targets.
    expect(() => new InstructionLoader(data, { batchSize: 2, allowedMaxLength: cut })).not.toThrow();
    expect(() => new InstructionLoader(data, { batchSize: 2, maskPrompt: true, allowedMaxLength: Math.max(...prompts) + 1 })).not.toThrow();
    // collateInstructions itself names the sequences of a batch left with no target at all (one such
    // row among others is what the book's custom_collate_fn gives: it counts for nothing).
    expect(() => collateInstructions([[1, 2, 3], [4, 5, 6, 7, 8]], { promptLengths: [4, 9] })).toThrow(/2 of 2 sequences have no target left to learn: .*sequence 0 \(prompt 4 tokens\), sequence 1 \(prompt 9 tokens\)/);
    expect(collateInstructions([[1, 2, 3], [4, 5, 6, 7, 8]], { promptLengths: [2, 9] }).shape).toEqual([2, 5]);
  });
});

describe('concurrent evaluation on a model in training mode (issue 18 #7)', () => {
  it('classify and classifyAll overlapping: no dropout in any batch, and the model keeps its training mode', async () => {
    const texts = split.test.slice(0, 6).map((r) => r.text);
    const model = tinyClassifier(8, { dropRate: 0.5 });
    model.eval();
    const expected = await classifyAll(model, texts, { batchSize: 1 });
    const one = await classify(model, 'Call now to claim your prize');
    model.train();
    const [a, b, c] = await Promise.all([
      classify(model, 'Call now to claim your prize'),
      classifyAll(model, texts, { batchSize: 1 }),
      classifyAll(model, texts.slice(0, 2), { batchSize: 1 }),
    ]);
    expect(a).toEqual(one);
    expect(b).toEqual(expected);
    expect(c).toEqual(expected.slice(0, 2));
    expect(model.training).toBe(true);
    expect(model.namedModules().every(([, m]) => m.training)).toBe(true);
    const loader = spamLoader(16);
    await Promise.all([accuracy(model, loader), predict(model, loader)]);
    expect(model.namedModules().every(([, m]) => m.training)).toBe(true);
    model.dispose();
  });
});
