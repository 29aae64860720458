/** Timing for the GPU benchmark: GPU work batched per timed run so that submit/readback latency does not dominate. */
import { median } from '../run';
import type { Budget } from './budget';

export interface Timed {
  /** Median milliseconds of one unit of work. */
  ms: number;
  /** Units recorded per timed run. */
  iters: number;
  /** Timed runs. */
  reps: number;
}

/**
 * Times `run(iters)` (which records `iters` units of work and resolves when the GPU has finished them):
 * one warm-up unit, then as many units per run as make a run last about `runMs`, then up to `maxReps`
 * runs within `targetMs` (and the budget). Returns the median time of one unit.
 */
export async function timeBatched(
  run: (iters: number) => Promise<void>,
  budget: Budget,
  { runMs = 30, targetMs = 1500, maxReps = 5, maxIters = 64 } = {},
): Promise<Timed> {
  let t0 = performance.now();
  await run(1);
  const firstMs = performance.now() - t0;
  const iters = Math.max(1, Math.min(maxIters, Math.ceil(runMs / Math.max(firstMs, 1e-3))));
  const reps = budget.reps(firstMs * iters, targetMs, maxReps);
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    t0 = performance.now();
    await run(iters);
    times.push((performance.now() - t0) / iters);
  }
  return { ms: median(times), iters, reps };
}

/** The error message's first line, shortened: what a table cell or note shows for a failure. */
export function failure(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 160);
}

/** `fn()`'s result, or its error's first line. */
export async function attempt<T>(fn: () => Promise<T>): Promise<T | string> {
  try {
    return await fn();
  } catch (err) {
    return failure(err);
  }
}
