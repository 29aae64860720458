/**
 * A short language-model pretraining of a small GPT's trunk on unlabelled texts, so that a classifier
 * fine-tune (and above all a LoRA fine-tune, which cannot move a frozen random trunk) starts from
 * representations that know the texts' words. The texts are joined with `<|endoftext|>` and cut into
 * windows (the gpt package's `SlidingWindowDataset` and `DataLoader`), and the gpt package's training
 * loop (`trainLoop`) minimises the next-token loss. The output layer is a subvocabulary head: a
 * `Linear(C, n)` over the texts' n − 1 most frequent GPT-2 tokens plus one "other token" class, since
 * with GPT-2's 50257 tokens the head would cost a small model most of its time. The head is freed
 * afterwards; the GPT's own LM head is neither trained nor touched.
 */
import { crossEntropy, fromArray, Linear, Module, scope, ScratchGPTError, type Tensor } from '@scratchgpt/core';
import {
  DataLoader,
  encode,
  EOT_TOKEN,
  meanLoss,
  SlidingWindowDataset,
  trainLoop,
  type GPTModel,
  type TokenBatch,
  type TrainProgress,
} from '@scratchgpt/gpt';
import { Subvocabulary } from './subvocab';

/** Options of {@link pretrainTrunk}. */
export interface TrunkPretrainOptions {
  /** Passes over the windows (default 1). */
  epochs?: number;
  /** Windows per batch (default 16). */
  batchSize?: number;
  /** AdamW learning rate (default 3e-3). */
  lr?: number;
  /** AdamW decoupled weight decay (default 0.1). */
  weightDecay?: number;
  /** Tokens per window (default: the model's context length). */
  windowLength?: number;
  /** Output classes of the head: the most frequent `headVocab − 1` tokens plus "other" (default 2048). */
  headVocab?: number;
  /** Seeds the window order and the head's initialisation (default 123). */
  seed?: number;
  /** Batches the loss before and after is measured on (default 8). */
  evalBatches?: number;
  /** Called after every optimizer step. */
  onProgress?: (progress: TrainProgress) => unknown;
}

/** What {@link pretrainTrunk} did. */
export interface TrunkPretrainResult {
  texts: number;
  /** Tokens of the joined texts (separators included). */
  tokens: number;
  windows: number;
  steps: number;
  /** Classes of the head (frequent tokens + "other"). */
  headVocab: number;
  /** Mean next-token loss on the first `evalBatches` windows (in order) before and after. */
  lossBefore: number;
  lossAfter: number;
}

/** The GPT's trunk and final norm (its own tensors) under a subvocabulary head, for the loop. */
class SubvocabularyLM extends Module<[Tensor]> {
  readonly head: Linear;

  constructor(
    readonly gpt: GPTModel,
    size: number,
    seed: number,
  ) {
    super();
    // Everything but the full-vocabulary LM head, so the optimizer never sees (or allocates state for) it.
    for (const [name, child] of gpt.namedChildren()) if (name !== 'out_head') this.module(name, child);
    this.head = this.module('head', new Linear(gpt.config.embDim, size, { bias: false, seed }));
    this.training = gpt.training;
  }

  /** ids i32 `[B, T]` → logits `[B, T, n]`. */
  override forward(ids: Tensor): Tensor {
    return scope(() => this.head.forward(this.gpt.final_norm.forward(this.gpt.trunk(ids))));
  }

  override train(flag = true): this {
    super.train(flag);
    this.gpt.train(flag);
    return this;
  }
}

/** The `headVocab − 1` most frequent ids of `ids` (ties: the smaller id first), `<|endoftext|>` always among them. */
function frequentTokens(ids: readonly number[], headVocab: number): Subvocabulary {
  const counts = new Map<number, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  counts.set(EOT_TOKEN, Infinity);
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return new Subvocabulary(ranked.slice(0, headVocab - 1).map(([id]) => id));
}

/** Case and runs of whitespace ignored: near-identical copies of a held-out text count as the text. */
function normalised(text: string): string {
  return text.toLowerCase().replace(/\s+/g, ' ').trim();
}

/**
 * The distinct texts of `rows` (first appearance kept, in order) that appear in none of the `exclude`
 * lists, compared ignoring case and runs of whitespace: a pretraining corpus that never shows the model
 * a validation or test text (the SMS Spam Collection repeats many texts verbatim). Labels are unused.
 * @example
 * ```ts
 * const split = bookSmsSpamSplit(tsv);
 * const texts = pretrainingTexts(parseSmsSpam(tsv, { quoting: 'pandas' }), [split.val, split.test]);
 * ```
 */
export function pretrainingTexts(rows: Iterable<{ text: string }>, exclude: readonly Iterable<{ text: string }>[]): string[] {
  const seen = new Set<string>();
  for (const list of exclude) for (const { text } of list) seen.add(normalised(text));
  const out: string[] = [];
  for (const { text } of rows) {
    const key = normalised(text);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(text);
  }
  return out;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new ScratchGPTError('value', `scratchgpt: pretrainTrunk ${name} must be a positive integer, got ${v}`);
}

/**
 * Pretrains `gpt`'s token and position embeddings, blocks and final norm in place on `texts` with the
 * next-token loss (see the module comment); every parameter of those trains, whatever its
 * `requiresGrad` was (restored after). Deterministic for a given seed (after `manualSeed` for the
 * model itself). Call `init()` first.
 * @example
 * ```ts
 * manualSeed(123);
 * const gpt = builtInSpamGPT();
 * const r = await pretrainTrunk(gpt, spamPretrainingTexts(rows, split), { seed: 123 });
 * console.log(`loss ${r.lossBefore.toFixed(2)} → ${r.lossAfter.toFixed(2)}`);
 * const model = GPTClassifier.fromGPT(gpt, { numClasses: 2, pooling: 'mean', trainable: 'all' });
 * ```
 */
export async function pretrainTrunk(gpt: GPTModel, texts: readonly string[], options: TrunkPretrainOptions = {}): Promise<TrunkPretrainResult> {
  const { epochs = 1, batchSize = 16, lr = 3e-3, weightDecay = 0.1, windowLength = gpt.config.contextLength, headVocab = 2048, seed = 123, evalBatches = 8, onProgress } = options;
  positiveInt('epochs', epochs);
  positiveInt('batchSize', batchSize);
  positiveInt('windowLength', windowLength);
  positiveInt('evalBatches', evalBatches);
  if (!Number.isInteger(headVocab) || headVocab < 2) throw new ScratchGPTError('range', `scratchgpt: pretrainTrunk headVocab must be an integer ≥ 2, got ${headVocab}`);
  if (windowLength > gpt.config.contextLength) throw new ScratchGPTError('range', `scratchgpt: pretrainTrunk windowLength ${windowLength} exceeds the model's context length ${gpt.config.contextLength}`);
  const ids: number[] = [];
  for (const text of texts) {
    for (const id of encode(text)) ids.push(id);
    ids.push(EOT_TOKEN);
  }
  const vocab = frequentTokens(ids, headVocab);
  const dataset = new SlidingWindowDataset(ids, windowLength, windowLength, { vocabSize: gpt.config.vocabSize });
  const loader = new DataLoader(dataset, { batchSize, shuffle: true, dropLast: false, seed });
  if (dataset.length === 0) {
    throw new ScratchGPTError('shape', `scratchgpt: pretrainTrunk: ${texts.length} texts (${ids.length} tokens) make no window of ${windowLength} + 1 tokens`);
  }
  const toHead = new Int32Array(gpt.config.vocabSize).fill(vocab.unknownId);
  vocab.gpt2Ids.forEach((id, i) => (toHead[id] = i));
  const loss = (model: SubvocabularyLM, batch: TokenBatch): Tensor =>
    scope(() => {
      const [B, T] = batch.shape;
      const logits = model.forward(fromArray(batch.inputs, [B, T], { dtype: 'i32' })); // [B, T, n]
      const targets = fromArray(Int32Array.from(batch.targets, (id) => toHead[id]), [B * T], { dtype: 'i32' });
      return crossEntropy(logits.reshape([B * T, vocab.size]), targets);
    });

  const lm = new SubvocabularyLM(gpt, vocab.size, seed);
  const frozen = lm.parameters().filter((p) => !p.requiresGrad);
  lm.requiresGrad(true);
  try {
    // The same training windows before and after: the first batches of epoch 0's order.
    const lossBefore = await meanLoss(lm, loader.batches(0), loss, evalBatches);
    const result = await trainLoop(lm, loader, loader, { loss, epochs, lr, weightDecay, evalFreq: Infinity, onProgress });
    result.optimizer.dispose();
    const lossAfter = await meanLoss(lm, loader.batches(0), loss, evalBatches);
    return { texts: texts.length, tokens: ids.length, windows: dataset.length, steps: result.finalStep, headVocab: vocab.size, lossBefore, lossAfter };
  } finally {
    for (const p of frozen) p.requiresGrad = false;
    lm.head.dispose();
  }
}
