/**
 * The one training loop of the project, generic over the model and the loss: pretraining
 * (`trainModel`, the book's `train_model_simple`) and classification fine-tuning (`trainClassifier`
 * in @scratchgpt/finetune, the book's `train_classifier_simple`) are instances of it. AdamW over the
 * trainable parameters, linear warmup + cosine decay, global-norm clipping, gradient accumulation,
 * evaluation every N steps, tokens and examples seen, progress and checkpoint callbacks, and resume
 * from a saved position (same data order, same schedule).
 *
 * Nothing is read back per step (unless `nonFinite: 'skip'`): a guard on the GPU marks a step whose
 * gradients are not finite and the optimizer leaves the weights alone from it on; the mark, the losses
 * and the gradient norms are read at evaluation points, where a bad step stops the run with an error
 * naming it, the weights and optimizer state being those from before it. A failure frees everything
 * the loop allocated and leaves no `.grad`.
 *
 * Its parts: the settings and their checks (`loop-settings.ts`), the run's plan — schedule, evaluation
 * points, start position (`loop-plan.ts`), evaluation (`loop-evaluation.ts`), divergence checks
 * (`divergence.ts`), checkpoints and resume (`loop-checkpoint.ts`), progress and result (`loop-progress.ts`).
 */
import { AdamW, autocast, clipGradNorm, manualSeed, mulScalar, scope, ScratchGPTError, sync, type Tensor } from '@scratchgpt/core';
import { DivergenceWatch } from './divergence';
import { checkpointAt, stepSeed } from './loop-checkpoint';
import { evaluationLosses, type TrainableModel } from './loop-evaluation';
import { planRun } from './loop-plan';
import { emptyResult, progressAt, recordEpochEnd, recordEvaluation, type EpochReport, type TrainResult } from './loop-progress';
import { checkSettings, type TrainSettings } from './loop-settings';
import { epochBatches, type EpochSource } from './sources';

export * from './resume';
export * from './sources';
export type { LoopCheckpoint } from './loop-checkpoint';
export { meanLoss, type TrainableModel } from './loop-evaluation';
export type { EpochReport, TrainProgress, TrainResult } from './loop-progress';
export type { TrainSettings } from './loop-settings';

/** What the loop needs of a batch: its shape `[B, T]` (for examples and tokens seen). */
export interface ShapedBatch {
  readonly shape: readonly [number, number];
}

/** Options of {@link trainLoop}: the settings plus the loss and an optional per-epoch hook. */
export interface TrainLoopOptions<M, B> extends TrainSettings {
  /** Mean loss of one batch, a 1-element tensor (recorded for backward). */
  loss: (model: M, batch: B) => Tensor;
  /** Called after each epoch (model in eval mode is the hook's business; train mode is restored after). */
  onEpochEnd?: (model: M, info: { epoch: number; step: number }) => EpochReport | void | Promise<EpochReport | void>;
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
  const { loss, onEpochEnd, onProgress, onCheckpoint, gradScaler } = options;
  // Validate everything before allocating anything.
  if (typeof loss !== 'function') throw new ScratchGPTError('value', 'scratchgpt: trainLoop needs a loss function (options.loss)');
  const settings = checkSettings(options);
  const { epochs, lr, weightDecay, maxGradNorm, gradAccumulation, evalIter, nonFinite, precision, checkpointEvery, seed } = settings;
  const { usedPerEpoch, start, totalSteps, lrAt, isEvalStep } = planRun(settings, train, val);

  const allParams = model.namedParameters().map(([, p]) => p);
  const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad);
  if (!options.optimizer && trainable.length === 0) throw new ScratchGPTError('value', 'scratchgpt: the model has no trainable parameters (every requiresGrad is false)');
  // Gradients left by earlier work (a failed run, a manual backward) must not leak into the first update.
  for (const p of allParams) p.zeroGrad();
  const optimizer = options.optimizer ?? new AdamW(trainable, { lr, weightDecay, fused: 'auto' });
  const updated = optimizer.params;

  const result = emptyResult(optimizer, start);
  const position = result.position;
  /** The guard of every update and the gradient norms since the last check (read at evaluation points). */
  const watch = new DivergenceWatch(optimizer);
  const groupLosses: Tensor[] = [];
  const wasTraining = model.training;
  const checkpoint = async (final: boolean): Promise<void> => {
    if (onCheckpoint) await checkpointAt(onCheckpoint, position, optimizer, { watch, updated }, final);
  };

  try {
    model.train(true);
    for (let epoch = start.epoch; epoch < epochs; epoch++) {
      let micro = epoch === start.epoch ? start.batch : 0;
      for (const batch of epochBatches(train, epoch, micro)) {
        if (micro >= usedPerEpoch) break;
        if (seed !== undefined && micro % gradAccumulation === 0) manualSeed(stepSeed(seed, position.step));
        const kept = scope(() => {
          const value = precision === 'f16' ? autocast('f16', () => loss(model, batch)) : loss(model, batch);
          const mean = gradAccumulation > 1 ? mulScalar(value, 1 / gradAccumulation) : value;
          const scaled = gradScaler ? gradScaler.scale(mean) : mean;
          scaled.backward();
          return nonFinite === 'skip' ? value : null;
        });
        if (kept) groupLosses.push(kept);
        const [B, T] = batch.shape;
        position.examplesSeen += B;
        position.tokensSeen += B * T;
        micro++;
        if (micro % gradAccumulation !== 0) continue;

        const stepLr = lrAt(position.step);
        const step = position.step + 1;
        // Gradients at their true scale before clipping (PyTorch's `scaler.unscale_` then clip).
        gradScaler?.unscale(optimizer);
        const norm = maxGradNorm !== undefined ? clipGradNorm(updated, maxGradNorm) : null;
        optimizer.lr = stepLr;
        let skipped = false;
        if (gradScaler) {
          // The scaler reads its Inf/NaN flag and steps only on finite gradients.
          skipped = !(await gradScaler.step(optimizer));
          gradScaler.update();
          if (norm) (skipped ? norm.dispose() : watch.addNorm(step, epoch, norm));
        } else if (nonFinite === 'skip') {
          skipped = await watch.stepIsBad(step, groupLosses.splice(0), updated, norm);
          if (!skipped) optimizer.step();
        } else {
          await watch.guardedStep(step, epoch, updated, norm);
        }
        if (skipped) result.skippedSteps.push(step);
        for (const p of updated) p.zeroGrad();
        result.lrs.push(stepLr);
        position.step = step;
        position.epoch = micro === usedPerEpoch ? epoch + 1 : epoch;
        position.batch = micro === usedPerEpoch ? 0 : micro;
        result.finalStep = step;
        const progress = progressAt(result, epoch, totalSteps, stepLr);
        if (skipped) progress.skipped = true;
        if (isEvalStep(step)) {
          await watch.check();
          recordEvaluation(result, progress, await evaluationLosses(model, { train, val }, loss, evalIter, { step, epoch }));
        }
        await onProgress?.(progress);
        if (checkpointEvery !== undefined && step % checkpointEvery === 0) await checkpoint(false);
      }
      if (onEpochEnd) {
        // The hook evaluates the weights: a step that went bad since the last check must stop the run first.
        await watch.check();
        const report = await onEpochEnd(model, { epoch, step: position.step });
        model.train(true);
        if (report) {
          // Recorded whether or not anyone listens (the result's per-epoch fields are read from it).
          const progress = recordEpochEnd(result, report, epoch, totalSteps, optimizer.lr);
          await onProgress?.(progress);
        }
      }
    }
    await watch.check();
    await checkpoint(true);
    watch.dispose();
    await sync();
    return result;
  } catch (err) {
    for (const t of groupLosses.splice(0)) t.dispose();
    watch.dispose();
    for (const p of allParams) p.zeroGrad();
    if (!options.optimizer) optimizer.dispose();
    throw err;
  } finally {
    model.train(wasTraining);
  }
}
