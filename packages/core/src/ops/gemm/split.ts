/**
 * Splitting a planned product into dispatches whose bindings each fit the device (pure; no GPU).
 *
 * GPT-2's tied LM head is a 50257×768 f32 matrix, 154 MB: more than WebGPU's default
 * maxStorageBufferBindingSize of 128 MiB. Such operands are cut along the dim of their stored rows
 * into chunks bound at aligned offsets, and the product is computed chunk by chunk (accumulating
 * over K where K is cut).
 */
import { ScratchGPTError } from '../../engine/errors';
import { fmt, sizeOf } from '../../engine/tensor';
import { stridedOffset } from '../shared';
import { at, type Gemm, type Operand } from './plan';

/** What the splitter needs to know about the device (WebGPU limit names; unset ones take the spec defaults). */
export interface BindingLimits {
  maxStorageBufferBindingSize: number;
  /** Default 256. */
  minStorageBufferOffsetAlignment?: number;
  /** Default 65535. */
  maxComputeWorkgroupsPerDimension?: number;
  /** Columns one workgroup covers at least (the grid allows `maxComputeWorkgroupsPerDimension` times this). Default 16. */
  columnsPerGroup?: number;
}

/** Elements one binding may span (slack for the aligned start and the rounded-up end). */
export function maxBindingElements(limits: BindingLimits): number {
  const align = limits.minStorageBufferOffsetAlignment ?? 256;
  return Math.floor((limits.maxStorageBufferBindingSize - align - 16) / 4);
}

/** Largest multiple of `unit` that is ≤ `limit`, or `total` if that is smaller (at least `unit`). */
function chunkSize(limit: number, total: number, unit: number): number {
  if (total <= limit) return total;
  return Math.max(unit, Math.floor(limit / unit) * unit);
}

/**
 * `g` as a list of products that each bind at most maxStorageBufferBindingSize bytes per operand
 * and fit the dispatch grid: `[g]` itself when it already does, else one batch entry at a time in
 * chunks along M, N and K. Each operand is cut along the dim of its stored rows (A along K if
 * transposed else M, B along N if transposed else K, C along N if transposed else M); chunks after
 * the first along K accumulate.
 * @example
 * ```ts
 * // x [3, 768] @ W[50257, 768]ᵀ: W is cut into row chunks of < 128 MiB.
 * splitForBindings(lmHead, { maxStorageBufferBindingSize: 128 << 20 }).length; // 2
 * ```
 */
export function splitForBindings<T extends Operand>(g: Gemm<T>, limits: BindingLimits): Gemm<T>[] {
  const maxGroups = limits.maxComputeWorkgroupsPerDimension ?? 65535;
  const maxCols = maxGroups * (limits.columnsPerGroup ?? 16);
  const maxElements = maxBindingElements(limits);
  if ([g.a, g.b, g.c].every((t) => t.size <= maxElements) && g.m <= maxGroups && g.n <= maxCols) return [g];

  const limitFor = (dim: 'm' | 'n' | 'k') => {
    let limit = dim === 'm' ? maxGroups : dim === 'n' ? maxCols : Infinity;
    if ((g.transA ? 'k' : 'm') === dim) limit = Math.min(limit, Math.floor(maxElements / g.lda));
    if ((g.transB ? 'n' : 'k') === dim) limit = Math.min(limit, Math.floor(maxElements / g.ldb));
    if ((g.transC ? 'n' : 'm') === dim) limit = Math.min(limit, Math.floor(maxElements / g.ldc));
    return limit;
  };
  const mc = chunkSize(limitFor('m'), g.m, 32);
  const nc = chunkSize(limitFor('n'), g.n, 16);
  const kc = chunkSize(limitFor('k'), g.k, 4);
  const rowsOf = { m: mc, n: nc, k: kc };
  const spans = [rowsOf[g.transA ? 'k' : 'm'] * g.lda, rowsOf[g.transB ? 'n' : 'k'] * g.ldb, rowsOf[g.transC ? 'n' : 'm'] * g.ldc];
  if (spans.some((x) => x > maxElements)) {
    throw new ScratchGPTError('limit',
      `scratchgpt: matmul of ${fmt(g.a.shape)} and ${fmt(g.b.shape)}: rows are too long to split into bindings of ` +
        `${limits.maxStorageBufferBindingSize} bytes (maxStorageBufferBindingSize)`,
    );
  }

  const out: Gemm<T>[] = [];
  const entries = sizeOf(g.batch);
  for (let e = 0; e < entries; e++) {
    // Element offsets of batch entry e.
    const baseA = g.offA + stridedOffset(e, g.batch, g.strideA);
    const baseB = g.offB + stridedOffset(e, g.batch, g.strideB);
    const baseC = g.offC + e * g.strideC;
    for (let m0 = 0; m0 < g.m; m0 += mc) {
      for (let n0 = 0; n0 < g.n; n0 += nc) {
        let k0 = 0;
        do {
          out.push({
            ...g,
            m: Math.min(mc, g.m - m0),
            n: Math.min(nc, g.n - n0),
            k: Math.min(kc, g.k - k0),
            offA: baseA + at(g.transA, g.lda, m0, k0),
            offB: baseB + at(g.transB, g.ldb, k0, n0),
            offC: baseC + at(g.transC, g.ldc, m0, n0),
            accumulate: g.accumulate || k0 > 0,
            batch: [],
            strideA: [],
            strideB: [],
            strideC: 0,
          });
          k0 += kc;
        } while (k0 < g.k);
      }
    }
  }
  return out;
}
