/**
 * A guard that keeps non-finite training steps out of the weights without a readback per step:
 * `check` records, on the GPU, whether a step's gradients (or its gradient norm, or its losses) hold
 * Inf or NaN into a sticky flag that names the first bad step; optimizers that read the flag
 * (`optimizer.step(guard)`, where `optimizer.skipsOnGuard`) leave parameters and moments untouched
 * while it is set; the host reads the flag at its next check point (`read`) and, with the optimizer's
 * host counters saved before each guarded step, puts the optimizer back exactly where it was before
 * the first bad step. The kernel is shaders/step_guard.wgsl.
 */
import source from '../../../../shaders/step_guard.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { chunks, defineKernel, launch, range } from '../engine/kernel';
import { recordClear } from '../engine/queue';
import { keep } from '../engine/scope';
import { Tensor } from '../engine/tensor';
import { commonWgsl } from '../ops/shared';
import { flatGradients } from './arena';
import { gradOf, normalizeParams, type ParamList } from './optimizer';

const kernel = defineKernel('step_guard', source, { with: [commonWgsl] });

/** The largest step a guard can name (the flag holds 0xffffffff − step in a u32). */
const MAX_STEP = 0xfffffffe;

/**
 * A sticky GPU flag: "some step since the last {@link read} had a non-finite value", holding the first
 * such step. Optimizers that support it skip their whole update while the flag is set, so once a step
 * went bad, it and every later step change nothing until the host has looked.
 * @example
 * ```ts
 * const guard = new StepGuard();
 * for (let step = 1; step <= 100; step++) {
 *   loss(model, batch(step)).backward();
 *   guard.checkGradients(opt.params, step);
 *   opt.step(guard);          // skipped on the GPU once a gradient was non-finite
 *   opt.zeroGrad();
 *   if (step % 10 === 0) {
 *     const bad = await guard.read(); // one 4-byte readback every 10 steps
 *     if (bad !== null) throw new Error(`step ${bad} diverged; the weights are those after step ${bad - 1}`);
 *   }
 * }
 * ```
 */
export class StepGuard {
  /** `[1]` u32: 0, or 0xffffffff − (the first step marked bad). */
  readonly flag: Tensor<'u32'>;
  private disposed = false;

  constructor() {
    this.flag = keep(Tensor.empty([1], 'u32'));
    recordClear(this.flag.buffer, this.flag.byteOffset, 4);
  }

  /**
   * Records a check of every element of `tensors` (f32): a non-finite one marks step `step` (an
   * integer ≥ 1) as bad, unless an earlier step already is. Nothing is read back.
   */
  check(tensors: readonly Tensor[], step: number): void {
    this.checkLive('check');
    if (!Number.isInteger(step) || step < 1 || step > MAX_STEP) throw new ScratchGPTError('value', `scratchgpt: StepGuard step must be an integer in [1, ${MAX_STEP}], got ${step}`);
    for (const t of tensors) {
      if (t.dtype !== 'f32') throw new ScratchGPTError('dtype', `scratchgpt: StepGuard checks f32 values, got a ${t.dtype} tensor of shape [${t.shape.join(', ')}]`);
      for (const { start, count } of chunks(t.size)) {
        if (count === 0) continue;
        const values = range(t, start, count);
        const items = Math.floor(count / 4) + (count % 4);
        launch(kernel, 'check', { params: { n: count, mark: (0xffffffff - step) >>> 0 }, bind: { values, quads: count >= 4 ? values : null, flag: this.flag }, items });
      }
    }
  }

  /**
   * {@link check} of the gradients of `params` (parameters without one are ignored); the flat gradient
   * buffers of a fused optimizer are read whole, one dispatch per binding-sized chunk.
   */
  checkGradients(params: ParamList, step: number): void {
    const { names, tensors } = normalizeParams(params);
    const grads = tensors.map((p, k) => gradOf(names[k], p)).filter((g): g is Tensor => g !== null);
    this.check(flatGradients(tensors, grads), step);
  }

  /**
   * Reads the flag back (4 bytes; waits for the GPU) and clears it: the first step marked bad since
   * the last read, or null when there was none.
   */
  async read(): Promise<number | null> {
    this.checkLive('read');
    const [value] = await this.flag.toArray();
    recordClear(this.flag.buffer, this.flag.byteOffset, 4);
    return value === 0 ? null : (0xffffffff - value) >>> 0;
  }

  /** Frees the flag (idempotent); using the guard afterwards throws. */
  dispose(): void {
    if (!this.disposed) this.flag.dispose();
    this.disposed = true;
  }

  private checkLive(what: string): void {
    if (this.disposed) throw new ScratchGPTError('disposed', `scratchgpt: StepGuard.${what}() after dispose()`);
  }
}
