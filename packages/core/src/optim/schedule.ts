/** Learning-rate schedules: pure functions of the (0-based) optimizer step. */
import { ScratchGPTError } from '../engine/errors';
import { checkHyper } from './optimizer';

export interface LinearWarmupOptions {
  /** Learning rate reached at `warmupSteps` and kept afterwards. */
  peakLr: number;
  /** Learning rate at step 0 (default 0). */
  initialLr?: number;
  warmupSteps: number;
}

export interface CosineDecayOptions {
  /** Learning rate at step 0. */
  peakLr: number;
  /** Floor reached at `decaySteps` and kept afterwards (default 0). */
  minLr?: number;
  decaySteps: number;
}

export interface WarmupCosineOptions {
  peakLr: number;
  /** Learning rate at step 0 (default 0). */
  initialLr?: number;
  /** Floor reached at `totalSteps` (default 0). */
  minLr?: number;
  warmupSteps: number;
  totalSteps: number;
}

function checkSteps(what: string, n: number): void {
  checkHyper(what, n, (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0');
}

/** `initialLr + step·(peakLr − initialLr)/warmupSteps` until `warmupSteps`, then `peakLr`. */
export function linearWarmup({ peakLr, initialLr = 0, warmupSteps }: LinearWarmupOptions): (step: number) => number {
  checkSteps('linearWarmup warmupSteps', warmupSteps);
  const increment = warmupSteps > 0 ? (peakLr - initialLr) / warmupSteps : 0;
  return (step) => (step < warmupSteps ? initialLr + step * increment : peakLr);
}

/** `minLr + (peakLr − minLr)·½(1 + cos(π·step/decaySteps))`, then `minLr` after `decaySteps`. */
export function cosineDecay({ peakLr, minLr = 0, decaySteps }: CosineDecayOptions): (step: number) => number {
  checkSteps('cosineDecay decaySteps', decaySteps);
  return (step) => {
    const progress = decaySteps > 0 ? Math.min(1, Math.max(0, step / decaySteps)) : 1;
    return minLr + (peakLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}

/**
 * Linear warmup from `initialLr` to `peakLr` over `warmupSteps`, then cosine decay to `minLr` at
 * `totalSteps` (the book's chapter-5 appendix schedule):
 * `lr = minLr + (peakLr − minLr)·½(1 + cos(π·(step − warmupSteps)/(totalSteps − warmupSteps)))`.
 * @example
 * ```ts
 * const schedule = warmupCosine({ peakLr: 5e-4, initialLr: 1e-5, minLr: 1e-5, warmupSteps: 20, totalSteps: 200 });
 * opt.setLr(schedule(step)).step();
 * ```
 */
export function warmupCosine({ peakLr, initialLr = 0, minLr = 0, warmupSteps, totalSteps }: WarmupCosineOptions): (step: number) => number {
  checkSteps('warmupCosine warmupSteps', warmupSteps);
  checkSteps('warmupCosine totalSteps', totalSteps);
  if (totalSteps < warmupSteps) throw new ScratchGPTError('value', `scratchgpt: warmupCosine: totalSteps (${totalSteps}) < warmupSteps (${warmupSteps})`);
  const warmup = linearWarmup({ peakLr, initialLr, warmupSteps });
  // With warmupSteps = totalSteps the book would divide by zero: decay over one step instead.
  const decay = cosineDecay({ peakLr, minLr, decaySteps: Math.max(1, totalSteps - warmupSteps) });
  return (step) => (step < warmupSteps ? warmup(step) : decay(step - warmupSteps));
}
