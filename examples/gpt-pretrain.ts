/**
 * Pretrain a small GPT and generate text with @scratchgpt/gpt: the book's chapter 5 in miniature
 * (a 6.5M-parameter model on two paragraphs of the book's the-verdict.txt, well under a minute on a
 * CPU-only adapter). Runtime-neutral: the same file runs in Node and, bundled, in a browser page.
 */
import {
  GPTModel,
  createDataLoader,
  decode,
  encode,
  generate,
  gptConfig,
  init,
  loaderLoss,
  trainModel,
  trainValSplit,
} from '@scratchgpt/gpt';

const TEXT = `I had always thought Jack Gisburn rather a cheap genius--though a good fellow enough--so it was no great surprise to me to hear that, in the height of his glory, he had dropped his painting, married a rich widow, and established himself in a villa on the Riviera. (Though I rather thought it would have been Rome or Florence.)

"The height of his glory"--that was what the women called it. I can hear Mrs. Gideon Thwing--his last Chicago sitter--deploring his unaccountable abdication. "Of course it's going to send the value of my picture 'way up; but I don't think of that, Mr. Rickham--the loss to Arrt is all I think of." The word, on Mrs. Thwing's lips, multiplied its _rs_ as though they were reflected in an endless vista of mirrors. And it was not only the Mrs. Thwings who mourned. Had not the exquisite Hermia Croft, at the last Grafton Gallery show, stopped me before Gisburn's "Moon-dancers" to say, with tears in her eyes: "We shall not look upon its like again"?`;

const gpu = await init();
console.log(`adapter: ${gpu.adapterName} (${gpu.featureLevel})`);
const text = TEXT; // your own text here: a book chapter trains a far better model (see `pnpm pretrain`)
const { train, val } = trainValSplit(text, 0.85);
const contextLength = 32;
const model = new GPTModel(gptConfig('gpt2-small', { contextLength, embDim: 64, nHeads: 4, nLayers: 2, dropRate: 0 }));
console.log(`model: ${(model.numParameters() / 1e6).toFixed(1)}M parameters; ${encode(text).length} tokens of text`);
const trainLoader = createDataLoader(train, { batchSize: 2, maxLength: contextLength, stride: contextLength, shuffle: true });
const valLoader = createDataLoader(val, { batchSize: 1, maxLength: contextLength, stride: contextLength, dropLast: false });
console.log(`before training: validation loss ${(await loaderLoss(model, valLoader)).toFixed(3)}`);

const result = await trainModel(model, trainLoader, valLoader, {
  epochs: 4,
  lr: 3e-3,
  warmupSteps: 2,
  minLr: 2e-4,
  maxGradNorm: 1,
  evalFreq: 4,
  evalIter: 1,
  onProgress: (p) => {
    if (p.trainLoss !== undefined) console.log(`step ${p.step}/${p.totalSteps}: train loss ${p.trainLoss.toFixed(3)}, val loss ${p.valLoss!.toFixed(3)}`);
  },
});
console.log(`trained ${result.finalStep} steps`);

const prompt = 'The height of his glory';
const ids = await generate(model, encode(prompt), { maxNewTokens: 12, temperature: 0.8, topK: 20, seed: 7 });
console.log(`sample: ${JSON.stringify(decode(ids))}`);
result.optimizer.dispose();
model.dispose();
