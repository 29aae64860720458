/**
 * Categorical sampling from logits on the GPU (shaders/sample.wgsl): temperature, top-k, top-p,
 * seeded; greedy when temperature is 0. Returns one i32 id per row — generation reads back only that.
 */
import source from '../../../../shaders/sample.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { nextSeed } from './creation';
import { describeGpuError } from '../engine/gpuerrors';
import { launch } from '../engine/kernel';
import { expectDType, fmt, Tensor } from '../engine/tensor';
import type { OpInfo } from './info';
import { errorsWgsl } from './shared';
import { defineRowKernel, rowsSubgroupSize, rowVariant } from './variants';

const kernel = defineRowKernel('sample', source, [errorsWgsl]);

describeGpuError(
  kernel.consts.ERR_NONFINITE_LOGITS,
  'value',
  (r) =>
    `scratchgpt: sampleLogits: row ${r.index} of the logits (vocabulary ${r.limit}) holds NaN or +Infinity, or no value above -Infinity` +
    (r.count > 1 ? ` (${r.count} such rows)` : '') +
    ', so no token can be drawn: the model produces non-finite outputs (did training diverge? were corrupt weights loaded?)',
);

export interface SampleOptions {
  /** Softmax temperature; 0 (default) picks the first maximum (greedy). */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = off). Ties at the k-th value are kept. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 = off). */
  topP?: number;
  /** Seed for this draw (default: the global generator). Same seed and logits → same ids. */
  seed?: number;
}

/**
 * Draws one token id per row of `logits` `[..., V]` → i32 `[...]`. A row with NaN or +Infinity (or
 * only −Infinity) gets id −1 and is reported: the next readback (of these ids) throws.
 */
export function sampleLogits(logits: Tensor, options: SampleOptions = {}): Tensor<'i32'> {
  expectDType('sampleLogits', logits, 'f32');
  if (logits.rank < 1) throw new ScratchGPTError('shape', 'scratchgpt: sampleLogits needs logits of shape [..., V]');
  const temperature = options.temperature ?? 0;
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  if (!(temperature >= 0)) throw new ScratchGPTError('range', `scratchgpt: sampleLogits: temperature must be ≥ 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new ScratchGPTError('value', `scratchgpt: sampleLogits: topK must be a non-negative integer, got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new ScratchGPTError('range', `scratchgpt: sampleLogits: topP must be in (0, 1], got ${topP}`);
  const v = logits.shape[logits.rank - 1];
  if (v === 0) throw new ScratchGPTError('shape', `scratchgpt: sampleLogits: empty vocabulary in logits ${fmt(logits.shape)}`);
  const rows = logits.size / v;
  // The variant first: it throws when a forced one is unavailable, before anything is allocated.
  const variant = rowVariant(kernel);
  const out = Tensor.empty(logits.shape.slice(0, -1), 'i32');
  const seed = temperature > 0 ? (options.seed ?? nextSeed()) >>> 0 : 0;
  // One workgroup per row, indexed by workgroup_id.x alone (the row also keys the draw's hash).
  launch(variant, 'forward', { constants: { ROWS_SG: rowsSubgroupSize() }, params: { v, top_k: topK, seed, temperature, top_p: topP }, bind: { logits, out }, workgroups: [rows, 1, 1] });
  return out;
}

/** float64 reference: the probabilities `sampleLogits` draws from for one row. */
export function samplingDistributionRef(logits: ArrayLike<number>, { temperature = 0, topK = 0, topP = 1 }: SampleOptions = {}): Float64Array {
  const n = logits.length;
  const probs = new Float64Array(n);
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < n; i++) if (logits[i] > logits[best]) best = i;
    probs[best] = 1;
    return probs;
  }
  const z = Array.from(logits, (x) => x / temperature);
  let keep = z.map(() => true);
  if (topK > 0 && topK < n) {
    const kth = [...z].sort((a, b) => b - a)[topK - 1];
    keep = z.map((x) => x >= kth);
  }
  const max = Math.max(...z);
  const w = z.map((x, i) => (keep[i] ? Math.exp(x - max) : 0));
  if (topP < 1) {
    const total = w.reduce((a, b) => a + b, 0);
    const order = w.map((x, i) => [x, i]).filter(([x]) => x > 0).sort((a, b) => b[0] - a[0]);
    let mass = 0;
    let threshold = 0;
    for (const [x] of order) {
      mass += x;
      threshold = x;
      if (mass >= topP * total) break;
    }
    for (let i = 0; i < n; i++) if (w[i] < threshold) w[i] = 0;
  }
  const total = w.reduce((a, b) => a + b, 0);
  for (let i = 0; i < n; i++) probs[i] = w[i] / total;
  return probs;
}

/** Registry entry of greedy sampling (temperature 0; see `ops/info.ts`; the distributions: test/sample.test.ts). */
export const sampleLogitsInfo: OpInfo = {
  name: 'sampleLogits',
  // (A 50257-token vocabulary: test/sample.test.ts.)
  samples: [[3, 1], [3, 7], [2, 13, 5], [3, 257]].map((shape) => ({ shapes: [shape] })),
  run: ([logits]) => sampleLogits(logits),
  ref: ([logits], [shape]) => {
    const v = shape[shape.length - 1];
    const ids: number[] = [];
    for (let r = 0; r < logits.length / v; r++) {
      let best = 0;
      for (let i = 1; i < v; i++) if (logits[r * v + i] > logits[r * v + best]) best = i;
      ids.push(best);
    }
    return { data: ids, shape: shape.slice(0, -1) };
  },
  domain: [-5, 5],
  // Integers: rows have ties (the first maximum wins).
  data: (_k, [shape], _args, random) => random(shape.reduce((p, d) => p * d, 1)).map(Math.round),
  differentiable: [false],
  dtype: { reject: 'i32' },
};
