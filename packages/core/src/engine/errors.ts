/**
 * The library's error class: every error scratchgpt throws is a {@link ScratchGPTError} whose `code`
 * says what kind of problem it is, so callers can catch by kind. The message (starting with
 * `scratchgpt: `) says exactly what was wrong: the shapes, the dtype, the id, the tensor's name.
 */

/**
 * What kind of problem an error reports.
 * - `shape`: shapes that do not match, broadcast or fit (rank, size, dimension).
 * - `dtype`: a tensor of the wrong element type.
 * - `range`: an index, axis, id or count outside its allowed range.
 * - `value`: an argument or option value that is not allowed (not an integer, an unknown name, a bad probability).
 * - `disposed`: a tensor, graph or device used after it was freed.
 * - `state`: a call at the wrong time (backward twice, a name already taken, no device yet).
 * - `limit`: beyond what the device or a kernel supports (binding and buffer sizes, head dims, rank).
 * - `format`: malformed data or source (WGSL, a nested array, a state dict, a checkpoint).
 * - `device`: no adapter or device, or a GPU error.
 * - `check`: a numerical check of `@scratchgpt/core/testing` failed (values or gradients differ).
 */
export type ErrorCode = 'shape' | 'dtype' | 'range' | 'value' | 'disposed' | 'state' | 'limit' | 'format' | 'device' | 'check';

/**
 * An error thrown by scratchgpt, with a {@link ErrorCode} to branch on.
 * @example
 * ```ts
 * try {
 *   matmul(a, b);
 * } catch (err) {
 *   if (err instanceof ScratchGPTError && err.code === 'shape') console.log(err.message); // names both shapes
 *   else throw err;
 * }
 * ```
 */
export class ScratchGPTError extends Error {
  /** The kind of problem. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ScratchGPTError';
    this.code = code;
  }
}
