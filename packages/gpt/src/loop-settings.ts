/**
 * The settings of the training loop: what each one means, its default, and the check that refuses a
 * bad value (an error naming the setting) before the loop allocates anything.
 */
import { ScratchGPTError } from '@scratchgpt/core';
import type { GradScaler, Optimizer } from '@scratchgpt/core';
import type { LoopCheckpoint } from './loop-checkpoint';
import type { TrainProgress } from './loop-progress';
import type { TrainPosition } from './resume';

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
   * What a non-finite gradient (or gradient norm, or loss) does. `'error'` (default): a guard on the
   * GPU (`StepGuard`) marks the step and the optimizer leaves weights and moments untouched from it on;
   * at the next evaluation point (or epoch end, checkpoint, the end) the run stops with an error naming
   * the first bad step, and the weights and optimizer state are those from before it — no readback per
   * step (an optimizer that cannot skip on the guard, such as an unfused AdamW, reads it before every
   * step instead). `'skip'`: the group's losses and the gradients (or their norm, with clipping) are
   * checked before every update and a step with a non-finite value is skipped (gradients dropped,
   * weights untouched) — one readback per step.
   */
  nonFinite?: 'error' | 'skip';
  /**
   * `'f16'`: mixed precision (`torch.autocast` with float16): the training forward passes run inside
   * `autocast('f16', …)`, so every matrix product multiplies f16 halves of its operands with f32
   * accumulation, and the backward pass keeps the halves (half the memory of the saved product
   * inputs); parameters, gradients and optimizer state stay f32 (the master weights). Evaluation runs
   * in f32. Default `'f32'`.
   */
  precision?: 'f32' | 'f16';
  /**
   * Dynamic loss scaling (`torch.cuda.amp.GradScaler`): the loss is multiplied by the scaler's scale
   * before backward, gradients are unscaled before clipping, and a step whose gradients hold Inf/NaN
   * is skipped (listed in `skippedSteps`) while the scale backs off. Costs one 4-byte readback per
   * step. Gradients here are f32 even with `precision: 'f16'` (only the products' operands are
   * halves), so it guards against overflowing steps rather than underflow. Not with `nonFinite: 'skip'`.
   */
  gradScaler?: GradScaler;
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

/** The numeric and mode settings with their defaults applied, all checked (callbacks and the optimizer stay in the options). */
export interface CheckedSettings {
  epochs: number;
  lr: number;
  warmupSteps: number;
  initialLr: number;
  minLr: number | undefined;
  weightDecay: number;
  maxGradNorm: number | undefined;
  gradAccumulation: number;
  evalFreq: number;
  evalAt: 'book' | 'interval-end';
  evalIter: number;
  nonFinite: 'error' | 'skip';
  precision: 'f32' | 'f16';
  checkpointEvery: number | undefined;
  resume: TrainPosition | undefined;
  startStep: number | undefined;
  seed: number | undefined;
}

export function checkInteger(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new ScratchGPTError('value', `scratchgpt: ${name} must be an integer ≥ ${min}, got ${v}`);
}

function checkFinite(name: string, v: number, min: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new ScratchGPTError('value', `scratchgpt: ${name} must be a finite number ≥ ${min}, got ${v}`);
}

/** The settings with their defaults applied; throws, naming the setting, on the first bad value. */
export function checkSettings(settings: TrainSettings): CheckedSettings {
  const {
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
    precision = 'f32',
    checkpointEvery,
    resume,
    startStep,
    seed,
  } = settings;
  checkInteger('epochs', epochs, 0);
  checkFinite('lr', lr, 0);
  checkFinite('initialLr', initialLr, 0);
  if (minLr !== undefined) checkFinite('minLr', minLr, 0);
  checkInteger('warmupSteps', warmupSteps, 0);
  checkFinite('weightDecay', weightDecay, 0);
  if (maxGradNorm !== undefined && !(maxGradNorm > 0)) throw new ScratchGPTError('format', `scratchgpt: maxGradNorm must be > 0, got ${maxGradNorm}`);
  checkInteger('gradAccumulation', gradAccumulation, 1);
  if (evalFreq !== Infinity) checkInteger('evalFreq', evalFreq, 1);
  checkInteger('evalIter', evalIter, 1);
  if (evalAt !== 'book' && evalAt !== 'interval-end') throw new ScratchGPTError('format', `scratchgpt: evalAt must be 'book' or 'interval-end', got ${JSON.stringify(evalAt)}`);
  if (nonFinite !== 'error' && nonFinite !== 'skip') throw new ScratchGPTError('format', `scratchgpt: nonFinite must be 'error' or 'skip', got ${JSON.stringify(nonFinite)}`);
  if (precision !== 'f32' && precision !== 'f16') throw new ScratchGPTError('format', `scratchgpt: precision must be 'f32' or 'f16', got ${JSON.stringify(precision)}`);
  if (settings.gradScaler !== undefined && nonFinite === 'skip') throw new ScratchGPTError('value', "scratchgpt: gradScaler skips non-finite steps itself: use it with nonFinite 'error' (the default)");
  if (checkpointEvery !== undefined) checkInteger('checkpointEvery', checkpointEvery, 1);
  if (startStep !== undefined) checkInteger('startStep', startStep, 0);
  if (resume && startStep !== undefined) throw new ScratchGPTError('value', 'scratchgpt: pass either resume (continue a run) or startStep (shift the schedule), not both');
  if (seed !== undefined) checkInteger('seed', seed, 0);
  return { epochs, lr, warmupSteps, initialLr, minLr, weightDecay, maxGradNorm, gradAccumulation, evalFreq, evalAt, evalIter, nonFinite, precision, checkpointEvery, resume, startStep, seed };
}
