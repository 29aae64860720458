/**
 * f32 peak throughput of known cards (non-tensor-core FMA, boost clock, from the vendors' datasheets),
 * keyed by what the adapter reports (`GPUAdapterInfo.description`/`device`, e.g. Dawn on Vulkan reports
 * the driver's name "NVIDIA H100 80GB HBM3"). First match wins, so specific names come before families.
 * Unknown cards get no percentage unless `--peak-tflops=` gives one.
 */

export interface PeakEntry {
  /** Matched against the adapter's description, device and architecture. */
  match: RegExp;
  /** f32 TFLOP/s without tensor cores. */
  tflops: number;
  card: string;
}

export const F32_PEAKS: readonly PeakEntry[] = [
  { match: /H200/i, tflops: 67, card: 'H200 SXM' },
  { match: /H100.*PCIe/i, tflops: 51, card: 'H100 PCIe' },
  { match: /H100.*NVL/i, tflops: 60, card: 'H100 NVL' },
  { match: /H100/i, tflops: 67, card: 'H100 SXM (80GB HBM3)' },
  { match: /A100/i, tflops: 19.5, card: 'A100' },
  { match: /L40S/i, tflops: 91.6, card: 'L40S' },
  { match: /\bL4\b/i, tflops: 30.3, card: 'L4' },
  { match: /\bA10G?\b/i, tflops: 31.2, card: 'A10 / A10G' },
  { match: /RTX 4090/i, tflops: 82.6, card: 'GeForce RTX 4090' },
  { match: /V100/i, tflops: 15.7, card: 'V100 SXM2' },
  { match: /\bT4\b/i, tflops: 8.1, card: 'T4' },
];

export interface Peak {
  /** f32 TFLOP/s, or null when unknown. */
  tflops: number | null;
  /** Where the number came from: the matched card, `--peak-tflops`, or why there is none. */
  source: string;
}

/** The f32 peak of the adapter described by `text`, or the user's override. */
export function f32Peak(text: string, override?: number): Peak {
  if (override !== undefined) {
    if (!(override > 0)) throw new Error(`scratchgpt: --peak-tflops must be a positive number, got ${override}`);
    return { tflops: override, source: '--peak-tflops' };
  }
  const entry = F32_PEAKS.find((e) => e.match.test(text));
  return entry ? { tflops: entry.tflops, source: `${entry.card} datasheet` } : { tflops: null, source: 'unknown card (pass --peak-tflops=)' };
}
