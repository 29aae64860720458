/**
 * The training loop's checkpoint and resume glue: what the checkpoint hook receives (the position a
 * resumed run continues from), the finiteness check before each call, and the per-step dropout seed
 * that makes a resumed run reproduce an uninterrupted one.
 */
import type { Optimizer, Tensor } from '@scratchgpt/core';
import { ScratchGPTError } from '@scratchgpt/core';
import { allFinite, type DivergenceWatch } from './divergence';
import { TRAIN_POSITION_KEY, type TrainPosition } from './resume';

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

/**
 * Calls the checkpoint hook at `position`, only once the steps since the last check (the guard and the
 * gradient norms) and the optimized weights (`updated`) were read back as finite: a diverged run
 * throws instead of saving.
 */
export async function checkpointAt(
  onCheckpoint: (checkpoint: LoopCheckpoint) => unknown,
  position: TrainPosition,
  optimizer: Optimizer,
  checks: { watch: DivergenceWatch; updated: readonly Tensor[] },
  final: boolean,
): Promise<void> {
  await checks.watch.check();
  if (!(await allFinite(checks.updated))) throw new ScratchGPTError('value', `scratchgpt: training diverged: the weights are not finite at step ${position.step}; the checkpoint hook was not called`);
  const at = { ...position };
  await onCheckpoint({ step: at.step, position: at, optimizer, info: { step: at.step, extra: { [TRAIN_POSITION_KEY]: at } }, final });
}

/** A 32-bit seed for step `step` of a run seeded with `seed`. */
export function stepSeed(seed: number, step: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca6b)) >>> 0;
}
