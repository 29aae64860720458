/**
 * Cross-entropy from logits (shaders/crossentropy.wgsl), fused and numerically stable: PyTorch's
 * `F.cross_entropy(logits, targets, ignore_index=-100)` with mean reduction. Logits `[..., V]`,
 * targets i32 `[...]`. Targets outside [0, V) are not counted (like ignored ones). The result and its
 * gradient stay on the GPU; rows are processed in binding-sized ranges (N·V may exceed 128 MiB).
 */
import source from '../../../../shaders/crossentropy.wgsl';
import { record } from '../engine/graph';
import { chunkElements, defineKernel, launch } from '../engine/kernel';
import { recordCopy } from '../engine/queue';
import { expectDType, fmt, Tensor } from '../engine/tensor';
import { commonWgsl, rowRanges, rowsWgsl } from './shared';

const kernel = defineKernel('crossentropy', source, { with: [commonWgsl, rowsWgsl] });

export interface CrossEntropyOptions {
  /** Target value that is skipped (default -100, PyTorch's). */
  ignoreIndex?: number;
}

/** Mean cross-entropy of `logits` `[..., V]` against i32 `targets` `[...]` → a 1-element tensor. */
export function crossEntropy(logits: Tensor, targets: Tensor, { ignoreIndex = -100 }: CrossEntropyOptions = {}): Tensor {
  expectDType('crossEntropy logits', logits, 'f32');
  expectDType('crossEntropy targets', targets, 'i32');
  if (logits.rank < 1) throw new Error('scratchgpt: crossEntropy needs logits of shape [..., V]');
  const v = logits.shape[logits.rank - 1];
  const n = v === 0 ? 0 : logits.size / v;
  if (targets.size !== n) {
    throw new Error(`scratchgpt: crossEntropy: logits ${fmt(logits.shape)} hold ${n} rows but targets ${fmt(targets.shape)} hold ${targets.size}`);
  }
  if (v > chunkElements() - 64) throw new Error(`scratchgpt: crossEntropy: rows of ${v} logits exceed one storage binding`);
  const rowStats = Tensor.empty([2, n], 'f32');
  const result = Tensor.empty([2], 'f32');
  const ranges = rowRanges(n, v);
  // One workgroup per row.
  for (const r of ranges) {
    launch(kernel, 'forward', {
      params: { v, rows: r.rows, row0: r.row0, shift: r.shift, ignore: ignoreIndex, n },
      bind: { logits: r.bind(logits), targets, row_stats: rowStats },
      groups: r.rows,
    });
  }
  launch(kernel, 'mean_loss', { params: { v, ignore: ignoreIndex, n }, bind: { targets, row_stats: rowStats, result }, groups: 1 });
  const loss = Tensor.empty([1], 'f32');
  recordCopy(result.buffer, 0, loss.buffer, 0, 4);
  const out = record(loss, 'crossEntropy', [logits, targets], [logits, targets, rowStats, result], (g, [x, tg, stats, res]) => [() => {
    const dx = Tensor.empty(x.shape, 'f32');
    for (const r of ranges) {
      launch(kernel, 'backward', {
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
