/**
 * Cross-entropy from logits (shaders/crossentropy.wgsl), fused and numerically stable: PyTorch's
 * `F.cross_entropy(logits, targets, ignore_index=-100)` with mean reduction. Logits `[..., V]`,
 * targets i32 `[...]`. A target outside [0, V) that is not the ignore index is an error, as in
 * PyTorch: the kernel reports it and the next readback throws, naming the target and its row (the
 * row is left out of the mean meanwhile). The result and its gradient stay on the GPU; rows are processed in binding-sized ranges (N·V may exceed 128 MiB).
 */
import source from '../../../../shaders/crossentropy.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { describeGpuError } from '../engine/gpuerrors';
import { record } from '../engine/graph';
import { chunkElements, launch } from '../engine/kernel';
import { recordCopy } from '../engine/queue';
import { expectDType, fmt, Tensor } from '../engine/tensor';
import type { OpInfo } from './info';
import { errorsWgsl, rowRanges } from './shared';
import { defineRowKernel, rowsSubgroupSize, rowVariant } from './variants';

const kernel = defineRowKernel('crossentropy', source, [errorsWgsl]);

describeGpuError(
  kernel.consts.ERR_TARGET_ID,
  'range',
  (r) =>
    `scratchgpt: crossEntropy: target ${r.value | 0} at row ${r.index} is out of range for ${r.limit} classes` +
    (r.count > 1 ? ` (${r.count} bad targets in all)` : '') +
    ' (targets must be in [0, V) or the ignore index, -100 by default)',
);

export interface CrossEntropyOptions {
  /** Target value that is skipped (default -100, PyTorch's). */
  ignoreIndex?: number;
}

/** Mean cross-entropy of `logits` `[..., V]` against i32 `targets` `[...]` → a 1-element tensor. */
export function crossEntropy(logits: Tensor, targets: Tensor, { ignoreIndex = -100 }: CrossEntropyOptions = {}): Tensor {
  expectDType('crossEntropy logits', logits, 'f32');
  expectDType('crossEntropy targets', targets, 'i32');
  if (logits.rank < 1) throw new ScratchGPTError('shape', 'scratchgpt: crossEntropy needs logits of shape [..., V]');
  const v = logits.shape[logits.rank - 1];
  const n = v === 0 ? 0 : logits.size / v;
  if (targets.size !== n) {
    throw new ScratchGPTError('shape', `scratchgpt: crossEntropy: logits ${fmt(logits.shape)} hold ${n} rows but targets ${fmt(targets.shape)} hold ${targets.size}`);
  }
  if (v > chunkElements() - 64) throw new ScratchGPTError('limit', `scratchgpt: crossEntropy: rows of ${v} logits exceed one storage binding`);
  const variant = rowVariant(kernel);
  const sg = rowsSubgroupSize();
  const rowStats = Tensor.empty([2, n], 'f32');
  const result = Tensor.empty([2], 'f32');
  const ranges = rowRanges(n, v);
  // One workgroup per row.
  for (const r of ranges) {
    launch(variant, 'forward', {
      constants: { ROWS_SG: sg },
      params: { v, rows: r.rows, row0: r.row0, shift: r.shift, ignore: ignoreIndex, n },
      bind: { logits: r.bind(logits), targets, row_stats: rowStats },
      groups: r.rows,
    });
  }
  launch(variant, 'mean_loss', { constants: { ROWS_SG: sg }, params: { v, ignore: ignoreIndex, n }, bind: { targets, row_stats: rowStats, result }, groups: 1 });
  const loss = Tensor.empty([1], 'f32');
  recordCopy(result.buffer, result.byteOffset, loss.buffer, loss.byteOffset, 4);
  const out = record(loss, 'crossEntropy', [logits, targets], [logits, targets, rowStats, result], (g, [x, tg, stats, res]) => [() => {
    const dx = Tensor.empty(x.shape, 'f32');
    for (const r of ranges) {
      launch(variant, 'backward', {
        constants: { ROWS_SG: sg },
        params: { v, rows: r.rows, row0: r.row0, shift: r.shift, ignore: ignoreIndex, n },
        bind: { logits: r.bind(dx), targets: tg, row_stats: stats, result: res, upstream: g, source: r.bind(x) },
        groups: r.rows,
      });
    }
    return dx;
  }, null]);
  rowStats.dispose();
  result.dispose();
  return out;
}

/** float64 reference: mean cross-entropy of rows `[n·V]` against targets (NaN if none counted). */
export function crossEntropyRef(logits: ArrayLike<number>, targets: ArrayLike<number>, v: number, ignoreIndex = -100): number {
  let total = 0;
  let count = 0;
  for (let r = 0; r < targets.length; r++) {
    const t = targets[r];
    if (t === ignoreIndex || t < 0 || t >= v) continue;
    let m = -Infinity;
    for (let j = 0; j < v; j++) m = Math.max(m, logits[r * v + j]);
    let s = 0;
    for (let j = 0; j < v; j++) s += Math.exp(logits[r * v + j] - m);
    total += m + Math.log(s) - logits[r * v + t];
    count++;
  }
  return total / count;
}

/**
 * Registry entry of crossEntropy (see `ops/info.ts`): row 1 of each sample is ignored (-100); rows
 * beyond one storage binding: test/crossentropy.test.ts.
 */
export const crossEntropyInfo: OpInfo = {
  name: 'crossEntropy',
  samples: [
    { shapes: [[1, 1], [1]] },
    { shapes: [[3, 7], [3]] },
    { shapes: [[4, 7], [4]] },
    { shapes: [[2, 3, 5], [2, 3]] },
    { shapes: [[17, 129], [17]] },
    { shapes: [[5, 50257], [5]], forwardOnly: true },
  ],
  run: ([logits, targets]) => crossEntropy(logits, targets),
  ref: ([logits, targets], [shape]) => ({ data: [crossEntropyRef(logits, targets, shape[shape.length - 1])], shape: [1] }),
  tol: { rtol: 2e-6, atol: 1e-7 },
  domain: [-4, 4],
  dtypes: ['f32', 'i32'],
  data: (k, [shape, targetShape], _args, random) => {
    if (k === 0) return undefined;
    const v = shape[shape.length - 1];
    return random(targetShape.reduce((p, d) => p * d, 1), 0, v).map((t, i) => (i === 1 ? -100 : Math.floor(t)));
  },
  differentiable: [true, false],
  dtype: { reject: 'i32', input: 0 },
};

