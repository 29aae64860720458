/**
 * `scratchgpt pretrain`: the book's chapter-5 pretraining run on the-verdict.txt, scaled to a model
 * that trains in minutes on a software adapter. Prints losses with a progress bar, a sample per
 * epoch, writes a loss plot (SVG) and a checkpoint.
 */
import { writeFile } from 'node:fs/promises';
import { init, manualSeed, type Backend } from '@scratchgpt/core/node';
import {
  createDataLoader,
  decode,
  encode,
  generate,
  GPTModel,
  gptConfig,
  loaderLoss,
  saveCheckpoint,
  trainModel,
  trainValSplit,
} from '@scratchgpt/gpt';
// the-verdict.txt (Edith Wharton, 1908; public domain), the book's pretraining text: the default corpus,
// inlined by the build's text loader (tools/wgsl.ts).
import THE_VERDICT from '../data/the-verdict.txt';
import { readTextFile } from './finetune-shared';
import { lossPlotSvg, ProgressBar } from './progress';

export interface PretrainOptions {
  text?: string;
  epochs: number;
  embDim: number;
  layers: number;
  heads: number;
  context: number;
  batch: number;
  lr: number;
  out?: string;
  plot?: string;
  backend?: string;
  seed: number;
}

export async function runPretrain(o: PretrainOptions): Promise<number> {
  const gpu = await init({ backend: o.backend as Backend | undefined });
  console.log(`adapter: ${gpu.adapterName} (${gpu.backend}, ${gpu.featureLevel})`);
  const text = o.text ? await readTextFile(o.text, 'the training text') : THE_VERDICT;
  manualSeed(o.seed);
  const config = gptConfig('gpt2-small', { contextLength: o.context, embDim: o.embDim, nLayers: o.layers, nHeads: o.heads, dropRate: 0.1 });
  const model = new GPTModel(config);
  const { train, val } = trainValSplit(text, 0.9);
  const trainLoader = createDataLoader(train, { batchSize: o.batch, maxLength: o.context, stride: o.context, shuffle: true, seed: o.seed });
  const valLoader = createDataLoader(val, { batchSize: o.batch, maxLength: o.context, stride: o.context, dropLast: false });
  console.log(
    `model: ${(model.numParameters() / 1e6).toFixed(2)}M parameters (C=${o.embDim}, L=${o.layers}, NH=${o.heads}, T=${o.context}); ` +
      `data: ${encode(text, { allowedSpecial: 'all' }).length} tokens, ${trainLoader.numBatches} train / ${valLoader.numBatches} val batches of ${o.batch}×${o.context}`,
  );
  console.log(`initial loss: train ${(await loaderLoss(model, trainLoader)).toFixed(3)}, val ${(await loaderLoss(model, valLoader)).toFixed(3)}`);
  const prompt = encode('Every effort moves you');
  const bar = new ProgressBar(trainLoader.numBatches * o.epochs);
  const t0 = performance.now();
  const result = await trainModel(model, trainLoader, valLoader, {
    epochs: o.epochs,
    lr: o.lr,
    warmupSteps: Math.max(1, Math.floor(trainLoader.numBatches / 2)),
    initialLr: o.lr / 100,
    minLr: o.lr / 10,
    maxGradNorm: 1,
    weightDecay: 0.1,
    evalFreq: 5,
    evalIter: 5,
    sample: { prompt, decode, options: { maxNewTokens: 25 } },
    onProgress: (p) => {
      if (p.sampleText !== undefined) {
        bar.log(`epoch ${p.epoch + 1} sample: ${JSON.stringify(p.sampleText)}`);
        return;
      }
      if (p.trainLoss !== undefined) bar.log(`epoch ${p.epoch + 1} step ${String(p.step).padStart(4)}: train loss ${p.trainLoss.toFixed(3)}, val loss ${p.valLoss!.toFixed(3)} (lr ${p.lr.toExponential(2)}, ${p.tokensSeen} tokens)`);
      bar.update(p.step, `lr ${p.lr.toExponential(1)}`);
    },
  });
  bar.finish();
  const seconds = (performance.now() - t0) / 1000;
  const tokens = trainLoader.numBatches * o.batch * o.context * o.epochs;
  console.log(`trained ${result.finalStep} steps in ${seconds.toFixed(1)} s (${(tokens / seconds).toFixed(0)} tokens/s incl. evaluation and sampling)`);
  const sample = await generate(model, prompt, { maxNewTokens: 30, temperature: 1.0, topK: 25, seed: o.seed });
  console.log(`sample (temperature 1, top-k 25): ${JSON.stringify(decode(sample))}`);
  if (o.plot) {
    await writeFile(o.plot, lossPlotSvg(result.tokensSeen, result.trainLosses, result.valLosses));
    console.log(`loss plot: ${o.plot}`);
  }
  if (o.out) {
    await saveCheckpoint(o.out, model, result.optimizer, { step: result.finalStep, extra: { trainLosses: result.trainLosses, valLosses: result.valLosses } });
    console.log(`checkpoint: ${o.out}`);
  }
  const first = result.trainLosses[0];
  const last = result.trainLosses[result.trainLosses.length - 1];
  return Number.isFinite(last) && last < first ? 0 : 1;
}
