/**
 * Node runner of the spam-classifier example: reads the data, prints progress, saves the classifier.
 * The fine-tuning itself is `finetune.ts`, the same file the web page (`index.html`, `main.ts`) runs.
 *
 *   node node.js [--tsv FILE | --data FILE] [--weights gpt2|URL|FILE] [--lora RANK,ALPHA] [--limit N] [--epochs N]
 *                [--seed N] [--eval-freq N|never] [--max-length N] [--out FILE] [--report FILE]
 *
 * `--data FILE` trains on a labelled CSV/TSV/JSON/JSONL file instead of the SMS data (the page's "your
 * labelled file", the CLI's `finetune classify`: columns found among the usual names, stratified 0.7/0.1).
 *
 * `--weights gpt2` downloads OpenAI's GPT-2 124M (cached in ~/.cache/scratchgpt) and follows the book's
 * recipe; without it the small built-in GPT is trained from scratch. `--lora 16,16` trains LoRA adapters
 * only. `--report FILE` writes the run's figures as JSON (losses, accuracies, verdicts). The TSV defaults
 * to the copy of the SMS Spam Collection in this repository, relative to the current directory:
 * `pnpm example examples/spam-classifier/node.ts -- --limit 200` from the repository root.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { init } from '@scratchgpt/core';
import { removeLoRA, saveClassifier } from '@scratchgpt/finetune';
import { decodeUtf8, gpt2WeightsUrl } from '@scratchgpt/gpt';
import { fineTuneFileClassifier, fineTuneSpamClassifier, type SpamFinetuneResult, type SpamLoRA, type SpamProgress } from './finetune.js';

const { values } = parseArgs({
  options: {
    tsv: { type: 'string', default: 'packages/finetune/data/SMSSpamCollection.tsv' }, // from the repository root
    data: { type: 'string' },
    weights: { type: 'string' },
    lora: { type: 'string' },
    limit: { type: 'string' },
    epochs: { type: 'string' },
    seed: { type: 'string' },
    'eval-freq': { type: 'string' },
    'max-length': { type: 'string' },
    out: { type: 'string', default: 'spam-classifier.safetensors' },
    report: { type: 'string' },
  },
});

/** A positive integer option, or undefined when absent; anything else stops with a clear message. */
function count(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`scratchgpt: --${name} must be a positive integer, got '${text}'`);
  return n;
}

function parseLoRA(text: string | undefined): SpamLoRA | undefined {
  if (text === undefined) return undefined;
  const [rank, alpha] = text.split(',').map(Number);
  if (!(Number.isInteger(rank) && rank >= 1 && alpha > 0)) throw new Error(`scratchgpt: --lora must be RANK,ALPHA (e.g. 16,16), got '${text}'`);
  return { rank, alpha };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
function print(event: SpamProgress): void {
  switch (event.kind) {
    case 'model': {
      const lora = event.lora ? `; LoRA rank ${event.lora.rank}, alpha ${event.lora.alpha}` : '';
      console.log(`recipe: ${event.recipe.name}; ${event.recipe.epochs} epochs, batch ${event.recipe.batchSize}, lr ${event.recipe.lr}${lora}`);
      console.log(`model: C=${event.embDim}, L=${event.nLayers}, ${(event.parameters / 1e6).toFixed(1)}M parameters, ${event.trainable.toLocaleString('en-US')} trainable`);
      break;
    }
    case 'data':
      console.log(`data: ${event.train} / ${event.val} / ${event.test} texts, ${event.maxLength} tokens each; ${event.batchesPerEpoch} batches per epoch`);
      break;
    case 'baseline':
      console.log(`before training: train accuracy ${pct(event.trainAccuracy)}, val accuracy ${pct(event.valAccuracy)}`);
      break;
    case 'loss':
      console.log(`step ${event.step}: train loss ${event.trainLoss.toFixed(3)}, val loss ${event.valLoss.toFixed(3)}`);
      break;
    case 'epoch':
      console.log(`epoch ${event.epoch + 1}: train accuracy ${pct(event.trainAccuracy)}, val accuracy ${pct(event.valAccuracy)}`);
      break;
    case 'step':
    case 'evaluating':
      break; // the page moves its progress bar here
  }
}

const gpu = await init();
console.log(`adapter: ${gpu.adapterName} (${gpu.featureLevel})`);
const evalFreq = values['eval-freq'];
const common = {
  weights: values.weights === 'gpt2' ? gpt2WeightsUrl('gpt2') : values.weights,
  lora: parseLoRA(values.lora),
  limit: count('limit', values.limit),
  epochs: count('epochs', values.epochs),
  seed: values.seed === undefined ? undefined : Number(values.seed),
  evalFreq: evalFreq === 'never' ? Infinity : count('eval-freq', evalFreq),
  maxLength: count('max-length', values['max-length']),
  onProgress: print,
};
let result: SpamFinetuneResult;
if (values.data !== undefined) {
  const text = decodeUtf8(await readFile(values.data), values.data);
  result = { ...(await fineTuneFileClassifier({ ...common, text, name: values.data })), samples: [] };
} else {
  const tsv = await readFile(values.tsv, 'utf8').catch((err: Error) => {
    throw new Error(`scratchgpt: cannot read the SMS Spam Collection at ${values.tsv} (${err.message}); pass --tsv FILE`);
  });
  result = await fineTuneSpamClassifier({ ...common, tsv });
}
const { train, val, test } = result.accuracy;
console.log(`accuracy: train ${pct(train)}, val ${pct(val)} (${pct(result.valAccuracyBefore)} before training), test ${pct(test)}`);
console.log(`training: ${result.stepSeconds.length} steps, peak ${(result.trainingPeakBytes / 2 ** 20).toFixed(1)} MiB live on the GPU`);
for (const k of result.report.classes) console.log(`${k.label}: precision ${pct(k.precision)}, recall ${pct(k.recall)}, F1 ${k.f1.toFixed(3)}`);
for (const s of result.samples) console.log(`${JSON.stringify(s.text)} → ${s.label} (p(spam) ${s.spamProbability.toFixed(3)}; the book: ${s.expected})`);
if (values.report) {
  const { model, ...figures } = result;
  await writeFile(values.report, JSON.stringify({ adapter: gpu.adapterName, ...figures }, null, 2));
}
removeLoRA(result.model); // merged into the weights: the file has the plain model's names (no-op without LoRA)
await saveClassifier(values.out, result.model, { maxLength: result.maxLength });
console.log(`classifier: ${values.out}`);
result.model.dispose();
