/**
 * Float comparisons for tests, with no test-framework dependency: {@link compareClose} returns a
 * report, {@link assertClose} throws a `ScratchGPTError` with code `check` naming the worst element.
 */
import { ScratchGPTError } from '../engine/errors';
import type { Tolerance } from '../ops/info';

/** Options of {@link compareClose}: tolerances and a label for the message. */
export interface CloseOptions extends Tolerance {
  /** Prefix of the message (what was compared). */
  label?: string;
}

/** The outcome of {@link compareClose}. */
export interface CloseReport {
  ok: boolean;
  /** Elements outside the tolerance. */
  mismatches: number;
  /** Index of the element furthest outside the tolerance (-1 when all are within, or on a length mismatch). */
  worst: number;
  /** Largest |actual − expected| over all elements (NaN where one side is NaN and the other is not). */
  maxAbsError: number;
  /** What failed, or an empty string. */
  message: string;
}

/**
 * Compares elementwise: |actual − expected| ≤ atol + rtol·|expected| (defaults rtol 1e-5, atol 1e-6).
 * NaN matches NaN and equal infinities match.
 * @example
 * ```ts
 * const report = compareClose(await y.toArray(), softmaxRef(data, c), { rtol: 1e-5 });
 * if (!report.ok) console.log(report.message);
 * ```
 */
export function compareClose(actual: ArrayLike<number>, expected: ArrayLike<number>, { rtol = 1e-5, atol = 1e-6, label = '' }: CloseOptions = {}): CloseReport {
  if (actual.length !== expected.length) {
    return { ok: false, mismatches: Math.max(actual.length, expected.length), worst: -1, maxAbsError: NaN, message: `${label}: length ${actual.length}, expected ${expected.length}` };
  }
  let worst = -1;
  let worstExcess = 0;
  let mismatches = 0;
  let maxAbsError = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (e === a) continue; // covers matching infinities
    const error = Math.abs(a - e);
    maxAbsError = Number.isNaN(error) || Number.isNaN(maxAbsError) ? NaN : Math.max(maxAbsError, error);
    const excess = error - (atol + rtol * Math.abs(e));
    if (!(excess <= 0)) {
      mismatches++;
      if (worst < 0 || excess > worstExcess || Number.isNaN(excess)) {
        worst = i;
        worstExcess = Number.isNaN(excess) ? Infinity : excess;
      }
    }
  }
  const message =
    worst < 0 ? '' : `${label}: element ${worst}: got ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`;
  return { ok: worst < 0, mismatches, worst, maxAbsError, message };
}

/** Like {@link compareClose}, but throws (code `check`) with the worst element when any is outside the tolerance. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, options: CloseOptions = {}): void {
  const report = compareClose(actual, expected, options);
  if (!report.ok) throw new ScratchGPTError('check', report.message);
}
