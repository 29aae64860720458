/** Learning-rate schedules: pure functions of the step. */

export interface WarmupCosineOptions {
  peakLr: number;
  /** Learning rate at step 0 (default 0). */
  initialLr?: number;
  /** Floor reached at `totalSteps` (default 0). */
  minLr?: number;
  warmupSteps: number;
  totalSteps: number;
}

/**
 * Linear warmup from `initialLr` to `peakLr` over `warmupSteps`, then cosine decay to `minLr` at
 * `totalSteps` (the book's chapter-5 appendix schedule).
 */
export function warmupCosine({ peakLr, initialLr = 0, minLr = 0, warmupSteps, totalSteps }: WarmupCosineOptions): (step: number) => number {
  if (totalSteps < warmupSteps) throw new Error(`scratchgpt: warmupCosine: totalSteps (${totalSteps}) < warmupSteps (${warmupSteps})`);
  const increment = warmupSteps > 0 ? (peakLr - initialLr) / warmupSteps : 0;
  return (step: number) => {
    if (step < warmupSteps) return initialLr + step * increment;
    const span = Math.max(1, totalSteps - warmupSteps);
    const progress = Math.min(1, (step - warmupSteps) / span);
    return minLr + (peakLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}
