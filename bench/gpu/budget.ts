/**
 * The GPU benchmark's global time budget: rows are added in priority order while time is left, each
 * skipped row is named, and timing loops size their repetitions to what is left.
 */

export class Budget {
  private readonly start = performance.now();
  readonly skipped: string[] = [];

  /** @param limitMs total wall time for the rows (adapter start-up included). */
  constructor(readonly limitMs: number) {}

  elapsedMs(): number {
    return performance.now() - this.start;
  }

  leftMs(): number {
    return this.limitMs - this.elapsedMs();
  }

  /**
   * Whether a row expected to take `estimateMs` still fits; if not, records it as skipped.
   * @example
   * ```ts
   * if (budget.allows('decode batch 8', 20_000)) rows.push(await decode(8));
   * ```
   */
  allows(row: string, estimateMs = 0): boolean {
    if (this.elapsedMs() + estimateMs <= this.limitMs) return true;
    this.skipped.push(row);
    return false;
  }

  /** Timed repetitions after a warm-up run of `firstMs`: aim at `targetMs` in all, within [1, maxReps] and the budget. */
  reps(firstMs: number, targetMs: number, maxReps: number): number {
    const fit = Math.floor(Math.min(targetMs, Math.max(0, this.leftMs())) / Math.max(firstMs, 1e-3));
    return Math.max(1, Math.min(maxReps, fit));
  }
}
