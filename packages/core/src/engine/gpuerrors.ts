/**
 * Errors found on the GPU. A kernel cannot throw, so kernels that validate their input (the
 * embedding's token ids, cross-entropy's targets, sampling's logits) record what they find in a
 * small per-device report buffer (shaders/errors.wgsl). `launch` binds that buffer to any binding
 * named `errors` and arms the check; the next readback — which happens anyway (a loss, a sampled
 * id) — copies the buffer in the same submission and clears it, and `checkReports` turns a report
 * into an error naming the op, the offending value and its position. No extra readback per step.
 *
 * Reports are found late by nature: the error surfaces at the first readback after the bad kernel
 * ran, whichever tensor is read.
 */
import { BufferUsage } from './device';
import { ScratchGPTError, type ErrorCode } from './errors';

/** The WGSL binding name reserved for the report buffer (bound by `launch`, never passed by callers). */
export const ERRORS_BINDING = 'errors';

/** Bytes of the report buffer that are copied back: count, code, value, index, limit (5 u32, padded). */
export const REPORT_BYTES = 32;

/** The first report since the last readback, as the kernel wrote it. */
export interface GpuErrorReport {
  /** How many reports were made (bad ids/rows found); only the first one's details are kept. */
  count: number;
  /** Which check failed (a `const ERR_…` of shaders/errors.wgsl). */
  code: number;
  /** The offending value, as raw u32 bits (`value | 0` for an i32 id). */
  value: number;
  /** Where: a flat position or a row. */
  index: number;
  /** The bound that was violated (vocabulary size, classes). */
  limit: number;
}

type Describe = (report: GpuErrorReport) => string;

const describers = new Map<number, { kind: ErrorCode; describe: Describe }>();

/**
 * Registers the error of a report code (called by the op that reports it, at module load): its
 * {@link ErrorCode} and a message (starting with `scratchgpt: `) made from the report.
 */
export function describeGpuError(code: number, kind: ErrorCode, describe: Describe): void {
  if (!Number.isInteger(code) || code <= 0) throw new ScratchGPTError('value', `scratchgpt: GPU error codes are positive integers, got ${code}`);
  describers.set(code, { kind, describe });
}

interface ReportBuffer {
  device: GPUDevice;
  buffer: GPUBuffer;
  /** A kernel that can report was recorded since the last readback. */
  armed: boolean;
}

let reports: ReportBuffer | null = null;

function reportBuffer(device: GPUDevice): ReportBuffer {
  if (!reports || reports.device !== device) {
    // New buffers are zeroed; a new device starts with a fresh one.
    const buffer = device.createBuffer({ size: 256, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST, label: 'scratchgpt error reports' });
    reports = { device, buffer, armed: false };
  }
  return reports;
}

/** The binding for a kernel's `errors` variable; `arm` when the dispatched entry point can write it. */
export function errorsResource(device: GPUDevice, arm: boolean): GPUBufferBinding {
  const r = reportBuffer(device);
  if (arm) r.armed = true;
  return { buffer: r.buffer, offset: 0, size: REPORT_BYTES };
}

/**
 * The report buffer to copy back with a readback on `device` when a reporting kernel ran since the
 * last one (then disarmed: the caller copies it and clears it in the same submission), else null.
 */
export function takeArmedReports(device: GPUDevice): GPUBuffer | null {
  if (!reports || reports.device !== device || !reports.armed) return null;
  reports.armed = false;
  return reports.buffer;
}

/** Throws the error described by a copied report buffer, if it holds a report. */
export function checkReports(words: Uint32Array): void {
  const count = words[0];
  if (count === 0) return;
  const report: GpuErrorReport = { count, code: words[1], value: words[2], index: words[3], limit: words[4] };
  const known = describers.get(report.code);
  const message = known
    ? known.describe(report)
    : `scratchgpt: a kernel reported error code ${report.code} (value ${report.value}, index ${report.index}, limit ${report.limit})`;
  throw new ScratchGPTError(known?.kind ?? 'device', `${message} [found on the GPU; reported at the next readback]`);
}
