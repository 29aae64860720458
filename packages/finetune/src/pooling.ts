/**
 * Which positions of the trunk's hidden states `[B, T, C]` feed the classification head, gathered
 * before the head so that no `[B, T, V]` or `[B, T, classes]` tensor is ever built. `last` and `first`
 * are one `narrow` (a strided copy; its backward writes into a zero `[B, T, C]` gradient); `last-non-pad`
 * and `mean` multiply by per-row position weights `[B, 1, T] @ [B, T, C]` (one-hot, or 1/length over
 * the real tokens), which is a gather with a differentiable matmul backward.
 */
import { fmt, fromArray, matmul, narrow, ScratchGPTError, type Tensor } from '@scratchgpt/core';

/**
 * The token position(s) that feed the head:
 * - `last`: position T−1, as in the book (with right padding usually a pad token);
 * - `last-non-pad`: each row's last real token (needs `lengths`);
 * - `first`: position 0;
 * - `mean`: the mean over each row's real tokens (needs `lengths`), taken after the final norm — the
 *   same as averaging the per-position logits (the book's `average_embeddings` experiment, without the pads).
 */
export type Pooling = 'last' | 'last-non-pad' | 'first' | 'mean';

/** Every pooling, for option parsing. */
export const POOLINGS: readonly Pooling[] = Object.freeze(['last', 'last-non-pad', 'first', 'mean'] as const);

/** Whether a pooling reads the rows' non-pad lengths. */
export function poolingNeedsLengths(pooling: Pooling): boolean {
  return pooling === 'last-non-pad' || pooling === 'mean';
}

/** @internal Checks `lengths` against ids `[B, T]` (each in [1, T]). */
export function checkLengths(pooling: Pooling, lengths: Int32Array | undefined, B: number, T: number): Int32Array {
  if (!lengths) throw new ScratchGPTError('range', `scratchgpt: pooling '${pooling}' needs the non-pad length of each row (forward(ids, { lengths }))`);
  if (lengths.length !== B) throw new ScratchGPTError('range', `scratchgpt: pooling '${pooling}': ${lengths.length} lengths for a batch of ${B} rows`);
  lengths.forEach((n, b) => {
    if (!Number.isInteger(n) || n < 1 || n > T) throw new ScratchGPTError('range', `scratchgpt: pooling '${pooling}': length ${n} of row ${b} is outside [1, ${T}]`);
  });
  return lengths;
}

/** Position weights `[B·T]` for `last-non-pad` (one-hot at length−1) or `mean` (1/length on the first length positions). */
export function poolingWeights(pooling: 'last-non-pad' | 'mean', lengths: Int32Array, T: number): Float32Array {
  const w = new Float32Array(lengths.length * T);
  lengths.forEach((n, b) => {
    if (pooling === 'last-non-pad') w[b * T + n - 1] = 1;
    else w.fill(1 / n, b * T, b * T + n);
  });
  return w;
}

/**
 * Pools `h` `[B, T, C]` to `[B, C]` for `last`, `first` or `last-non-pad`, or — for `mean`, which must
 * see normalised states — the caller passes `final_norm(h)`. Returns a new tensor; `h` is not disposed.
 */
export function poolPositions(h: Tensor, pooling: Pooling, lengths?: Int32Array): Tensor {
  if (h.rank !== 3) throw new ScratchGPTError('shape', `scratchgpt: pooling expects hidden states [B, T, C], got ${fmt(h.shape)}`);
  const [B, T, C] = h.shape;
  let picked: Tensor; // [B, 1, C]
  if (pooling === 'last' || pooling === 'first') {
    picked = narrow(h, 1, pooling === 'last' ? T - 1 : 0, 1);
  } else {
    const weights = fromArray(poolingWeights(pooling, checkLengths(pooling, lengths, B, T), T), [B, 1, T]);
    picked = matmul(weights, h);
    weights.dispose();
  }
  const out = picked.reshape([B, C]);
  picked.dispose();
  return out;
}
