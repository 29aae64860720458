/**
 * The matmul kernel lab (llm.c's `dev/cuda` idea): every variant of ops/gemm/variants.ts on a list of
 * shapes — squares, GPT-2 124M's training and decoding products, odd sizes — each validated against a
 * float64 reference on sampled outputs, then timed. Prints one table per adapter: GFLOP/s per
 * variant × shape (✗ where validation failed, `-` where skipped), the policy's own choice, and the
 * autotune's measurement on CPU adapters.
 *
 * `pnpm bench:kernels` (or `node dist/bench.js --only=kernels`); options:
 * `--quick` (fewer, smaller shapes), `--variants=tile32x16,gemv`, `--shapes=1024,lm-head-decode`.
 * Another adapter: `SCRATCHGPT_BACKEND=swiftshader` (or `lavapipe`, `vulkan`).
 */
import { fromArray, init, matmul, sync, type Tensor } from '../../packages/core/src/node';
import { seededRandom } from '../../packages/core/src/ops/creation';
import { tuneMatmul } from '../../packages/core/src/ops/gemm/autotune';
import { tileConfig } from '../../packages/core/src/ops/gemm/dispatch';
import { describeGemm, foldBatchIntoRows, transposeNarrowOutput } from '../../packages/core/src/ops/gemm/plan';
import { chooseKernel } from '../../packages/core/src/ops/gemm/policy';
import { MATMUL_VARIANTS, type MatmulKernel } from '../../packages/core/src/ops/gemm/variants';
import { matmulShape } from '../../packages/core/src/ops/matmul';
import { median, table } from '../run';

/** One product of the lab: `[M, K] @ [K, N]` (or `[N, K]ᵀ` with `transB`), optionally batched. */
export interface LabShape {
  name: string;
  m: number;
  k: number;
  n: number;
  transB?: boolean;
  batch?: number;
}

/** The lab's shapes. GPT-2 124M: C = 768, 4C = 3072, V = 50257; training rows B·T = 4·128. */
export const LAB_SHAPES: readonly LabShape[] = [
  { name: '256', m: 256, k: 256, n: 256 },
  { name: '1024', m: 1024, k: 1024, n: 1024 },
  { name: '2048', m: 2048, k: 2048, n: 2048 },
  { name: 'odd 509×257×131', m: 509, k: 257, n: 131 },
  { name: 'qkv 512×768→2304', m: 512, k: 768, n: 2304, transB: true },
  { name: 'fc 512×768→3072', m: 512, k: 768, n: 3072, transB: true },
  { name: 'proj 512×3072→768', m: 512, k: 3072, n: 768, transB: true },
  { name: 'attn q·kᵀ 48×128×64', m: 128, k: 64, n: 128, transB: true, batch: 48 },
  { name: 'lm-head 64×768→50257', m: 64, k: 768, n: 50257, transB: true },
  { name: 'decode qkv 1×768→2304', m: 1, k: 768, n: 2304, transB: true },
  { name: 'decode fc 1×768→3072', m: 1, k: 768, n: 3072, transB: true },
  { name: 'decode proj 1×3072→768', m: 1, k: 3072, n: 768, transB: true },
  { name: 'lm-head-decode 1×768→50257', m: 1, k: 768, n: 50257, transB: true },
  { name: 'lm-head dX 4×50257→768', m: 4, k: 50257, n: 768 },
];

const QUICK = new Set(['256', 'odd 509×257×131', 'qkv 512×768→2304', 'attn q·kᵀ 48×128×64', 'decode qkv 1×768→2304', 'lm-head-decode 1×768→50257']);

export interface KernelLabOptions {
  quick?: boolean;
  /** Only these variants (default: all). */
  variants?: readonly string[];
  /** Only shapes whose name starts with one of these (default: all, or the quick list). */
  shapes?: readonly string[];
  /** Timed runs per cell after one validated warm-up run (default 3). */
  reps?: number;
  /** Skip the timed runs of a cell whose first run took longer than this (ms; default 4000). */
  maxRunMs?: number;
  log?: (line: string) => void;
}

export interface KernelLabCell {
  shape: string;
  variant: MatmulKernel;
  /** GFLOP/s (median of the timed runs, or the first run when skipped), null if not run. */
  gflops: number | null;
  /** Worst |got − want| / (atol + rtol·|want|) over the sampled outputs (≤ 1 passes). */
  error: number;
}

function uniform(n: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n }, () => random() * 2 - 1);
}

/** Sampled output positions (batch entry, row, column): corners and pseudo-random ones. */
function samples(s: LabShape, count: number): [number, number, number][] {
  const batch = s.batch ?? 1;
  const out: [number, number, number][] = [
    [0, 0, 0],
    [batch - 1, s.m - 1, s.n - 1],
    [0, s.m - 1, 0],
    [batch - 1, 0, s.n - 1],
  ];
  const random = seededRandom(77);
  while (out.length < count) out.push([Math.floor(random() * batch), Math.floor(random() * s.m), Math.floor(random() * s.n)]);
  return out;
}

/** Worst error ratio of `c` against float64 dot products at the sampled positions. */
function validate(s: LabShape, a: Float32Array, b: Float32Array, c: Float32Array): number {
  const { m, k, n } = s;
  let worst = 0;
  for (const [e, i, j] of samples(s, 64)) {
    let want = 0;
    for (let p = 0; p < k; p++) want += a[e * m * k + i * k + p] * (s.transB ? b[e * n * k + j * k + p] : b[e * k * n + p * n + j]);
    const got = c[e * m * n + i * n + j];
    // Sums of K products of values in [-1, 1): f32 rounding grows with K.
    const tolerance = 1e-5 * Math.max(1, k / 16) + 1e-4 * Math.abs(want);
    worst = Math.max(worst, Number.isFinite(got) ? Math.abs(got - want) / tolerance : Infinity);
  }
  return worst;
}

/** Runs the lab on the library's current adapter and prints its table. */
export async function benchKernels(options: KernelLabOptions = {}): Promise<KernelLabCell[]> {
  const log = options.log ?? console.log;
  const gpu = await init();
  const config = tileConfig();
  log(`matmul kernel lab on ${gpu.adapterName} (${gpu.backend}, ${gpu.featureLevel}; ${config.adapter} adapter)`);
  if (config.adapter === 'cpu') {
    const tuning = await tuneMatmul();
    const ms = Object.entries(tuning.ms).map(([t, v]) => `${t} ${(v as number).toFixed(1)} ms`);
    log(`autotune (256³, best of 3): ${ms.join(', ')} → ${tuning.tile} (${tuning.totalMs.toFixed(0)} ms with compilation)`);
  }
  const variants = MATMUL_VARIANTS.filter((v) => !options.variants || options.variants.includes(v.name)).map((v) => v.name);
  const shapes = LAB_SHAPES.filter((s) => (options.shapes ? options.shapes.some((p) => s.name.startsWith(p)) : !options.quick || QUICK.has(s.name)));
  const reps = options.reps ?? 3;
  const maxRunMs = options.maxRunMs ?? 4000;
  const cells: KernelLabCell[] = [];
  const rows: string[][] = [];
  for (const s of shapes) {
    const batch = s.batch ?? 1;
    const aShape = s.batch ? [batch, s.m, s.k] : [s.m, s.k];
    const bRows = s.transB ? [s.n, s.k] : [s.k, s.n];
    const bShape = s.batch ? [batch, ...bRows] : bRows;
    const aData = uniform(batch * s.m * s.k, 1);
    const bData = uniform(batch * s.k * s.n, 2);
    const a = fromArray(aData, aShape);
    const b = fromArray(bData, bShape);
    const flop = 2 * batch * s.m * s.n * s.k;
    const dims = matmulShape(aShape, bShape, { transB: s.transB });
    const out = { shape: dims.shape, size: batch * s.m * s.n };
    const planned = transposeNarrowOutput(foldBatchIntoRows(describeGemm<{ shape: readonly number[]; size: number }>(a, b, out, dims, false, s.transB ?? false)));
    const policy = chooseKernel(planned, { adapter: config.adapter, tuned: config.adapter === 'cpu' ? (await tuneMatmul()).tile : null });
    const row = [s.name, policy];
    for (const variant of variants) {
      const run = () => matmul(a, b, { transB: s.transB, _matmulKernel: variant });
      // First run: compilation, then validation.
      const first = performance.now();
      const c: Tensor = run();
      const out = await c.toArray();
      const firstMs = performance.now() - first;
      c.dispose();
      const error = validate(s, aData, bData, out as Float32Array);
      const times: number[] = [];
      if (firstMs < maxRunMs) {
        for (let r = 0; r < reps; r++) {
          const t0 = performance.now();
          run().dispose();
          await sync();
          times.push(performance.now() - t0);
        }
      }
      const ms = times.length > 0 ? median(times) : firstMs;
      const gflops = flop / (ms * 1e6);
      cells.push({ shape: s.name, variant, gflops, error });
      row.push(`${error <= 1 ? '' : '✗ '}${gflops.toFixed(gflops < 10 ? 2 : 1)}${times.length > 0 ? '' : '*'}`);
    }
    a.dispose();
    b.dispose();
    rows.push(row);
    log(`  ${row.join(' | ')}`);
  }
  log(table(['shape', 'policy', ...variants], rows));
  log('GFLOP/s, median of the timed runs; * one (compiling) run only; ✗ failed validation against float64 (sampled outputs).');
  const failed = cells.filter((c) => c.error > 1);
  if (failed.length > 0) log(`VALIDATION FAILED: ${failed.map((c) => `${c.variant} on ${c.shape} (${c.error.toFixed(1)}× tolerance)`).join('; ')}`);
  return cells;
}
