/**
 * The one training loop of the project, generic over the model and the loss: pretraining
 * (`trainModel`, the book's `train_model_simple`) and classification fine-tuning (`trainClassifier`
 * in @scratchgpt/finetune, the book's `train_classifier_simple`) are instances of it. AdamW over the
 * trainable parameters, linear warmup + cosine decay, global-norm clipping, gradient accumulation,
 * evaluation every N steps, tokens and examples seen, progress and checkpoint callbacks, and resume
 * from a saved position (same data order, same schedule).
 *
 * Nothing is read back per step (unless `nonFinite: 'skip'`): losses, and the gradient norms that
 * clipping computes anyway, are read at evaluation points, where a non-finite value stops the run with
 * an error naming the step. A failure frees everything the loop allocated and leaves no `.grad`.
 */
import {
  AdamW,
  clipGradNorm,
  concat,
  manualSeed,
  mulScalar,
  noGrad,
  scope,
  sum,
  sync,
  warmupCosine,
  type Optimizer,
  type Tensor,
} from '@scratchgpt/core';
import { TRAIN_POSITION_KEY, type TrainPosition } from './resume';
import { countBatches, epochBatches, fixedOrder, type EpochSource } from './sources';

export * from './resume';
export * from './sources';

/** What the loop needs of a batch: its shape `[B, T]` (for examples and tokens seen). */
export interface ShapedBatch {
  readonly shape: readonly [number, number];
}

/** What the loop needs of a model (any `Module` qualifies). */
export interface TrainableModel {
  training: boolean;
  train(flag?: boolean): unknown;
  namedParameters(): [string, Tensor][];
}

/** What an epoch-end hook reports (sample text, accuracies, ...). */
export interface EpochReport {
  sampleText?: string;
  metrics?: Record<string, number>;
}

export interface TrainProgress {
  /** Epoch (0-based). */
  epoch: number;
  /** Optimizer steps taken so far (1 after the first update). */
  step: number;
  totalSteps: number;
  tokensSeen: number;
  examplesSeen: number;
  /** Learning rate of the step just taken. */
  lr: number;
  /** Present at evaluation points. */
  trainLoss?: number;
  valLoss?: number;
  /** True when this step was skipped for a non-finite loss or gradient norm (`nonFinite: 'skip'`). */
  skipped?: boolean;
  /** True for the one report after each epoch that has an epoch report (sample text or metrics). */
  epochEnd?: boolean;
  /** Present after each epoch when a sample prompt is set (`trainModel`). */
  sampleText?: string;
  /** Per-epoch metrics (e.g. `trainAccuracy`, `valAccuracy` of `trainClassifier`). */
  metrics?: Record<string, number>;
}

/** What the checkpoint hook receives: pass `info` to `saveCheckpoint(path, model, optimizer, info)`. */
export interface LoopCheckpoint {
  step: number;
  position: TrainPosition;
  optimizer: Optimizer;
  /** `{ step, extra: { trainPosition } }`: what `resumeFrom` needs to continue the run. */
  info: { step: number; extra: Record<string, unknown> };
  /** True for the call after the last step. */
  final: boolean;
}

/** Settings shared by every instance of the loop (`trainModel`, `trainClassifier`, {@link trainLoop}). */
export interface TrainSettings {
  /** Epochs of the whole run (default 1). With `resume`, the run continues until this many are done. */
  epochs?: number;
  /** Peak learning rate (default 4e-4, the book's pretraining value). */
  lr?: number;
  /** Linear warmup steps from `initialLr` (default 0: constant lr unless `minLr` is set). */
  warmupSteps?: number;
  initialLr?: number;
  /** Cosine-decay floor reached at the last step; undefined = no decay. */
  minLr?: number;
  /** AdamW decoupled weight decay (default 0.1, the book's). */
  weightDecay?: number;
  /** Global gradient-norm clip (default none; the book's appendix uses 1.0). */
  maxGradNorm?: number;
  /** Batches whose gradients are summed (mean over the group) before each optimizer step (default 1). */
  gradAccumulation?: number;
  /** Evaluate every N optimizer steps (default 5); `Infinity` never evaluates. */
  evalFreq?: number;
  /**
   * When in each `evalFreq` interval to evaluate. `'book'` (default): after steps 1, 1 + N, 1 + 2N, ...
   * like the book's loops, whose step counter starts at −1; `'interval-end'`: after steps N, 2N, ...
   * Steps are counted over the whole run, so a resumed run evaluates where the uninterrupted one would.
   */
  evalAt?: 'book' | 'interval-end';
  /** Batches of each source per evaluation (default 5): the first ones of epoch 0's order. */
  evalIter?: number;
  /**
   * What a non-finite loss or gradient norm does. `'error'` (default): at the next evaluation point
   * (or at the end) the run stops with an error naming the step; no readback per step. `'skip'`: the
   * group's losses (and the gradient norm, with clipping) are read back before every update and a step
   * with a non-finite value is skipped (gradients dropped, weights untouched) — one readback per step.
   */
  nonFinite?: 'error' | 'skip';
  /** Called after every optimizer step (with losses at evaluation points) and after each epoch; a returned promise is awaited. */
  onProgress?: (progress: TrainProgress) => unknown;
  /**
   * Called every `checkpointEvery` steps and after the last step, only once the trainable weights were
   * read back as finite (a diverged run never reaches it). Save with
   * `saveCheckpoint(path, model, c.optimizer, c.info)`; resume with `resume: resumeFrom(loaded)`.
   */
  onCheckpoint?: (checkpoint: LoopCheckpoint) => unknown;
  /** Steps between checkpoint calls (default: only after the last step). */
  checkpointEvery?: number;
  /** Continue a run from a saved position (see {@link resumeFrom}); pass its optimizer too. */
  resume?: TrainPosition;
  /**
   * Optimizer steps taken by an earlier, separate run: shifts the schedule and evaluation points but
   * starts at the beginning of the data (use `resume` to continue a run where it stopped).
   */
  startStep?: number;
  /** An optimizer to use (e.g. restored from a checkpoint; it is not disposed on failure); default a new AdamW over the trainable parameters. */
  optimizer?: Optimizer;
  /**
   * Re-seed the global generator (dropout) with `(seed, step)` before each step, so that dropout masks
   * depend only on the step and a resumed run reproduces an uninterrupted one exactly.
   */
  seed?: number;
}

/** Options of {@link trainLoop}: the settings plus the loss and an optional per-epoch hook. */
export interface TrainLoopOptions<M, B> extends TrainSettings {
  /** Mean loss of one batch, a 1-element tensor (recorded for backward). */
  loss: (model: M, batch: B) => Tensor;
  /** Called after each epoch (model in eval mode is the hook's business; train mode is restored after). */
  onEpochEnd?: (model: M, info: { epoch: number; step: number }) => EpochReport | void | Promise<EpochReport | void>;
}

export interface TrainResult {
  trainLosses: number[];
  valLosses: number[];
  /** Optimizer steps at each evaluation point. */
  steps: number[];
  /** Tokens seen at each evaluation point. */
  tokensSeen: number[];
  /** Examples (rows) seen at each evaluation point. */
  examplesSeen: number[];
  /** Learning rate of every step. */
  lrs: number[];
  /** Epoch reports (one per epoch with an `onEpochEnd` hook that returned one). */
  epochReports: (EpochReport & { epoch: number; step: number; examplesSeen: number })[];
  /** Steps skipped for non-finite values (`nonFinite: 'skip'`). */
  skippedSteps: number[];
  optimizer: Optimizer;
  /** Optimizer steps taken in total (including `startStep` / the resumed position). */
  finalStep: number;
  /** Where the run ended (pass as `resume` to continue it). */
  position: TrainPosition;
}

function checkInteger(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`scratchgpt: ${name} must be an integer ≥ ${min}, got ${v}`);
}

function checkFinite(name: string, v: number, min: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new Error(`scratchgpt: ${name} must be a finite number ≥ ${min}, got ${v}`);
}

/**
 * Reads one-element tensors back together (one wait for the GPU) and returns their values, disposing
 * the tensors either way.
 */
async function readScalars(tensors: Tensor[]): Promise<number[]> {
  if (tensors.length === 0) return [];
  try {
    const joined = tensors.length === 1 ? null : scope(() => concat(tensors.map((t) => t.reshape([1])), 0));
    try {
      return Array.from(await (joined ?? tensors[0]).toArray());
    } finally {
      joined?.dispose();
    }
  } finally {
    for (const t of tensors) t.dispose();
  }
}

/**
 * Mean of `loss` over the first `numBatches` batches (all by default), in eval mode without
 * gradients, one readback at the end; NaN for an empty source (like the book). A failing batch frees
 * the losses computed so far; the model's mode is restored either way.
 */
export async function meanLoss<M extends TrainableModel, B>(model: M, source: Iterable<B>, loss: (model: M, batch: B) => Tensor, numBatches?: number): Promise<number> {
  if (numBatches !== undefined) checkInteger('numBatches', numBatches, 1);
  const wasTraining = model.training;
  model.train(false);
  const losses: Tensor[] = [];
  try {
    noGrad(() => {
      let i = 0;
      for (const batch of source) {
        if (numBatches !== undefined && i >= numBatches) break;
        losses.push(loss(model, batch));
        i++;
      }
    });
    if (losses.length === 0) return NaN;
    const values = await readScalars(losses.splice(0));
    return values.reduce((a, b) => a + b, 0) / values.length;
  } finally {
    for (const l of losses) l.dispose();
    model.train(wasTraining);
  }
}

/** A 32-bit seed for step `step` of a run seeded with `seed`. */
function stepSeed(seed: number, step: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca6b)) >>> 0;
}

/** Whether every value of `tensors` is finite: one reduction per tensor, one readback. */
async function allFinite(tensors: readonly Tensor[]): Promise<boolean> {
  if (tensors.length === 0) return true;
  const total = scope(() => sum(concat(tensors.map((t) => sum(t).reshape([1])), 0)));
  const [value] = await readScalars([total]);
  return Number.isFinite(value);
}

function divergedError(what: string, value: number, step: number, epoch: number): Error {
  return new Error(
    `scratchgpt: training diverged: ${what} is ${value} at step ${step} (epoch ${epoch + 1}); ` +
      `lower the learning rate, clip gradients (maxGradNorm), or pass nonFinite: 'skip' to skip such steps`,
  );
}

/**
 * Trains `model` on `train` batches with the loss `options.loss`, evaluating the mean loss on `train`
 * and `val` every `evalFreq` steps (the book's `train_model_simple` / `train_classifier_simple`, with
 * the appendix's warmup, cosine decay and clipping). Only parameters with `requiresGrad` are optimized.
 * On any error, everything the loop allocated is freed (its AdamW included), no `.grad` is left, and
 * the model's train/eval mode is restored.
 * @example
 * ```ts
 * const result = await trainLoop(model, trainLoader, valLoader, {
 *   loss: (m, batch) => batchLoss(m, batch),
 *   epochs: 2, lr: 5e-4, evalFreq: 10,
 *   onProgress: (p) => p.valLoss !== undefined && console.log(p.step, p.trainLoss, p.valLoss),
 * });
 * ```
 */
export async function trainLoop<M extends TrainableModel, B extends ShapedBatch>(
  model: M,
  train: EpochSource<B>,
  val: EpochSource<B>,
  options: TrainLoopOptions<M, B>,
): Promise<TrainResult> {
  const {
    loss,
    onEpochEnd,
    epochs = 1,
    lr = 4e-4,
    warmupSteps = 0,
    initialLr = warmupSteps > 0 ? lr * 0.01 : lr,
    minLr,
    weightDecay = 0.1,
    maxGradNorm,
    gradAccumulation = 1,
    evalFreq = 5,
    evalAt = 'book',
    evalIter = 5,
    nonFinite = 'error',
    onProgress,
    onCheckpoint,
    checkpointEvery,
    resume,
    startStep,
    seed,
  } = options;
  // Validate everything before allocating anything.
  if (typeof loss !== 'function') throw new Error('scratchgpt: trainLoop needs a loss function (options.loss)');
  checkInteger('epochs', epochs, 0);
  checkFinite('lr', lr, 0);
  checkFinite('initialLr', initialLr, 0);
  if (minLr !== undefined) checkFinite('minLr', minLr, 0);
  checkInteger('warmupSteps', warmupSteps, 0);
  checkFinite('weightDecay', weightDecay, 0);
  if (maxGradNorm !== undefined && !(maxGradNorm > 0)) throw new Error(`scratchgpt: maxGradNorm must be > 0, got ${maxGradNorm}`);
  checkInteger('gradAccumulation', gradAccumulation, 1);
  if (evalFreq !== Infinity) checkInteger('evalFreq', evalFreq, 1);
  checkInteger('evalIter', evalIter, 1);
  if (evalAt !== 'book' && evalAt !== 'interval-end') throw new Error(`scratchgpt: evalAt must be 'book' or 'interval-end', got ${JSON.stringify(evalAt)}`);
  if (nonFinite !== 'error' && nonFinite !== 'skip') throw new Error(`scratchgpt: nonFinite must be 'error' or 'skip', got ${JSON.stringify(nonFinite)}`);
  if (checkpointEvery !== undefined) checkInteger('checkpointEvery', checkpointEvery, 1);
  if (startStep !== undefined) checkInteger('startStep', startStep, 0);
  if (resume && startStep !== undefined) throw new Error('scratchgpt: pass either resume (continue a run) or startStep (shift the schedule), not both');
  if (seed !== undefined) checkInteger('seed', seed, 0);

  const batchesPerEpoch = countBatches(train);
  if (batchesPerEpoch === 0) {
    throw new Error('scratchgpt: the training source yields no batches (a loader with dropLast and fewer rows or windows than batchSize yields none)');
  }
  if (gradAccumulation > batchesPerEpoch) {
    throw new Error(`scratchgpt: gradAccumulation ${gradAccumulation} exceeds the ${batchesPerEpoch} training batches per epoch: no optimizer step would run`);
  }
  const evaluates = evalFreq !== Infinity;
  if (evaluates && countBatches(val) === 0) throw new Error('scratchgpt: the validation source yields no batches (evaluation needs at least one; pass evalFreq: Infinity to train without)');
  const stepsPerEpoch = Math.floor(batchesPerEpoch / gradAccumulation);
  // A trailing group smaller than gradAccumulation is not used (it would leave stale gradients).
  const usedPerEpoch = stepsPerEpoch * gradAccumulation;
  const start: TrainPosition = resume ? { ...resume } : { step: startStep ?? 0, epoch: 0, batch: 0, tokensSeen: 0, examplesSeen: 0 };
  if (resume) {
    for (const key of ['step', 'epoch', 'batch', 'tokensSeen', 'examplesSeen'] as const) checkInteger(`resume.${key}`, resume[key], 0);
    if (resume.batch % gradAccumulation !== 0 || resume.batch >= usedPerEpoch) {
      throw new Error(`scratchgpt: resume.batch ${resume.batch} is not the start of an accumulation group of ${gradAccumulation} within the ${usedPerEpoch} batches used per epoch`);
    }
    if (resume.epoch > epochs || (resume.epoch === epochs && resume.batch > 0)) throw new Error(`scratchgpt: resume position epoch ${resume.epoch} lies beyond the ${epochs} epochs of the run`);
  }
  const totalSteps = resume ? stepsPerEpoch * epochs : stepsPerEpoch * epochs + start.step;
  const schedule =
    minLr !== undefined || warmupSteps > 0
      ? warmupCosine({ peakLr: lr, initialLr, minLr: minLr ?? lr, warmupSteps, totalSteps: Math.max(totalSteps, warmupSteps) })
      : () => lr;
  const isEvalStep = (step: number): boolean => evaluates && (evalAt === 'book' ? (step - 1) % evalFreq === 0 : step % evalFreq === 0);

  const allParams = model.namedParameters().map(([, p]) => p);
  const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad);
  if (!options.optimizer && trainable.length === 0) throw new Error('scratchgpt: the model has no trainable parameters (every requiresGrad is false)');
  // Gradients left by earlier work (a failed run, a manual backward) must not leak into the first update.
  for (const p of allParams) p.zeroGrad();
  const optimizer = options.optimizer ?? new AdamW(trainable, { lr, weightDecay });
  const updated = optimizer.params;

  const result: TrainResult = {
    trainLosses: [],
    valLosses: [],
    steps: [],
    tokensSeen: [],
    examplesSeen: [],
    lrs: [],
    epochReports: [],
    skippedSteps: [],
    optimizer,
    finalStep: start.step,
    position: { ...start },
  };
  const position = result.position;
  /** Gradient norms of the steps since the last check (read at evaluation points, with the losses). */
  const pendingNorms: { step: number; epoch: number; norm: Tensor }[] = [];
  const groupLosses: Tensor[] = [];
  const wasTraining = model.training;

  const checkNorms = async (): Promise<void> => {
    const pending = pendingNorms.splice(0);
    const values = await readScalars(pending.map((p) => p.norm));
    values.forEach((v, i) => {
      if (!Number.isFinite(v)) throw divergedError('the gradient norm', v, pending[i].step, pending[i].epoch);
    });
  };
  const checkpoint = async (final: boolean): Promise<void> => {
    if (!onCheckpoint) return;
    await checkNorms();
    if (!(await allFinite(updated))) throw new Error(`scratchgpt: training diverged: the weights are not finite at step ${position.step}; the checkpoint hook was not called`);
    const at = { ...position };
    await onCheckpoint({ step: at.step, position: at, optimizer, info: { step: at.step, extra: { [TRAIN_POSITION_KEY]: at } }, final });
  };

  try {
    model.train(true);
    for (let epoch = start.epoch; epoch < epochs; epoch++) {
      let micro = epoch === start.epoch ? start.batch : 0;
      for (const batch of epochBatches(train, epoch, micro)) {
        if (micro >= usedPerEpoch) break;
        if (seed !== undefined && micro % gradAccumulation === 0) manualSeed(stepSeed(seed, position.step));
        const kept = scope(() => {
          const value = loss(model, batch);
          const scaled = gradAccumulation > 1 ? mulScalar(value, 1 / gradAccumulation) : value;
          scaled.backward();
          return nonFinite === 'skip' ? value : null;
        });
        if (kept) groupLosses.push(kept);
        const [B, T] = batch.shape;
        position.examplesSeen += B;
        position.tokensSeen += B * T;
        micro++;
        if (micro % gradAccumulation !== 0) continue;

        const stepLr = schedule(position.step);
        const step = position.step + 1;
        const norm = maxGradNorm !== undefined ? clipGradNorm(updated, maxGradNorm) : null;
        let skipped = false;
        if (nonFinite === 'skip') {
          const values = await readScalars([...groupLosses.splice(0), ...(norm ? [norm] : [])]);
          skipped = values.some((v) => !Number.isFinite(v));
        } else if (norm) {
          pendingNorms.push({ step, epoch, norm });
        }
        if (skipped) {
          result.skippedSteps.push(step);
        } else {
          optimizer.lr = stepLr;
          optimizer.step();
        }
        for (const p of updated) p.zeroGrad();
        result.lrs.push(stepLr);
        position.step = step;
        position.epoch = micro === usedPerEpoch ? epoch + 1 : epoch;
        position.batch = micro === usedPerEpoch ? 0 : micro;
        result.finalStep = step;
        const progress: TrainProgress = { epoch, step, totalSteps, tokensSeen: position.tokensSeen, examplesSeen: position.examplesSeen, lr: stepLr };
        if (skipped) progress.skipped = true;
        if (isEvalStep(step)) {
          await checkNorms();
          const trainLoss = await meanLoss(model, fixedOrder(train), loss, evalIter);
          const valLoss = await meanLoss(model, fixedOrder(val), loss, evalIter);
          if (!Number.isFinite(trainLoss)) throw divergedError('the training loss', trainLoss, step, epoch);
          if (!Number.isFinite(valLoss)) throw divergedError('the validation loss', valLoss, step, epoch);
          Object.assign(progress, { trainLoss, valLoss });
          result.trainLosses.push(trainLoss);
          result.valLosses.push(valLoss);
          result.steps.push(step);
          result.tokensSeen.push(position.tokensSeen);
          result.examplesSeen.push(position.examplesSeen);
        }
        await onProgress?.(progress);
        if (checkpointEvery !== undefined && step % checkpointEvery === 0) await checkpoint(false);
      }
      if (onEpochEnd) {
        const report = await onEpochEnd(model, { epoch, step: position.step });
        model.train(true);
        if (report) {
          result.epochReports.push({ ...report, epoch, step: position.step, examplesSeen: position.examplesSeen });
          await onProgress?.({
            epoch,
            step: position.step,
            totalSteps,
            tokensSeen: position.tokensSeen,
            examplesSeen: position.examplesSeen,
            lr: optimizer.lr,
            epochEnd: true,
            ...report,
          });
        }
      }
    }
    await checkNorms();
    await checkpoint(true);
    await sync();
    return result;
  } catch (err) {
    for (const t of groupLosses.splice(0)) t.dispose();
    for (const { norm } of pendingNorms.splice(0)) norm.dispose();
    for (const p of allParams) p.zeroGrad();
    if (!options.optimizer) optimizer.dispose();
    throw err;
  } finally {
    model.train(wasTraining);
  }
}
