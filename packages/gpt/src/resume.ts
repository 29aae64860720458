/**
 * Where a training run stands, saved with its checkpoints (`extra.trainPosition`) so that a resumed
 * run continues with the same data order and schedule.
 */
import { ScratchGPTError } from '@scratchgpt/core';

/** Where a run stands: enough to continue it with the same data order and schedule. */
export interface TrainPosition {
  /** Optimizer steps taken (the schedule's position). */
  step: number;
  /** Epoch in progress (0-based). */
  epoch: number;
  /** Batches of that epoch already used (a multiple of `gradAccumulation`). */
  batch: number;
  tokensSeen: number;
  examplesSeen: number;
}

/** Key of the position in a checkpoint's `extra` metadata (written by the training loop's checkpoint hook). */
export const TRAIN_POSITION_KEY = 'trainPosition';

/**
 * Validates a checkpoint's saved position (`extra.trainPosition`, written by the loop's checkpoint
 * hook) for `resume`. Throws a clear error when it is missing or malformed.
 * @example
 * ```ts
 * const ckpt = await loadCheckpoint('run.safetensors');
 * await trainModel(ckpt.model, train, val, { epochs: 10, optimizer: ckpt.optimizer!, resume: resumeFrom(ckpt) });
 * ```
 */
export function resumeFrom(checkpoint: { step?: number; extra?: Record<string, unknown> }): TrainPosition {
  const saved = checkpoint.extra?.[TRAIN_POSITION_KEY] as Record<string, unknown> | undefined;
  if (saved === undefined || saved === null || typeof saved !== 'object') {
    throw new ScratchGPTError('format', `scratchgpt: the checkpoint has no '${TRAIN_POSITION_KEY}' in its extra metadata (it was not saved by a training loop's onCheckpoint); pass startStep to continue the schedule only`);
  }
  const out = {} as TrainPosition;
  for (const key of ['step', 'epoch', 'batch', 'tokensSeen', 'examplesSeen'] as const) {
    const v = saved[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ScratchGPTError('format', `scratchgpt: the checkpoint's ${TRAIN_POSITION_KEY}.${key} is ${JSON.stringify(v)}, expected an integer ≥ 0`);
    out[key] = v;
  }
  if (checkpoint.step !== undefined && checkpoint.step !== out.step) {
    throw new ScratchGPTError('value', `scratchgpt: the checkpoint's step ${checkpoint.step} disagrees with its ${TRAIN_POSITION_KEY}.step ${out.step}`);
  }
  return out;
}
