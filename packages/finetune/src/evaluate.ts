/**
 * Evaluating a text classifier (the book's chapter 6): loss and accuracy over a loader, predictions,
 * a confusion matrix with per-class precision/recall/F1, and classifying new texts (`classify`,
 * batched `classifyAll`). Everything runs in eval mode without gradients and reads back once per
 * call (or once per batch of texts); the model's train/eval mode is restored afterwards.
 */
import { fromArray, inEvalMode, noGrad, ScratchGPTError, type Tensor } from '@scratchgpt/core';
import { encode, meanLoss } from '@scratchgpt/gpt';
import { classificationLogits, classificationLoss, type GPTClassifier } from './classifier';
import type { ClassificationBatch } from './datasets';

/** Predicted and true class indices of the rows evaluated, in loader order. */
export interface Predictions {
  predicted: Int32Array;
  labels: Int32Array;
}

function checkNumBatches(numBatches: number | undefined): void {
  if (numBatches !== undefined && !(Number.isInteger(numBatches) && numBatches >= 1)) {
    throw new ScratchGPTError('value', `scratchgpt: numBatches must be an integer ≥ 1, got ${numBatches}`);
  }
}

/**
 * The error for logits that are not finite, naming the model's state: the first parameter that holds
 * a non-finite value (read back here, on the error path only), or that every parameter is finite.
 */
async function nonFiniteLogits(model: GPTClassifier, where: string, value: number): Promise<ScratchGPTError> {
  for (const [name, p] of model.namedParameters()) {
    const data = await p.toArray();
    const at = data.findIndex((v) => !Number.isFinite(v));
    if (at >= 0) {
      return new ScratchGPTError('value',
        `scratchgpt: the classifier's logits for ${where} are ${value}: its parameter '${name}' holds ${data[at]} at index ${at} ` +
          '(a diverged training run, or weights loaded from a damaged file); no class can be chosen: retrain it or load good weights',
      );
    }
  }
  return new ScratchGPTError('value', `scratchgpt: the classifier's logits for ${where} are ${value} although every parameter is finite: the forward pass overflowed on this input`);
}

/** Row b's class (the first largest logit, like `torch.argmax`), or the row's first non-finite logit. */
function argmaxRow(logits: ArrayLike<number>, b: number, K: number): { index: number; bad?: number } {
  let index = 0;
  for (let j = 0; j < K; j++) {
    const v = logits[b * K + j];
    if (!Number.isFinite(v)) return { index: -1, bad: v };
    if (v > logits[b * K + index]) index = j;
  }
  return { index };
}

/**
 * Class predictions (the argmax of each row's logits) for the first `numBatches` batches (all by
 * default), read back together at the end. The forward passes are recorded in eval mode, which the
 * model gives back before the readback (so a training step running meanwhile keeps its dropout).
 * Non-finite logits are an error naming the model's state. A failing batch frees what was computed
 * before it.
 */
export async function predict(model: GPTClassifier, loader: Iterable<ClassificationBatch>, numBatches?: number): Promise<Predictions> {
  checkNumBatches(numBatches);
  const outputs: Tensor[] = [];
  const labels: Int32Array[] = [];
  try {
    inEvalMode(model, () =>
      noGrad(() => {
        let i = 0;
        for (const batch of loader) {
          if (numBatches !== undefined && i >= numBatches) break;
          outputs.push(classificationLogits(model, batch)); // [B, classes]
          labels.push(batch.labels);
          i++;
        }
      }),
    );
    const values = await Promise.all(outputs.map((t) => t.toArray() as Promise<Float32Array>));
    const K = model.numClasses;
    const predicted = new Int32Array(labels.reduce((n, l) => n + l.length, 0));
    let row = 0;
    for (const v of values) {
      for (let b = 0; b < v.length / K; b++, row++) {
        const { index, bad } = argmaxRow(v, b, K);
        if (bad !== undefined) throw await nonFiniteLogits(model, `row ${row} of the loader`, bad);
        predicted[row] = index;
      }
    }
    return { predicted, labels: concatInts(labels) };
  } finally {
    for (const t of outputs) t.dispose();
  }
}

function concatInts(parts: readonly Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Fraction of correctly classified rows over the first `numBatches` batches (all by default): the
 * book's `calc_accuracy_loader`. NaN for an empty loader.
 * @example
 * ```ts
 * const acc = await accuracy(model, testLoader); // 0.9567 in the book (GPT-2 124M, 5 epochs)
 * ```
 */
export async function accuracy(model: GPTClassifier, loader: Iterable<ClassificationBatch>, numBatches?: number): Promise<number> {
  const { predicted, labels } = await predict(model, loader, numBatches);
  if (labels.length === 0) return NaN;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct / labels.length;
}

/**
 * Mean cross-entropy of the classifier over the first `numBatches` batches (the book's
 * `calc_loss_loader` for classification); NaN for an empty loader. A failing batch frees the losses
 * computed before it.
 */
export async function classifierLoss(model: GPTClassifier, loader: Iterable<ClassificationBatch>, numBatches?: number): Promise<number> {
  return meanLoss(model, loader, classificationLoss, numBatches);
}

/**
 * Counts `matrix[true][predicted]` over `numClasses` classes.
 * @example
 * ```ts
 * confusionMatrix([0, 0, 1, 1], [0, 1, 1, 1], 2); // [[1, 1], [0, 2]]
 * ```
 */
export function confusionMatrix(labels: ArrayLike<number>, predicted: ArrayLike<number>, numClasses: number): number[][] {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new ScratchGPTError('value', `scratchgpt: numClasses must be a positive integer, got ${numClasses}`);
  if (labels.length !== predicted.length) throw new ScratchGPTError('value', `scratchgpt: confusionMatrix: ${labels.length} labels but ${predicted.length} predictions`);
  const matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const [t, p] = [labels[i], predicted[i]];
    for (const [what, c] of [['label', t], ['prediction', p]] as const) {
      if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new ScratchGPTError('range', `scratchgpt: confusionMatrix: ${what} ${c} at index ${i} is outside [0, ${numClasses})`);
    }
    matrix[t][p]++;
  }
  return matrix;
}

/** Precision, recall and F1 of one class (0 where undefined: no predictions or no rows of it). */
export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  /** Rows whose true class this is. */
  support: number;
}

/** Per-class metrics, their unweighted (macro) mean, the accuracy and the matrix they came from. */
export interface ClassificationReport {
  accuracy: number;
  classes: ClassMetrics[];
  macro: { precision: number; recall: number; f1: number };
  /** `matrix[true][predicted]`. */
  matrix: number[][];
}

/**
 * Per-class precision (`tp / predicted`), recall (`tp / support`) and F1 from a confusion matrix, with
 * macro averages and the accuracy; a ratio with a zero denominator counts as 0 (like scikit-learn's
 * `zero_division=0`).
 */
export function classificationReport(matrix: readonly (readonly number[])[], labels: readonly string[]): ClassificationReport {
  const n = matrix.length;
  if (labels.length !== n || matrix.some((row) => row.length !== n)) {
    throw new ScratchGPTError('value', `scratchgpt: classificationReport needs a square ${labels.length}×${labels.length} matrix for labels [${labels.join(', ')}]`);
  }
  const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
  let total = 0;
  let correct = 0;
  const classes = labels.map((label, c) => {
    const tp = matrix[c][c];
    const support = matrix[c].reduce((a, b) => a + b, 0);
    const predicted = matrix.reduce((a, row) => a + row[c], 0);
    total += support;
    correct += tp;
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, support);
    return { label, precision, recall, f1: ratio(2 * precision * recall, precision + recall), support };
  });
  const mean = (key: 'precision' | 'recall' | 'f1') => classes.reduce((a, c) => a + c[key], 0) / Math.max(1, n);
  return {
    accuracy: total === 0 ? NaN : correct / total,
    classes,
    macro: { precision: mean('precision'), recall: mean('recall'), f1: mean('f1') },
    matrix: matrix.map((row) => [...row]),
  };
}

/** Predictions over a loader summarised as a {@link ClassificationReport} (confusion matrix included). */
export async function evaluateClassifier(model: GPTClassifier, loader: Iterable<ClassificationBatch>, numBatches?: number): Promise<ClassificationReport> {
  const { predicted, labels } = await predict(model, loader, numBatches);
  return classificationReport(confusionMatrix(labels, predicted, model.numClasses), model.labels);
}

/** How {@link classify} turns a text into ids. */
export interface ClassifyOptions {
  /**
   * Pad (or truncate) every text to this many tokens, as in training: required by `last` pooling,
   * which reads position `maxLength − 1` (the book passes the training set's `max_length`). Other
   * poolings read only the real tokens; without it texts are padded to the longest one in the batch.
   */
  maxLength?: number;
  /** Text → token ids (default GPT-2's BPE `encode`). */
  tokenize?: (text: string) => ArrayLike<number>;
  /** Texts per forward pass in {@link classifyAll} (default 8). */
  batchSize?: number;
}

/** A classified text: the winning label, its index, and the probability of every class (label order). */
export interface Classification {
  label: string;
  index: number;
  probabilities: number[];
}

function softmaxRow(logits: ArrayLike<number>, from: number, count: number): number[] {
  let max = -Infinity;
  for (let j = 0; j < count; j++) max = Math.max(max, logits[from + j]);
  const exps = Array.from({ length: count }, (_, j) => Math.exp(logits[from + j] - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

/** Texts → one padded batch (ids, lengths), checked against the model's context length. */
function textBatch(model: GPTClassifier, texts: readonly string[], offset: number, options: ClassifyOptions): ClassificationBatch {
  const { maxLength, tokenize = (t: string) => encode(t) } = options;
  const { contextLength, vocabSize } = model.config;
  if (maxLength === undefined && model.pooling === 'last') {
    throw new ScratchGPTError('value', "scratchgpt: classify with 'last' pooling needs maxLength (the training length): the head reads position maxLength − 1");
  }
  if (maxLength !== undefined && !(Number.isInteger(maxLength) && maxLength >= 1 && maxLength <= contextLength)) {
    throw new ScratchGPTError('value', `scratchgpt: maxLength must be an integer in [1, ${contextLength}] (the context length), got ${maxLength}`);
  }
  const rows = texts.map((text, i) => {
    if (typeof text !== 'string') throw new ScratchGPTError('range', `scratchgpt: text ${offset + i} is not a string`);
    const ids = Array.from(tokenize(text));
    if (ids.length === 0) throw new ScratchGPTError('range', `scratchgpt: text ${offset + i} has no tokens`);
    ids.forEach((id, j) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new ScratchGPTError('range', `scratchgpt: text ${offset + i}: token id ${id} at position ${j} is outside the vocabulary [0, ${vocabSize})`);
    });
    return ids.slice(0, maxLength ?? contextLength);
  });
  const T = maxLength ?? Math.max(...rows.map((r) => r.length));
  const inputs = new Int32Array(rows.length * T).fill(model.padId);
  const lengths = new Int32Array(rows.length);
  rows.forEach((ids, b) => {
    inputs.set(ids, b * T);
    lengths[b] = ids.length;
  });
  return { inputs, labels: new Int32Array(rows.length), lengths, shape: [rows.length, T] };
}

/**
 * Classifies texts in batches of `batchSize`: one forward pass and one readback per batch.
 * @example
 * ```ts
 * const [a, b] = await classifyAll(model, ['You are a winner ...', 'Hey, dinner tonight?'], { maxLength: 120 });
 * a.label; // 'spam'
 * ```
 */
export async function classifyAll(model: GPTClassifier, texts: readonly string[], options: ClassifyOptions = {}): Promise<Classification[]> {
  const { batchSize = 8 } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ScratchGPTError('value', `scratchgpt: batchSize must be a positive integer, got ${batchSize}`);
  const batches: ClassificationBatch[] = [];
  for (let i = 0; i < texts.length; i += batchSize) batches.push(textBatch(model, texts.slice(i, i + batchSize), i, options));
  const out: Classification[] = [];
  const K = model.numClasses;
  for (const [n, batch] of batches.entries()) {
    // Recorded in eval mode; the mode is given back before the readback is awaited.
    const logits = inEvalMode(model, () =>
      noGrad(() => {
        const ids = fromArray(batch.inputs, [...batch.shape], { dtype: 'i32' });
        try {
          return model.forward(ids, { lengths: batch.lengths });
        } finally {
          ids.dispose();
        }
      }),
    );
    let values: Float32Array;
    try {
      values = (await logits.toArray()) as Float32Array;
    } finally {
      logits.dispose();
    }
    for (let b = 0; b < batch.shape[0]; b++) {
      const { index, bad } = argmaxRow(values, b, K);
      if (bad !== undefined) throw await nonFiniteLogits(model, `text ${n * batchSize + b}`, bad);
      out.push({ label: model.labels[index], index, probabilities: softmaxRow(values, b * K, K) });
    }
  }
  return out;
}

/**
 * Classifies one text (the book's `classify_review`): returns the label and the class probabilities.
 * @example
 * ```ts
 * const { label, probabilities } = await classify(model, 'Hey, just wanted to check if we are still on for dinner tonight?', { maxLength: 120 });
 * ```
 */
export async function classify(model: GPTClassifier, text: string, options: ClassifyOptions = {}): Promise<Classification> {
  const [result] = await classifyAll(model, [text], { ...options, batchSize: 1 });
  return result;
}
