/**
 * Instruction fine-tuning (the book's chapter 7, section 7.6): the gpt package's training loop
 * (`trainLoop`: AdamW, schedules, clipping, accumulation, evaluation, checkpoints, resume) with the
 * language-model loss on collated instruction batches (targets of -100 do not count), and a response
 * to a sample entry generated after every epoch.
 */
import { checkTokenIds, crossEntropy, embedding, fromArray, matmul, scope, type Tensor } from '@scratchgpt/core';
import { batchLoss, trainLoop, type EpochSource, type GPTModel, type TokenBatch, type TrainResult, type TrainSettings } from '@scratchgpt/gpt';
import { IGNORE_INDEX } from './collate';
import type { InstructionEntry } from './prompts';
import { generateResponse, type ResponseOptions } from './respond';

/** The book's chapter-7 settings: AdamW lr 5e-5, weight decay 0.1, 2 epochs, evaluation every 5 steps on 5 batches. */
export const BOOK_INSTRUCTION_SETTINGS = Object.freeze({ epochs: 2, lr: 5e-5, weightDecay: 0.1, evalFreq: 5, evalIter: 5 });

/**
 * Mean next-token cross-entropy of a collated instruction batch over the targets that count (not
 * -100) — the book's `calc_loss_batch` on `custom_collate_fn` batches, i.e. the same value and
 * gradients as `batchLoss` of @scratchgpt/gpt. It runs the final norm and the output head only on
 * the positions whose target counts: padding (and, with prompt masking, the prompt) never reaches the
 * 50257-wide head, which dominates the cost of small models. A batch with no counted target falls
 * back to `batchLoss` (NaN, as in PyTorch).
 * @example
 * ```ts
 * const loss = instructionLoss(model, collateInstructions([encode(text)]));
 * ```
 */
export function instructionLoss(model: GPTModel, batch: TokenBatch): Tensor {
  const { vocabSize, embDim: C } = model.config;
  const [B, T] = batch.shape;
  checkTokenIds(batch.inputs, vocabSize, { what: 'input token id', shape: batch.shape });
  checkTokenIds(batch.targets, vocabSize, { what: 'target token id', shape: batch.shape, ignoreIndex: IGNORE_INDEX });
  const rows: number[] = [];
  const targets: number[] = [];
  for (let i = 0; i < B * T; i++) {
    if (batch.targets[i] === IGNORE_INDEX) continue;
    rows.push(i);
    targets.push(batch.targets[i]);
  }
  if (rows.length === 0 || rows.length === B * T) return batchLoss(model, batch);
  return scope(() => {
    const hidden = model.trunk(fromArray(batch.inputs, [B, T], { dtype: 'i32' })).reshape([B * T, C]); // [B·T, C]
    // `embedding` picks rows (its backward scatters the gradient back): [N, C] for the N counted positions.
    const picked = embedding(fromArray(rows, [rows.length], { dtype: 'i32' }), hidden); // [N, C]
    const x = model.final_norm.forward(picked); // [N, C]
    const logits = model.out_head ? model.out_head.forward(x) : matmul(x, model.tok_emb.weight, { transB: true }); // [N, V]
    return crossEntropy(logits, fromArray(targets, [targets.length], { dtype: 'i32' })); // [1]
  });
}

/** Options of {@link trainInstructions}: the loop's settings (book defaults) plus a sample entry. */
export interface InstructionTrainOptions extends TrainSettings {
  /**
   * An entry whose response is generated after every epoch (the book: the first validation entry).
   * `options` default to greedy, 50 new tokens (the book's `generate_and_print_sample`), stopping at
   * `<|endoftext|>`, the Alpaca format and GPT-2's tokenizer.
   */
  sample?: { entry: InstructionEntry; options?: ResponseOptions };
}

export interface InstructionTrainResult extends TrainResult {
  /** The sample entry's response after each epoch (extracted as in the book); empty without a sample. */
  sampleResponses: string[];
}

/**
 * Instruction fine-tuning (the book's `train_model_simple` in chapter 7): {@link instructionLoss} on
 * collated batches (an `InstructionLoader`), AdamW over the trainable parameters only (all, or the
 * LoRA adapters after `applyLoRA`), evaluation of the train/validation loss every `evalFreq` steps on
 * `evalIter` batches (after steps 1, 1 + evalFreq, ...), and the sample entry's response after every
 * epoch (reported as `sampleText` in `onProgress`). Defaults are the book's
 * ({@link BOOK_INSTRUCTION_SETTINGS}); every `trainLoop` setting applies.
 * @example
 * ```ts
 * const { train, val } = bookInstructionSplit(parseInstructionData(json));
 * const trainLoader = new InstructionLoader(new InstructionDataset(train), { batchSize: 8, shuffle: true, dropLast: true, allowedMaxLength: 1024 });
 * const valLoader = new InstructionLoader(new InstructionDataset(val), { batchSize: 8, allowedMaxLength: 1024 });
 * const result = await trainInstructions(model, trainLoader, valLoader, {
 *   sample: { entry: val[0] },
 *   onProgress: (p) => p.sampleText !== undefined && console.log(p.sampleText),
 * });
 * ```
 */
export async function trainInstructions(
  model: GPTModel,
  train: EpochSource<TokenBatch>,
  val: EpochSource<TokenBatch>,
  options: InstructionTrainOptions = {},
): Promise<InstructionTrainResult> {
  const { sample, ...settings } = options;
  const result = await trainLoop(model, train, val, {
    ...BOOK_INSTRUCTION_SETTINGS,
    ...settings,
    loss: instructionLoss,
    onEpochEnd: sample
      ? async (m) => ({ sampleText: await generateResponse(m, sample.entry, { maxNewTokens: 50, ...sample.options }) })
      : undefined,
  });
  return { ...result, sampleResponses: result.epochReports.map((r) => r.sampleText ?? '') };
}
