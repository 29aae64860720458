/**
 * Mixed precision, like `torch.autocast`: inside `autocast('f16', fn)` every `matmul` (and so
 * `Linear`, `linear`'s composed path and whatever is built on them) rounds its f32 operands to f16,
 * multiplies the halves with f32 accumulation and returns f32 — see `MatmulOptions.precision`. Only
 * the products change: other ops, parameters, their gradients and optimizer state stay f32.
 */
import { ScratchGPTError } from './errors';
import { whileRunning } from './modes';

/** How `matmul` reads f32 operands: as they are, or rounded to f16 (mixed precision). */
export type MatmulPrecision = 'f32' | 'f16';

/** Open {@link autocast} calls (sync ones and pending async ones). f16 products while above 0. */
let f16Scopes = 0;

/** The precision of a `matmul` without an explicit `precision` option: `'f16'` inside {@link autocast}. */
export function autocastPrecision(): MatmulPrecision {
  return f16Scopes > 0 ? 'f16' : 'f32';
}

/**
 * Runs `fn` with f16 matrix products (`torch.autocast(device_type, dtype=torch.float16)`): each
 * `matmul` whose options do not name a precision rounds its operands to f16 (one cast each; halves
 * are saved for the backward pass, half the activation memory of a product) and accumulates in f32.
 * Gradients flow to the f32 originals as if the rounding were not there (PyTorch's autocast does the
 * same). Works with async functions like `noGrad`: the mode is global until the promise settles, so
 * prefer a synchronous `fn` (a forward pass and its loss). Nested calls count.
 * @example
 * ```ts
 * const loss = autocast('f16', () => crossEntropy(model.forward(ids), targets));
 * loss.backward(); // f32 gradients for the f32 parameters
 * ```
 */
export function autocast<T>(dtype: 'f16', fn: () => T): T {
  if (dtype !== 'f16') throw new ScratchGPTError('dtype', `scratchgpt: autocast: dtype must be 'f16', got '${String(dtype)}'`);
  return whileRunning(
    () => f16Scopes++,
    () => f16Scopes--,
    fn,
  );
}
