/** Shared benchmark helpers: timing with warm-up, medians, and plain-text tables. */

export interface TimeOptions {
  /** Untimed runs first (pipeline compilation, buffer pools). Default 1. */
  warmup?: number;
  /** Timed runs. Default 5. */
  reps?: number;
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Median wall time in milliseconds of `run()` (which must resolve only once its GPU work is done),
 * after `warmup` untimed runs.
 */
export async function timeMs(run: () => Promise<void>, { warmup = 1, reps = 5 }: TimeOptions = {}): Promise<number> {
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return median(times);
}

/** Formats rows as a `|`-separated table with a header rule, columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padStart(widths[i])).join(' | ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}
