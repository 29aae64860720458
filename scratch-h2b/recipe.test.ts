import { readFileSync } from 'node:fs';
import { it } from 'vitest';
import { fromArray, init, manualSeed } from '@scratchgpt/core/node';
import { createDataLoader, GPTModel, gptConfig, trainModel } from '@scratchgpt/gpt';
import { parseSmsSpam, accuracy, bookSmsSpamSplit, ClassificationDataset, createClassificationLoader, GPTClassifier, SMS_SPAM_LABELS, trainClassifier, type Pooling } from '@scratchgpt/finetune';

interface R { C: number; L: number; H: number; T: number; pooling: Pooling; lr: number; epochs: number; batch: number; seed?: number; warm?: number; wd?: number; embScale?: number; drop?: number; pre?: number; preLr?: number; tie?: boolean }
it('recipes', async () => {
  await init();
  const tsv = readFileSync('packages/finetune/data/SMSSpamCollection.tsv', 'utf8');
  const split = bookSmsSpamSplit(tsv);
  const recipes: R[] = JSON.parse(process.env.RECIPES!);
  for (const r of recipes) {
    const t0 = performance.now();
    manualSeed(r.seed ?? 123);
    const gpt = new GPTModel(gptConfig({ vocabSize: 50257, contextLength: r.T, embDim: r.C, nHeads: r.H, nLayers: r.L, dropRate: r.drop ?? 0, qkvBias: false, tieWeights: r.tie ?? false }));
    if (r.embScale !== undefined) {
      const w0 = (await gpt.tok_emb.weight.toArray()) as Float32Array;
      const t0e = fromArray(w0.map((x) => x * r.embScale!), gpt.tok_emb.weight.shape);
      gpt.loadStateDict(new Map([['tok_emb.weight', t0e]]), { strict: false });
      t0e.dispose();
    }
    if (r.pre) {
      const held = new Set([...split.val, ...split.test].map((x) => x.text));
      const corpus = parseSmsSpam(tsv).filter((x) => !held.has(x.text)).map((x) => x.text).join('<|endoftext|>');
      const lm = createDataLoader(corpus, { batchSize: r.batch, maxLength: r.T, stride: r.T, shuffle: true, seed: r.seed ?? 123 });
      const tp = performance.now();
      const pr = await trainModel(gpt, lm, lm, { epochs: r.pre, lr: r.preLr ?? r.lr, evalFreq: Infinity });
      pr.optimizer.dispose();
      console.log(`pretrained ${lm.numBatches * r.pre} steps in ${((performance.now() - tp) / 1000).toFixed(1)} s`);
    }
    const model = GPTClassifier.fromGPT(gpt, { numClasses: 2, labels: SMS_SPAM_LABELS, trainable: 'all', pooling: r.pooling, seed: r.seed ?? 123 });
    const opts = { labels: SMS_SPAM_LABELS, maxLength: r.T };
    const trainSet = new ClassificationDataset(split.train, opts);
    const valSet = new ClassificationDataset(split.val, opts);
    const testSet = new ClassificationDataset(split.test, opts);
    const train = createClassificationLoader(trainSet, { batchSize: r.batch, shuffle: true, dropLast: true, seed: r.seed ?? 123 });
    const val = createClassificationLoader(valSet, { batchSize: r.batch });
    const test = createClassificationLoader(testSet, { batchSize: r.batch });
    const res = await trainClassifier(model, train, val, { epochs: r.epochs, lr: r.lr, weightDecay: r.wd ?? 0.1, evalFreq: Infinity, warmupSteps: r.warm ?? 0, minLr: r.warm ? r.lr / 10 : undefined });
    const t1 = performance.now();
    const accs = [await accuracy(model, train), await accuracy(model, val), await accuracy(model, test)];
    const t2 = performance.now();
    console.log(JSON.stringify(r), `epochs val ${res.valAccuracies.map((a) => a.toFixed(3)).join(' ')} | train/val/test ${accs.map((a) => (a * 100).toFixed(2)).join(' / ')} | train ${((t1 - t0) / 1000).toFixed(1)} s, eval ${((t2 - t1) / 1000).toFixed(1)} s`);
    res.optimizer.dispose();
    model.dispose();
  }
});
