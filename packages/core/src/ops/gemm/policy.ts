/**
 * Which matmul variant runs, per adapter class and shape (tfjs's `BatchMatMul_impl` idea, as a table
 * of rules instead of thresholds scattered through the dispatcher):
 * 1. a forced variant (`_matmulKernel`, env `SCRATCHGPT_MATMUL_KERNEL`);
 * 2. tiny problems → `simple` (launch cost dominates; fewest pipelines to compile);
 * 3. at most 4 rows (decoding, a column vector) → `gemv` (CPU adapters) or `gemv_splitk` (GPUs);
 * 4. CPU adapters (llvmpipe, lavapipe, SwiftShader: every storage load is a per-lane gather, barriers
 *    are slow) → the register tile the autotune picked (`tile32x16` until it has);
 * 5. GPUs → shared-memory block tiles, 128×128 when that still gives enough workgroups, else 64×64.
 *    Their register-prefetch twins (`shared*_prefetch`, bitwise the same results) stay opt-in until
 *    `pnpm bench:gpu` has timed them on a real GPU (no accelerator has been available to measure).
 */
import { sizeOf } from '../../engine/tensor';
import type { Gemm } from './plan';
import { matmulVariant, type MatmulKernel } from './variants';

/** Problems with at most this many multiply-adds use the one-output-per-thread entry. */
export const TINY = 32768;
/** Products with at most this many rows (after planning) take the matrix-vector path. */
export const GEMV_MAX_ROWS = 4;
/** The 128×128 block tile needs at least this many blocks to keep a GPU busy (else 64×64). */
const MIN_BLOCKS_128 = 64;

/** What the adapter is, as far as the matmul policy cares. */
export type AdapterClass = 'cpu' | 'gpu';

/** The `adapter.info` fields the classification reads (all optional: browsers may blank them). */
export interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/**
 * `cpu` for software rasterisers running WebGPU on the CPU (Mesa llvmpipe/lavapipe/softpipe, Google
 * SwiftShader, Microsoft WARP, and any adapter the browser marks as a fallback), `gpu` otherwise.
 */
export function adapterClass(info: AdapterInfoLike): AdapterClass {
  if (info.isFallbackAdapter === true) return 'cpu';
  const text = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
  return /llvmpipe|lavapipe|softpipe|swiftshader|subzero|microsoft basic render|\bwarp\b/i.test(text) ? 'cpu' : 'gpu';
}

/** The variant named by env `SCRATCHGPT_MATMUL_KERNEL` (Node; null when unset or outside Node). */
export function envKernel(): MatmulKernel | null {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const name = env?.SCRATCHGPT_MATMUL_KERNEL;
  if (!name) return null;
  return matmulVariant(name, 'SCRATCHGPT_MATMUL_KERNEL: matmul kernel').name;
}

export interface ChoiceContext {
  adapter: AdapterClass;
  /** A variant forced by an option or the environment. */
  forced?: MatmulKernel | null;
  /** The register tile the autotune picked for this adapter (CPU adapters; null until it has). */
  tuned?: MatmulKernel | null;
}

/** The variant for one planned problem. */
export function chooseKernel(g: Gemm, ctx: ChoiceContext): MatmulKernel {
  if (ctx.forced) return ctx.forced;
  const entries = sizeOf(g.batch);
  if (entries * g.m * g.n * g.k <= TINY) return 'simple';
  if (g.m <= GEMV_MAX_ROWS) return ctx.adapter === 'cpu' ? 'gemv' : 'gemv_splitk';
  if (ctx.adapter === 'cpu') return ctx.tuned ?? 'tile32x16';
  const blocks128 = Math.ceil(g.m / 128) * Math.ceil(g.n / 128) * entries;
  return blocks128 >= MIN_BLOCKS_128 ? 'shared128' : 'shared64';
}
