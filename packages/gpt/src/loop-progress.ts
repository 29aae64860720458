/**
 * What the training loop reports: a progress record after every step and epoch (to `onProgress`),
 * and the result it returns (losses at evaluation points, learning rates, epoch reports, where it ended).
 */
import type { Optimizer } from '@scratchgpt/core';
import type { TrainPosition } from './resume';

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

/** The result of a run starting at `start`, before its first step (`position` is updated as it goes). */
export function emptyResult(optimizer: Optimizer, start: TrainPosition): TrainResult {
  return {
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
}

/** The progress record at the run's current position (`result.position`), in epoch `epoch`. */
export function progressAt(result: TrainResult, epoch: number, totalSteps: number, lr: number): TrainProgress {
  const { step, tokensSeen, examplesSeen } = result.position;
  return { epoch, step, totalSteps, tokensSeen, examplesSeen, lr };
}

/** Records the losses of an evaluation point in the result and in that step's progress record. */
export function recordEvaluation(result: TrainResult, progress: TrainProgress, losses: { trainLoss: number; valLoss: number }): void {
  Object.assign(progress, losses);
  result.trainLosses.push(losses.trainLoss);
  result.valLosses.push(losses.valLoss);
  result.steps.push(progress.step);
  result.tokensSeen.push(progress.tokensSeen);
  result.examplesSeen.push(progress.examplesSeen);
}

/** Records an epoch's report in the result; returns the epoch-end progress record to report. */
export function recordEpochEnd(result: TrainResult, report: EpochReport, epoch: number, totalSteps: number, lr: number): TrainProgress {
  const { step, examplesSeen } = result.position;
  result.epochReports.push({ ...report, epoch, step, examplesSeen });
  return { ...progressAt(result, epoch, totalSteps, lr), epochEnd: true, ...report };
}
