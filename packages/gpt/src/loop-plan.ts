/**
 * The plan of a training run, fixed before its first step: optimizer steps per epoch, where the run
 * starts (a fresh start, a shifted schedule, or a resumed position), the learning rate of every step
 * and the steps that evaluate. Steps are counted over the whole run, so a resumed run follows the
 * uninterrupted one's schedule and evaluation points.
 */
import { ScratchGPTError, warmupCosine } from '@scratchgpt/core';
import { checkInteger, type CheckedSettings } from './loop-settings';
import type { TrainPosition } from './resume';
import { countBatches, type EpochSource } from './sources';

export interface RunPlan {
  /** Optimizer steps per epoch. */
  stepsPerEpoch: number;
  /** Batches used per epoch: a trailing group smaller than `gradAccumulation` is not used (it would leave stale gradients). */
  usedPerEpoch: number;
  /** Where the run starts. */
  start: TrainPosition;
  /** Optimizer steps at the end of the run (including the resumed or shifted start). */
  totalSteps: number;
  /** Learning rate of the step taken after `step` steps. */
  lrAt(step: number): number;
  /** Whether the run evaluates after its `step`-th step (1-based). */
  isEvalStep(step: number): boolean;
}

/**
 * Plans a run over `train` (and `val`, when it evaluates); throws when a source yields no batches, when
 * no optimizer step would run, or when a resumed position does not fit the run.
 */
export function planRun<B>(settings: CheckedSettings, train: EpochSource<B>, val: EpochSource<B>): RunPlan {
  const { epochs, lr, warmupSteps, initialLr, minLr, gradAccumulation, evalFreq, evalAt, resume, startStep } = settings;
  const batchesPerEpoch = countBatches(train);
  if (batchesPerEpoch === 0) {
    throw new ScratchGPTError('range', 'scratchgpt: the training source yields no batches (a loader with dropLast and fewer rows or windows than batchSize yields none)');
  }
  if (gradAccumulation > batchesPerEpoch) {
    throw new ScratchGPTError('range', `scratchgpt: gradAccumulation ${gradAccumulation} exceeds the ${batchesPerEpoch} training batches per epoch: no optimizer step would run`);
  }
  const evaluates = evalFreq !== Infinity;
  if (evaluates && countBatches(val) === 0) throw new ScratchGPTError('value', 'scratchgpt: the validation source yields no batches (evaluation needs at least one; pass evalFreq: Infinity to train without)');
  const stepsPerEpoch = Math.floor(batchesPerEpoch / gradAccumulation);
  const usedPerEpoch = stepsPerEpoch * gradAccumulation;
  const start: TrainPosition = resume ? { ...resume } : { step: startStep ?? 0, epoch: 0, batch: 0, tokensSeen: 0, examplesSeen: 0 };
  if (resume) {
    for (const key of ['step', 'epoch', 'batch', 'tokensSeen', 'examplesSeen'] as const) checkInteger(`resume.${key}`, resume[key], 0);
    if (resume.batch % gradAccumulation !== 0 || resume.batch >= usedPerEpoch) {
      throw new ScratchGPTError('value', `scratchgpt: resume.batch ${resume.batch} is not the start of an accumulation group of ${gradAccumulation} within the ${usedPerEpoch} batches used per epoch`);
    }
    if (resume.epoch > epochs || (resume.epoch === epochs && resume.batch > 0)) throw new ScratchGPTError('value', `scratchgpt: resume position epoch ${resume.epoch} lies beyond the ${epochs} epochs of the run`);
  }
  const totalSteps = resume ? stepsPerEpoch * epochs : stepsPerEpoch * epochs + start.step;
  const lrAt =
    minLr !== undefined || warmupSteps > 0
      ? warmupCosine({ peakLr: lr, initialLr, minLr: minLr ?? lr, warmupSteps, totalSteps: Math.max(totalSteps, warmupSteps) })
      : () => lr;
  const isEvalStep = (step: number): boolean => evaluates && (evalAt === 'book' ? (step - 1) % evalFreq === 0 : step % evalFreq === 0);
  return { stepsPerEpoch, usedPerEpoch, start, totalSteps, lrAt, isEvalStep };
}
