import { readFileSync } from 'node:fs';
import { it } from 'vitest';
import { AdamW, init, manualSeed, sync } from '@scratchgpt/core/node';
import { encode, GPTModel, gptConfig } from '@scratchgpt/gpt';
import { bookSmsSpamSplit, ClassificationDataset, createClassificationLoader, GPTClassifier, classificationLoss, SMS_SPAM_LABELS } from '@scratchgpt/finetune';

it('probe', async () => {
  await init();
  const tsv = readFileSync('packages/finetune/data/SMSSpamCollection.tsv', 'utf8');
  const t0 = performance.now();
  const split = bookSmsSpamSplit(tsv);
  const trainSet = new ClassificationDataset(split.train, { labels: SMS_SPAM_LABELS });
  console.log('split+tokenize', (performance.now() - t0).toFixed(0), 'ms, maxLength', trainSet.maxLength);
  for (const [C, L, T, V, froz] of [[64, 2, 64, 50257, 1], [64, 2, 64, 8000, 0], [64, 2, 32, 8000, 0], [64, 1, 64, 8000, 0]]) {
    manualSeed(1);
    const gpt = new GPTModel(gptConfig({ vocabSize: V, contextLength: 128, embDim: C, nHeads: 4, nLayers: L, dropRate: 0, qkvBias: false, tieWeights: false }));
    const model = GPTClassifier.fromGPT(gpt, { numClasses: 2, padId: 0, labels: SMS_SPAM_LABELS, trainable: 'all', pooling: 'mean' });
    if (froz) gpt.tok_emb.requiresGrad(false);
    const ds = new ClassificationDataset(split.train, { labels: SMS_SPAM_LABELS, maxLength: T, padId: 0, tokenize: (t) => Array.from(encode(t), (x) => x % V) });
    const loader = createClassificationLoader(ds, { batchSize: 8, shuffle: true, dropLast: true });
    const opt = new AdamW(model.namedTrainableParameters(), { lr: 1e-3, weightDecay: 0.1 });
    let i = 0; let t1 = 0;
    for (const b of loader) {
      if (i === 3) { await sync(); t1 = performance.now(); }
      const loss = classificationLoss(model, b); loss.backward(); loss.dispose(); opt.step(); opt.zeroGrad();
      if (++i === 23) break;
    }
    await sync();
    console.log(`V=${V} frozen=${froz} C=${C} L=${L} T=${T}: ${((performance.now() - t1) / 20).toFixed(1)} ms/step`);
    opt.dispose(); model.dispose();
  }
});
