/**
 * Lost devices: which `GPUDevice`s are gone and why (a driver reset, `device.destroy()`,
 * `destroyGpu()`), so that every later use names the loss instead of failing with an empty
 * `AbortError` or a validation error. `init()` acquires a new device after a loss; tensors, models
 * and optimizer state of the lost one cannot move to it and must be recreated.
 */

import { ScratchGPTError } from './errors';

const reasons = new WeakMap<GPUDevice, string>();
let last: string | null = null;

/** Records that `device` is lost (`reason` as WebGPU gives it, plus its message). */
export function markLost(device: GPUDevice, reason: string, message: string): void {
  if (reasons.has(device)) return;
  const why = message && message !== reason ? `${reason}: ${message}` : reason;
  reasons.set(device, why);
  last = why;
}

/** Why `device` was lost, or undefined while it is usable. */
export function lostReason(device: GPUDevice): string | undefined {
  return reasons.get(device);
}

/** Why the most recent device was lost (null when none was), for the "no GPU" error. */
export function lastLoss(): string | null {
  return last;
}

/** Forgets the last loss once a new device is ready. */
export function clearLastLoss(): void {
  last = null;
}

/** The error for using something (`what`: "this tensor", "a readback") of a lost device. */
export function lostDeviceError(what: string, reason: string): Error {
  return new ScratchGPTError(
    'device',
    `scratchgpt: ${what} belongs to a GPU device that was lost (${reason}); call \`await init()\` for a new device, ` +
      'then recreate tensors, models and optimizers (data of the lost device cannot be recovered: reload it from a checkpoint)',
  );
}
