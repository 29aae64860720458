/**
 * Node runner of the spam-classifier example: reads the data, prints progress, saves the classifier.
 *
 *   node node.js [--tsv FILE] [--weights gpt2|URL|FILE] [--limit N] [--epochs N] [--out FILE]
 *
 * `--weights gpt2` downloads OpenAI's GPT-2 124M (cached in ~/.cache/scratchgpt) and follows the book's
 * recipe; without it a small GPT is trained from scratch. The TSV defaults to the copy of the SMS Spam
 * Collection in this repository (packages/finetune/data), relative to the current directory:
 * `pnpm example examples/spam-classifier/node.ts -- --limit 200` from the repository root.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { init } from '@scratchgpt/core';
import { saveClassifier } from '@scratchgpt/finetune';
import { gpt2WeightsUrl, loadGPT2 } from '@scratchgpt/gpt';
import { fineTuneSpamClassifier, type SpamProgress } from './finetune.js';

const { values } = parseArgs({
  options: {
    tsv: { type: 'string', default: 'packages/finetune/data/SMSSpamCollection.tsv' }, // from the repository root
    weights: { type: 'string' },
    limit: { type: 'string' },
    epochs: { type: 'string' },
    out: { type: 'string', default: 'spam-classifier.safetensors' },
  },
});

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
function print(event: SpamProgress): void {
  switch (event.kind) {
    case 'data':
      console.log(`data: ${event.train} / ${event.val} / ${event.test} texts, ${event.maxLength} tokens each; ${event.batchesPerEpoch} batches per epoch`);
      console.log(`model: ${(event.parameters / 1e6).toFixed(1)}M parameters, ${event.trainable.toLocaleString('en-US')} trainable`);
      break;
    case 'loss':
      console.log(`step ${event.step}: train loss ${event.trainLoss.toFixed(3)}, val loss ${event.valLoss.toFixed(3)}`);
      break;
    case 'epoch':
      console.log(`epoch ${event.epoch + 1}: train accuracy ${pct(event.trainAccuracy)}, val accuracy ${pct(event.valAccuracy)}`);
      break;
    case 'step':
      break; // a page would move a progress bar here
  }
}

const gpu = await init();
console.log(`adapter: ${gpu.adapterName} (${gpu.featureLevel})`);
const weights = values.weights === 'gpt2' ? gpt2WeightsUrl('gpt2') : values.weights;
const result = await fineTuneSpamClassifier({
  tsv: await readFile(values.tsv, 'utf8').catch((err: Error) => {
    throw new Error(`cannot read the SMS Spam Collection at ${values.tsv} (${err.message}); pass --tsv FILE`);
  }),
  gpt: weights ? await loadGPT2(weights) : undefined,
  limit: values.limit === undefined ? undefined : Number(values.limit),
  epochs: values.epochs === undefined ? undefined : Number(values.epochs),
  onProgress: print,
});
const { train, val, test } = result.accuracy;
console.log(`accuracy: train ${pct(train)}, val ${pct(val)}, test ${pct(test)}`);
for (const k of result.report.classes) console.log(`${k.label}: precision ${pct(k.precision)}, recall ${pct(k.recall)}, F1 ${k.f1.toFixed(3)}`);
for (const s of result.samples) console.log(`${JSON.stringify(s.text)} → ${s.label} (p(spam) ${s.spamProbability.toFixed(3)})`);
await saveClassifier(values.out, result.model, { maxLength: result.maxLength });
console.log(`classifier: ${values.out}`);
result.model.dispose();
