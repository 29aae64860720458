/**
 * `scratchgpt finetune instruct`: the book's chapter-7 instruction fine-tuning on its 1100
 * instruction/response pairs (split 935 / 55 / 110). With `--weights` it runs the book's recipe on a
 * GPT-2 model (the book: gpt2-medium; AdamW lr 5e-5, weight decay 0.1, 2 epochs, batch 8); without,
 * a small built-in GPT over the subvocabulary of the training texts, trained from scratch in minutes
 * on a software adapter. `--lora r,alpha` trains LoRA adapters only. Prints losses with a progress
 * bar and the first validation entry's response after every epoch, then generates the test responses
 * and writes the model (Hugging Face GPT-2 layout, LoRA merged), the responses file and a loss plot.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { memory } from '@scratchgpt/core/node';
import { fixedOrder, GPTModel, gptConfig, loadGPT2, meanLoss, saveGPT2 } from '@scratchgpt/gpt';
import {
  applyLoRA,
  bookInstructionSplit,
  formatExample,
  generateResponses,
  instructionLoss,
  InstructionDataset,
  InstructionLoader,
  loraAdapterBytes,
  parseInstructionData,
  promptFormat,
  removeLoRA,
  responsesJson,
  Subvocabulary,
  trainInstructions,
  type ResponseOptions,
} from '@scratchgpt/finetune';
import { initDevice, lossPlotSvg, readDataFile, recipeSettings, TrainingDisplay } from './finetune-shared';
import { trainingStateBytes, type LoRAOption } from './lora-option';
import type { TrainingInfo } from './generate';
import { ProgressBar } from './progress';

export interface InstructOptions {
  /** GPT-2 safetensors path or URL; none = the built-in model. */
  weights?: string;
  lora?: LoRAOption;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  /** `alpaca` (default) or `phi3`. */
  format?: string;
  /** Mask the prompt tokens in the targets (the book's exercise 7.2). */
  maskInstruction: boolean;
  /** Truncate training texts to this many tokens (default: the model's context length, as the book). */
  maxLength?: number;
  /** New tokens per test response (default 256, the book's; built-in 64). */
  maxNewTokens?: number;
  /** Built-in model shape. */
  embDim?: number;
  layers?: number;
  heads?: number;
  /** Use at most this many entries of each split. */
  limit?: number;
  /** Output directory. */
  out: string;
  /** SVG loss plot (default `<out>/loss.svg`). */
  plot?: string;
  /** Instruction data (JSON or JSONL; default the bundled instruction-data.json). */
  data?: string;
  seed: number;
  backend?: string;
}

/** A recipe: optimizer settings and generation length. */
interface Recipe {
  name: string;
  epochs: number;
  batchSize: number;
  lr: number;
  maxNewTokens: number;
}

/** The book's chapter-7 recipe on GPT-2 weights. */
const BOOK_RECIPE: Recipe = { name: "the book's (GPT-2)", epochs: 2, batchSize: 8, lr: 5e-5, maxNewTokens: 256 };

/**
 * The built-in default: a small GPT over the training texts' subvocabulary (~3,400 of GPT-2's
 * tokens; the 50257-wide head would cost 15× more than the rest of the model), trained from scratch.
 * Responses stay short (the longest training response is under 60 tokens).
 */
const BUILT_IN = {
  recipe: { name: 'built-in (small GPT from scratch, training subvocabulary)', epochs: 2, batchSize: 8, lr: 2e-3, maxNewTokens: 64 } satisfies Recipe,
  embDim: 64,
  nLayers: 2,
  nHeads: 4,
  contextLength: 256,
};

const RESPONSES_FILE = 'instruction-data-with-response.json';

function fmtBytes(n: number): string {
  return `${n.toLocaleString('en-US')} bytes (${(n / 2 ** 20).toFixed(1)} MiB)`;
}

export async function runInstruct(o: InstructOptions): Promise<number> {
  const started = performance.now();
  // Options first: a typo should not wait for the GPU.
  const format = promptFormat((o.format ?? 'alpaca') as 'alpaca');
  const base = o.weights ? BOOK_RECIPE : BUILT_IN.recipe;
  const recipe: Recipe = {
    ...base,
    epochs: o.epochs ?? base.epochs,
    batchSize: o.batchSize ?? base.batchSize,
    lr: o.lr ?? base.lr,
    maxNewTokens: o.maxNewTokens ?? base.maxNewTokens,
  };
  const text = await readDataFile(o.data, 'instruction-data.json', 'the instruction data');
  const split = bookInstructionSplit(parseInstructionData(text));
  if (o.limit !== undefined) for (const key of ['train', 'val', 'test'] as const) split[key] = split[key].slice(0, o.limit);
  if (split.train.length === 0 || split.val.length === 0) throw new Error('scratchgpt: the instruction data needs at least one training and one validation entry after the split');

  await initDevice(o.backend, o.seed);
  // The built-in model reads the subvocabulary of the training texts; GPT-2 weights read GPT-2 ids.
  const vocab = o.weights ? null : Subvocabulary.fromTexts(split.train.map((e) => formatExample(e, format)));
  let model: GPTModel;
  if (o.weights) {
    // The book's load_weights_into_gpt: the LM head is a copy of wte that trains on its own (GPT-2 355M:
    // 406,286,336 parameters; LoRA rank 16 on every Linear, the head included: 7,898,384).
    model = await loadGPT2(o.weights, { untieHead: true });
  } else {
    const config = gptConfig({
      vocabSize: vocab!.size,
      contextLength: BUILT_IN.contextLength,
      embDim: o.embDim ?? BUILT_IN.embDim,
      nLayers: o.layers ?? BUILT_IN.nLayers,
      nHeads: o.heads ?? BUILT_IN.nHeads,
      dropRate: 0,
      qkvBias: false,
      tieWeights: false,
    });
    model = new GPTModel(config);
  }
  const c = model.config;
  const allParameters = model.numParameters();
  if (o.lora) applyLoRA(model, { ...o.lora, seed: o.seed });
  const trainable = model.numParameters({ trainableOnly: true });
  const tokenizer: Pick<ResponseOptions, 'encode' | 'decode'> = vocab ? { encode: (t) => vocab.encode(t), decode: (ids) => vocab.decode(ids) } : {};
  const eosId = vocab ? vocab.id(50256) : 50256;

  const maxLength = Math.min(o.maxLength ?? c.contextLength, c.contextLength);
  const tokenize = vocab ? (t: string) => vocab.encode(t) : undefined;
  const collate = { allowedMaxLength: maxLength, padTokenId: eosId, maskPrompt: o.maskInstruction };
  const trainSet = new InstructionDataset(split.train, { format, tokenize });
  const trainLoader = new InstructionLoader(trainSet, { batchSize: recipe.batchSize, shuffle: true, dropLast: true, seed: o.seed, ...collate });
  const valLoader = new InstructionLoader(new InstructionDataset(split.val, { format, tokenize }), { batchSize: recipe.batchSize, ...collate });
  if (trainLoader.numBatches === 0) throw new Error(`scratchgpt: ${split.train.length} training entries make no full batch of ${recipe.batchSize} (lower --batch-size)`);

  console.log(
    `recipe: ${recipe.name}; ${recipe.epochs} epochs, batch ${recipe.batchSize}, lr ${recipe.lr}, weight decay 0.1, format ${format.name}` +
      `${o.maskInstruction ? ', prompt tokens masked' : ''}${o.lora ? `, LoRA rank ${o.lora.rank} alpha ${o.lora.alpha}` : ''}, seed ${o.seed}`,
  );
  console.log(
    `model: C=${c.embDim}, L=${c.nLayers}, NH=${c.nHeads}, V=${c.vocabSize}${vocab ? ' (training subvocabulary + unknown)' : ''}, ` +
      `${(allParameters / 1e6).toFixed(2)}M parameters, ${trainable.toLocaleString('en-US')} trainable` +
      (o.lora ? `; gradients + AdamW state ${fmtBytes(trainingStateBytes(trainable))} instead of ${fmtBytes(trainingStateBytes(allParameters))}` : ''),
  );
  console.log(
    `data: ${split.train.length} train / ${split.val.length} val / ${split.test.length} test entries; longest training text ${trainSet.maxLength} tokens ` +
      `(cut at ${maxLength}); ${trainLoader.numBatches} train batches per epoch`,
  );
  const initial = { train: await meanLoss(model, fixedOrder(trainLoader), instructionLoss, 5), val: await meanLoss(model, fixedOrder(valLoader), instructionLoss, 5) };
  console.log(`initial loss (5 batches): train ${initial.train.toFixed(3)}, val ${initial.val.toFixed(3)}`);

  const display = new TrainingDisplay(trainLoader.numBatches * recipe.epochs, recipe.epochs, {
    bytes: fmtBytes,
    epochEnd: (p) => (p.sampleText !== undefined ? `epoch ${p.epoch + 1} response to the first validation entry: ${JSON.stringify(p.sampleText)}` : undefined),
    lossDetail: (p) => ` (${p.tokensSeen} tokens seen)`,
  });
  const result = await trainInstructions(model, trainLoader, valLoader, {
    ...recipeSettings(recipe, 5),
    sample: { entry: split.val[0], options: { format, eosId, ...tokenizer } },
    onProgress: display.onProgress,
  });
  const trainSeconds = display.finish();
  console.log(`trained ${result.finalStep} steps in ${trainSeconds.toFixed(1)} s (${(trainSeconds / Math.max(1, result.finalStep)).toFixed(2)} s/step incl. evaluation); live GPU memory ${fmtBytes(memory().liveBytes)}`);
  result.optimizer.dispose();

  const responseBar = new ProgressBar(split.test.length);
  const t1 = performance.now();
  const responses = await generateResponses(model, split.test, {
    format,
    maxNewTokens: recipe.maxNewTokens,
    eosId,
    ...tokenizer,
    onProgress: (p) => responseBar.update(p.done, 'test responses'),
  });
  responseBar.finish();
  console.log(`generated ${responses.length} test responses in ${((performance.now() - t1) / 1000).toFixed(1)} s (greedy, up to ${recipe.maxNewTokens} new tokens)`);
  for (const entry of responses.slice(0, 3)) {
    console.log(`\n${format.prompt(entry)}\n\nCorrect response:\n>> ${entry.output}\n\nModel response:\n>> ${entry.model_response as string}\n${'-'.repeat(40)}`);
  }

  await mkdir(o.out, { recursive: true });
  const written: string[] = [];
  if (o.lora) {
    await writeFile(join(o.out, 'lora-adapters.safetensors'), await loraAdapterBytes(model));
    written.push('lora-adapters.safetensors');
    removeLoRA(model); // merged: the exported model is a plain GPT-2
  }
  await saveGPT2(o.out, model);
  written.push('model.safetensors', 'config.json');
  if (vocab) {
    await writeFile(join(o.out, 'vocabulary.json'), `${JSON.stringify({ gpt2Ids: Array.from(vocab.gpt2Ids), unknownId: vocab.unknownId })}\n`);
    written.push('vocabulary.json');
  }
  await writeFile(join(o.out, RESPONSES_FILE), responsesJson(responses));
  written.push(RESPONSES_FILE);
  // How prompts were formatted, for `scratchgpt generate --model DIR --instruction ...`.
  const training: TrainingInfo = { format: format.name as TrainingInfo['format'], maskInstruction: o.maskInstruction };
  await writeFile(join(o.out, 'training.json'), `${JSON.stringify(training)}\n`);
  written.push('training.json');
  const plot = o.plot ?? join(o.out, 'loss.svg');
  await writeFile(plot, lossPlotSvg(result.tokensSeen, 'tokens seen', result));
  console.log(`\nwritten to ${o.out}: ${written.join(', ')}; loss plot: ${plot}`);
  console.log(`score the responses with: scratchgpt judge ${join(o.out, RESPONSES_FILE)} --url http://localhost:11434 --model llama3`);
  console.log(`total time ${((performance.now() - started) / 1000).toFixed(1)} s`);
  model.dispose();
  return 0;
}
