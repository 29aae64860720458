/**
 * Evaluation in the training loop: the mean loss over a source's first batches (the book's
 * `calc_loss_loader`), and the train/validation losses of an evaluation point, which stop a diverged
 * run with an error naming the step.
 */
import { inEvalMode, Module, noGrad, type AnyModule, type Tensor } from '@scratchgpt/core';
import { divergedError, readScalars } from './divergence';
import { checkInteger } from './loop-settings';
import { fixedOrder, type EpochSource } from './sources';

/** What the loop needs of a model (any `Module` qualifies). */
export interface TrainableModel {
  training: boolean;
  train(flag?: boolean): unknown;
  namedParameters(): [string, Tensor][];
}

/**
 * Mean of `loss` over the first `numBatches` batches (all by default), in eval mode without
 * gradients, one readback at the end; NaN for an empty source (like the book). The forward passes are
 * recorded in eval mode and the mode is given back before the readback is awaited, so a training step
 * or another evaluation running meanwhile keeps its own mode. A failing batch frees the losses
 * computed so far.
 */
export async function meanLoss<M extends TrainableModel, B>(model: M, source: Iterable<B>, loss: (model: M, batch: B) => Tensor, numBatches?: number): Promise<number> {
  if (numBatches !== undefined) checkInteger('numBatches', numBatches, 1);
  const losses: Tensor[] = [];
  try {
    evalModeOf(model, () =>
      noGrad(() => {
        let i = 0;
        for (const batch of source) {
          if (numBatches !== undefined && i >= numBatches) break;
          losses.push(loss(model, batch));
          i++;
        }
      }),
    );
    if (losses.length === 0) return NaN;
    const values = await readScalars(losses.splice(0));
    return values.reduce((a, b) => a + b, 0) / values.length;
  } finally {
    for (const l of losses) l.dispose();
  }
}

/** `inEvalMode` for a module; any other model is switched with `train(false)` and back. */
function evalModeOf<T>(model: TrainableModel, fn: () => T): T {
  if (model instanceof Module) return inEvalMode(model as AnyModule, fn);
  const wasTraining = model.training;
  model.train(false);
  try {
    return fn();
  } finally {
    model.train(wasTraining);
  }
}

/**
 * The losses of an evaluation point after step `step`: the mean over the first `evalIter` batches of
 * epoch 0's order of each source. Throws naming the step when one is not finite.
 */
export async function evaluationLosses<M extends TrainableModel, B>(
  model: M,
  sources: { train: EpochSource<B>; val: EpochSource<B> },
  loss: (model: M, batch: B) => Tensor,
  evalIter: number,
  at: { step: number; epoch: number },
): Promise<{ trainLoss: number; valLoss: number }> {
  const trainLoss = await meanLoss(model, fixedOrder(sources.train), loss, evalIter);
  const valLoss = await meanLoss(model, fixedOrder(sources.val), loss, evalIter);
  if (!Number.isFinite(trainLoss)) throw divergedError('the training loss', trainLoss, at.step, at.epoch);
  if (!Number.isFinite(valLoss)) throw divergedError('the validation loss', valLoss, at.step, at.epoch);
  return { trainLoss, valLoss };
}
