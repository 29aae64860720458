/**
 * Dynamic loss scaling for mixed-precision training, with the semantics of PyTorch 1.13's
 * `torch.cuda.amp.GradScaler`: the loss is multiplied by a scale before backward so that small
 * gradients survive half-precision arithmetic; the gradients are divided by it again (on the GPU,
 * shaders/grad_scaler.wgsl) and checked for Inf/NaN before the optimizer steps; the scale backs off
 * when a step overflowed and grows after a run of clean steps.
 */
import source from '../../../../shaders/grad_scaler.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { defineKernel, launch, range } from '../engine/kernel';
import { recordClear } from '../engine/queue';
import { keep } from '../engine/scope';
import { Tensor } from '../engine/tensor';
import { commonWgsl } from '../ops/shared';
import { mulScalar } from '../ops/unary';
import { arenaBindingBytes, flatGradients } from './arena';
import { checkHyper, gradOf, type Optimizer } from './optimizer';

const kernel = defineKernel('grad_scaler', source, { with: [commonWgsl] });

/** Options of {@link GradScaler} (PyTorch's defaults). */
export interface GradScalerOptions {
  /** Scale of the first steps (default 2¹⁶ = 65536; kept as an f32, like PyTorch's scale tensor). */
  initScale?: number;
  /** Factor the scale grows by after `growthInterval` steps in a row without Inf/NaN gradients (default 2). */
  growthFactor?: number;
  /** Factor the scale shrinks by after a step with Inf/NaN gradients (default 0.5). */
  backoffFactor?: number;
  /** Steps in a row without Inf/NaN gradients before the scale grows (default 2000). */
  growthInterval?: number;
  /** When false every method is a pass-through: no scaling, no checks, `step` always steps (default true). */
  enabled?: boolean;
}

/** What {@link GradScaler.stateDict} saves (JSON-serialisable, the fields of PyTorch's state dict). */
export interface GradScalerState {
  scale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  growthTracker: number;
}

/** One optimizer's inf check in the current step: its flag on the GPU and, once `step` read it, its value. */
interface InfCheck {
  found: Tensor<'u32'>;
  /** Null until `step()` reads the flag back. */
  foundInf: boolean | null;
  stepped: boolean;
}

const F32_POSITIVE = 'a finite number > 0 (as an f32)';
const isF32Positive = (v: number) => Number.isFinite(Math.fround(v)) && Math.fround(v) > 0;

function checkFactors(growthFactor: number, backoffFactor: number, growthInterval: number): void {
  checkHyper('GradScaler growthFactor', growthFactor, (v) => Number.isFinite(v) && v > 1, 'a finite number > 1');
  checkHyper('GradScaler backoffFactor', backoffFactor, (v) => v > 0 && v < 1, 'a number in (0, 1)');
  checkHyper('GradScaler growthInterval', growthInterval, (v) => Number.isSafeInteger(v) && v > 0, 'a positive integer');
}

/**
 * Dynamic loss scaling (PyTorch's `GradScaler`): `scale(loss)` before `backward()`, then
 * `step(optimizer)` (which unscales the gradients unless `unscale(optimizer)` already did, and steps
 * only when they are all finite), then `update()` once per iteration. The scale is an f32 kept on the
 * CPU; unscaling multiplies the gradients by `fround(1 / scale)` on the GPU, one dispatch per
 * binding-sized chunk of each gradient (of each flat gradient buffer for a fused `AdamW`). With a
 * power-of-two scale (the default, and every scale the default factors reach) scaling and unscaling
 * are exact, so where nothing overflows training is bitwise the same as without the scaler.
 * @example
 * ```ts
 * const scaler = new GradScaler();
 * for (const batch of batches) {
 *   const loss = model.loss(batch);
 *   const scaled = scaler.scale(loss);
 *   scaled.backward();
 *   scaler.unscale(opt);                    // optional: only to clip the true gradients
 *   clipGradNorm(model.parameters(), 1.0).dispose();
 *   await scaler.step(opt);                 // skipped (returns false) when a gradient is Inf/NaN
 *   scaler.update();
 *   opt.zeroGrad();
 *   scaled.dispose(); loss.dispose();
 * }
 * ```
 */
export class GradScaler {
  /** Whether scaling is on (when off, every method passes through). */
  readonly enabled: boolean;
  private scaleValue: number;
  private growthFactor: number;
  private backoffFactor: number;
  private growthInterval: number;
  /** Clean steps in a row since the scale last changed (PyTorch's `_growth_tracker`). */
  private growthTracker = 0;
  /** This iteration's inf checks, per optimizer (cleared by `update()`). */
  private readonly checks = new Map<Optimizer, InfCheck>();
  /** Flags of past iterations, reused so that a training loop allocates none. */
  private readonly spareFlags: Tensor<'u32'>[] = [];
  private disposed = false;

  constructor({ initScale = 65536, growthFactor = 2, backoffFactor = 0.5, growthInterval = 2000, enabled = true }: GradScalerOptions = {}) {
    checkHyper('GradScaler initScale', initScale, isF32Positive, F32_POSITIVE);
    checkFactors(growthFactor, backoffFactor, growthInterval);
    if (typeof enabled !== 'boolean') throw new ScratchGPTError('value', `scratchgpt: invalid GradScaler enabled ${String(enabled)} (expected true or false)`);
    this.enabled = enabled;
    this.scaleValue = Math.fround(initScale);
    this.growthFactor = growthFactor;
    this.backoffFactor = backoffFactor;
    this.growthInterval = growthInterval;
  }

  /** The current scale (1 when disabled). */
  getScale(): number {
    return this.enabled ? this.scaleValue : 1;
  }

  /**
   * `loss × scale` as a new tensor recorded for autograd (call `backward()` on it; the caller disposes
   * it). Disabled: a view of `loss` (also recorded, also to dispose).
   */
  scale(loss: Tensor): Tensor {
    this.checkLive('scale');
    if (!this.enabled) return loss.reshape(loss.shape);
    return mulScalar(loss, this.scaleValue);
  }

  /**
   * Records, on the GPU, `grad *= fround(1 / scale)` for every parameter of `optimizer` that has a
   * gradient, and an Inf/NaN check of every gradient element into a flag that `step()` reads. Call it
   * between `backward()` and `step()` only to work on the true gradients (clipping); at most once per
   * optimizer per iteration (a second call before `update()` throws, as in PyTorch). Nothing is read back.
   */
  unscale(optimizer: Optimizer): void {
    if (!this.enabled) return;
    this.checkLive('unscale');
    const previous = this.checks.get(optimizer);
    if (previous?.stepped) throw new ScratchGPTError('state', 'scratchgpt: GradScaler.unscale() was called after step() for this optimizer; call update() first');
    if (previous) throw new ScratchGPTError('state', 'scratchgpt: GradScaler.unscale() has already been called for this optimizer since the last update()');
    const grads = optimizer.params.map((p, k) => gradOf(optimizer.names[k], p)).filter((g): g is Tensor => g !== null);
    // Whole flat buffers of a fused optimizer (their alignment gaps are zero: finite, unchanged).
    const flat = [...new Set(flatGradients(optimizer.params, grads))];
    const found = this.spareFlags.pop() ?? keep(Tensor.empty([1], 'u32'));
    recordClear(found.buffer, found.byteOffset, 4);
    const invScale = Math.fround(1 / this.scaleValue);
    // Binding-sized chunks (a multiple of 64 elements, so every chunk starts 256-byte aligned).
    const per = Math.floor(arenaBindingBytes() / 4);
    for (const g of flat) {
      for (let start = 0; start < g.size; start += per) {
        const count = Math.min(per, g.size - start);
        launch(kernel, 'unscale', { params: { n: count, inv_scale: invScale }, bind: { grad: range(g, start, count), found }, items: count });
      }
    }
    this.checks.set(optimizer, { found, foundInf: null, stepped: false });
  }

  /**
   * Unscales `optimizer`'s gradients unless `unscale(optimizer)` already did, reads the Inf/NaN flag
   * back (4 bytes; this waits for the GPU, as PyTorch's `step` synchronises with `found_inf.item()`),
   * and calls `optimizer.step()` only when every gradient is finite. Returns whether it stepped
   * (disabled: always steps, returns true). Once per optimizer per iteration.
   */
  async step(optimizer: Optimizer): Promise<boolean> {
    if (!this.enabled) {
      optimizer.step();
      return true;
    }
    this.checkLive('step');
    if (this.checks.get(optimizer)?.stepped) throw new ScratchGPTError('state', 'scratchgpt: GradScaler.step() has already been called for this optimizer since the last update()');
    if (!this.checks.has(optimizer)) this.unscale(optimizer);
    const check = this.checks.get(optimizer)!;
    check.stepped = true;
    const [flag] = await check.found.toArray();
    check.foundInf = flag !== 0;
    if (check.foundInf) return false;
    optimizer.step();
    return true;
  }

  /**
   * Ends the iteration. Without `newScale`, PyTorch's rule: when a gradient checked this iteration
   * was Inf/NaN the scale is multiplied by `backoffFactor` and the growth tracker reset; otherwise the
   * tracker counts one more clean step and on reaching `growthInterval` the scale is multiplied by
   * `growthFactor` (unless that overflows f32) and the tracker reset. Throws when no check was recorded
   * since the last update (call `step()` first), or when an optimizer was unscaled but not stepped
   * (its flag was never read: the scale lives on the CPU). With `newScale` the scale is set to it
   * (tracker unchanged). Disabled: nothing.
   */
  update(newScale?: number): void {
    if (!this.enabled) return;
    this.checkLive('update');
    const checks = [...this.checks.values()];
    if (newScale !== undefined) {
      checkHyper('GradScaler.update() newScale', newScale, isF32Positive, F32_POSITIVE);
      this.scaleValue = Math.fround(newScale);
    } else {
      if (checks.length === 0) throw new ScratchGPTError('state', 'scratchgpt: GradScaler.update(): no inf checks were recorded prior to update(); call step(optimizer) after backward first');
      if (checks.some((c) => c.foundInf === null)) {
        throw new ScratchGPTError('state', 'scratchgpt: GradScaler.update(): an optimizer was unscaled but not stepped, so its inf check was never read; call step(optimizer) before update()');
      }
      this.applyRule(checks.some((c) => c.foundInf));
    }
    for (const c of checks) this.spareFlags.push(c.found);
    this.checks.clear();
  }

  /** PyTorch's `_amp_update_scale_` (in f32, like its scale tensor). */
  private applyRule(foundInf: boolean): void {
    if (foundInf) {
      this.scaleValue = Math.fround(this.scaleValue * this.backoffFactor);
      this.growthTracker = 0;
      return;
    }
    const successful = this.growthTracker + 1;
    if (successful === this.growthInterval) {
      const grown = Math.fround(this.scaleValue * this.growthFactor);
      if (Number.isFinite(grown)) this.scaleValue = grown;
      this.growthTracker = 0;
    } else {
      this.growthTracker = successful;
    }
  }

  /** The scale, factors, interval and growth tracker (the scale as set, even when disabled). */
  stateDict(): GradScalerState {
    return {
      scale: this.scaleValue,
      growthFactor: this.growthFactor,
      backoffFactor: this.backoffFactor,
      growthInterval: this.growthInterval,
      growthTracker: this.growthTracker,
    };
  }

  /** Restores a {@link stateDict}, validated first (nothing changes when a field is invalid). */
  loadStateDict(state: GradScalerState): void {
    if (typeof state !== 'object' || state === null) throw new ScratchGPTError('format', `scratchgpt: GradScaler state must be an object, got ${String(state)}`);
    const { scale, growthFactor, backoffFactor, growthInterval, growthTracker } = state;
    checkHyper('GradScaler state scale', scale, isF32Positive, F32_POSITIVE);
    checkFactors(growthFactor, backoffFactor, growthInterval);
    checkHyper('GradScaler state growthTracker', growthTracker, (v) => Number.isSafeInteger(v) && v >= 0 && v < growthInterval, `an integer in [0, ${growthInterval})`);
    this.scaleValue = Math.fround(scale);
    this.growthFactor = growthFactor;
    this.backoffFactor = backoffFactor;
    this.growthInterval = growthInterval;
    this.growthTracker = growthTracker;
  }

  /** Frees the scaler's GPU flags (idempotent); using it afterwards throws. */
  dispose(): void {
    for (const c of this.checks.values()) c.found.dispose();
    for (const f of this.spareFlags) f.dispose();
    this.checks.clear();
    this.spareFlags.length = 0;
    this.disposed = true;
  }

  private checkLive(what: string): void {
    if (this.disposed) throw new ScratchGPTError('disposed', `scratchgpt: GradScaler.${what}() after dispose()`);
  }
}
