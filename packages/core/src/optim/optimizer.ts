/** What every optimizer shares: the parameter list (optionally named) and gradient reset. */
import { ScratchGPTError } from '../engine/errors';
import { recordCopy } from '../engine/queue';
import { sameShape, type Tensor } from '../engine/tensor';
import type { StepGuard } from './step-guard';

/** Parameters as tensors, or `[name, tensor]` pairs (e.g. `model.namedParameters()`); names key the state dict. */
export type ParamList = Iterable<Tensor> | Iterable<readonly [string, Tensor]>;

export function normalizeParams(params: ParamList): { names: string[]; tensors: Tensor[] } {
  const names: string[] = [];
  const tensors: Tensor[] = [];
  let i = 0;
  for (const item of params as Iterable<Tensor | readonly [string, Tensor]>) {
    if (Array.isArray(item)) {
      names.push(item[0] as string);
      tensors.push(item[1] as Tensor);
    } else {
      names.push(String(i));
      tensors.push(item as Tensor);
    }
    i++;
  }
  for (const [k, t] of tensors.entries()) {
    if (t.dtype !== 'f32') throw new ScratchGPTError('dtype', `scratchgpt: optimizer parameter '${names[k]}' is ${t.dtype}; only f32 parameters can be optimized`);
  }
  if (new Set(tensors).size !== tensors.length) throw new ScratchGPTError('value', 'scratchgpt: the same parameter appears twice in the optimizer list');
  return { names, tensors };
}

/** Host-side counters of an optimizer (see {@link Optimizer.saveCounters}). */
export interface OptimizerCounters {
  lr: number;
  [key: string]: unknown;
}

/** Saved optimizer state: tensors by name plus JSON-serialisable metadata. */
export interface OptimizerState {
  tensors: Map<string, Tensor>;
  meta: Record<string, unknown>;
}

/** @internal Throws a clear error unless `ok(value)` (hyperparameter validation, like PyTorch's ValueErrors). */
export function checkHyper(what: string, value: number, ok: (v: number) => boolean, expected: string): void {
  if (typeof value !== 'number' || !ok(value)) throw new ScratchGPTError('value', `scratchgpt: invalid ${what} ${String(value)} (expected ${expected})`);
}

export abstract class Optimizer {
  readonly names: string[];
  readonly params: Tensor[];
  private currentLr = 0;

  constructor(params: ParamList, lr: number) {
    const { names, tensors } = normalizeParams(params);
    this.names = names;
    this.params = tensors;
    this.lr = lr;
  }

  /** Learning rate used by the next `step()` (set it from a schedule; no recompiles, it is a uniform). */
  get lr(): number {
    return this.currentLr;
  }

  set lr(lr: number) {
    checkHyper('learning rate', lr, (v) => Number.isFinite(v) && v >= 0, 'a finite number ≥ 0');
    this.currentLr = lr;
  }

  /** Same as assigning `lr` (chainable in schedules: `opt.setLr(schedule(step)).step()`). */
  setLr(lr: number): this {
    this.lr = lr;
    return this;
  }

  /**
   * Applies one update to every parameter that has a gradient (recorded on the GPU, no readback).
   * With a `guard` (only where {@link skipsOnGuard}), the update reads the guard's flag on the GPU and
   * changes nothing while it is set; host-side counters (step counts, lr) still advance, so a caller
   * that finds the step bad puts them back with {@link restoreCounters}.
   */
  abstract step(guard?: StepGuard): void;

  /** Whether `step(guard)` can skip its update on the GPU when a {@link StepGuard}'s flag is set (default false). */
  get skipsOnGuard(): boolean {
    return false;
  }

  /**
   * The host-side state that `step()` advances (the learning rate here; step counts in subclasses),
   * for {@link restoreCounters} after a step that a guard skipped on the GPU.
   */
  saveCounters(): OptimizerCounters {
    return { lr: this.lr };
  }

  /** Puts back what {@link saveCounters} returned (the GPU state is the guard's business). */
  restoreCounters(saved: OptimizerCounters): void {
    this.lr = saved.lr;
  }

  /** @internal Throws unless a guard given to `step` can be honoured. */
  protected checkGuard(guard: StepGuard | undefined): void {
    if (guard && !this.skipsOnGuard) {
      throw new ScratchGPTError('state', `scratchgpt: this ${this.constructor.name} cannot skip its update on a StepGuard's flag (skipsOnGuard is false): read the guard before stepping`);
    }
  }

  /** Disposes every parameter's `.grad`. */
  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  abstract stateDict(): OptimizerState;
  abstract loadStateDict(state: OptimizerState): void;
  /** Frees optimizer state (not the parameters). */
  abstract dispose(): void;
}

/** @internal A parameter's gradient, checked against the parameter (null when it has none: skipped). */
export function gradOf(name: string, p: Tensor): Tensor | null {
  const g = p.grad;
  if (g && (g.dtype !== 'f32' || g.size !== p.size)) {
    throw new ScratchGPTError('shape', `scratchgpt: gradient of '${name}' is [${g.shape.join(', ')}] ${g.dtype}, parameter is [${p.shape.join(', ')}] f32`);
  }
  return g;
}

/** @internal Checks that saved state `src` exists and has `dst`'s shape (used when loading state). */
export function checkStateShape(what: string, dst: Tensor, src: Tensor | undefined): Tensor {
  if (!src) throw new ScratchGPTError('format', `scratchgpt: optimizer state is missing '${what}'`);
  if (!sameShape(src.shape, dst.shape)) {
    throw new ScratchGPTError('shape', `scratchgpt: optimizer state '${what}' has shape [${src.shape.join(', ')}], expected [${dst.shape.join(', ')}]`);
  }
  if (src.dtype !== 'f32') throw new ScratchGPTError('dtype', `scratchgpt: optimizer state '${what}' is ${src.dtype}, expected f32`);
  return src;
}

/** @internal Copies saved state into the optimizer's own tensor on the GPU (a no-op when it already is that tensor). */
export function copyState(src: Tensor, dst: Tensor): void {
  if (src.buffer === dst.buffer && src.byteOffset === dst.byteOffset) return;
  recordCopy(src.buffer, src.byteOffset, dst.buffer, dst.byteOffset, dst.byteLength);
}
