/**
 * Matmul section of the GPU benchmark: every kernel variant of the lab (ops/gemm/variants.ts) and the
 * policy's own choice, first validated against float64 on small odd shapes, then timed on square f32
 * products (outputs at sampled positions checked again), with TF.js's WebGPU matMul on the same device.
 */
import { fromArray, matmul, sync, type Gpu, type Tensor } from '../../packages/core/src/node';
import { seededRandom } from '../../packages/core/src/ops/creation';
import { MATMUL_VARIANTS, type MatmulKernel } from '../../packages/core/src/ops/gemm/variants';
import { tfjsDone, withTfjs } from '../tfjs';
import type { Budget } from './budget';
import { attempt, failure, timeBatched } from './timing';

/** One kernel at one size. */
export interface MatmulCell {
  kernel: MatmulKernel | 'auto' | 'tfjs';
  size: number;
  /** GFLOP/s, or null when it failed or was skipped. */
  gflops: number | null;
  /** Percent of the card's f32 peak, when the peak is known. */
  percentPeak: number | null;
  /** Worst sampled error over its tolerance (≤ 1 passes); null when not checked. */
  error: number | null;
  note: string;
}

export interface MatmulSection {
  /** Each variant's worst error ratio on the small validation shapes (≤ 1 passes), or its failure. */
  validation: Record<string, number | string>;
  cells: MatmulCell[];
}

function uniform(n: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = random() * 2 - 1;
  return out;
}

/** Worst |got − want| / tolerance over `positions` of C = A·B (row-major m×k and k×n), float64 reference. */
function checkAt(a: Float32Array, b: Float32Array, c: ArrayLike<number>, m: number, k: number, n: number, positions: readonly [number, number][]): number {
  let worst = 0;
  for (const [i, j] of positions) {
    let want = 0;
    for (let p = 0; p < k; p++) want += a[i * k + p] * b[p * n + j];
    const got = c[i * n + j];
    // Sums of k products of values in [-1, 1): f32 rounding grows with k (the kernel lab's tolerance).
    const tolerance = 1e-5 * Math.max(1, k / 16) + 1e-4 * Math.abs(want);
    worst = Math.max(worst, Number.isFinite(got) ? Math.abs(got - want) / tolerance : Infinity);
  }
  return worst;
}

function allPositions(m: number, n: number): [number, number][] {
  return Array.from({ length: m * n }, (_, x) => [Math.floor(x / n), x % n]);
}

/** Corners and 60 seeded positions of an m×n output. */
function sampledPositions(m: number, n: number): [number, number][] {
  const random = seededRandom(77);
  const out: [number, number][] = [[0, 0], [m - 1, n - 1], [0, n - 1], [m - 1, 0]];
  while (out.length < 64) out.push([Math.floor(random() * m), Math.floor(random() * n)]);
  return out;
}

/** Small odd shapes every variant must get right (edges, K tails, a decode-like few-row product). */
const VALIDATION_SHAPES: readonly [number, number, number][] = [
  [67, 131, 97],
  [3, 257, 131],
];

async function validateVariant(kernel: MatmulKernel): Promise<number> {
  let worst = 0;
  for (const [m, k, n] of VALIDATION_SHAPES) {
    const aData = uniform(m * k, 11);
    const bData = uniform(k * n, 12);
    const a = fromArray(aData, [m, k]);
    const b = fromArray(bData, [k, n]);
    try {
      const c = matmul(a, b, { _matmulKernel: kernel });
      const out = await c.toArray();
      c.dispose();
      worst = Math.max(worst, checkAt(aData, bData, out, m, k, n, allPositions(m, n)));
    } finally {
      a.dispose();
      b.dispose();
    }
  }
  return worst;
}

export interface MatmulSectionOptions {
  sizes: readonly number[];
  peakTflops: number | null;
  tfjs: boolean;
  log: (line: string) => void;
}

const gflopsOf = (n: number, ms: number) => (2 * n ** 3) / (ms * 1e6);

/** Validates, then times each variant (and the policy's choice, and TF.js) at each size, while the budget lasts. */
export async function matmulSection(gpu: Gpu, budget: Budget, options: MatmulSectionOptions): Promise<MatmulSection> {
  const { log, peakTflops } = options;
  const percent = (gflops: number | null) => (gflops !== null && peakTflops ? (100 * gflops) / (peakTflops * 1000) : null);
  const validation: Record<string, number | string> = {};
  for (const v of MATMUL_VARIANTS) {
    validation[v.name] = await attempt(() => validateVariant(v.name));
    const result = validation[v.name];
    if (typeof result === 'string' || result > 1) log(`  VALIDATION FAILED: ${v.name}: ${typeof result === 'string' ? result : `${result.toFixed(1)}× tolerance`}`);
  }
  log(`  validated every variant on ${VALIDATION_SHAPES.map((s) => s.join('×')).join(', ')} against float64`);

  const cells: MatmulCell[] = [];
  const kernels: (MatmulKernel | 'auto')[] = ['auto', ...MATMUL_VARIANTS.map((v) => v.name)];
  for (const n of options.sizes) {
    if (budget.leftMs() <= 0) {
      for (const kernel of kernels) budget.allows(`matmul ${kernel} at ${n}`); // listed as skipped; no data made
      continue;
    }
    const aData = uniform(n * n, 1);
    const bData = uniform(n * n, 2);
    const positions = sampledPositions(n, n);
    const a = fromArray(aData, [n, n]);
    const b = fromArray(bData, [n, n]);
    try {
      for (const kernel of kernels) {
        const row = `matmul ${kernel} at ${n}`;
        const valid = validation[kernel];
        if (kernel !== 'auto' && (typeof valid === 'string' || valid > 1)) {
          cells.push({ kernel, size: n, gflops: null, percentPeak: null, error: null, note: 'failed validation' });
          continue;
        }
        if (!budget.allows(row)) continue;
        const forced = kernel === 'auto' ? {} : { _matmulKernel: kernel };
        const cell = await attempt(async () => {
          const first: Tensor = matmul(a, b, forced); // compiles; checked at sampled positions
          const out = await first.toArray();
          first.dispose();
          const error = checkAt(aData, bData, out, n, n, n, positions);
          const timed = await timeBatched(async (iters) => {
            for (let i = 0; i < iters; i++) matmul(a, b, forced).dispose(); // pooled outputs: reused by later commands only
            await sync();
          }, budget);
          const gflops = gflopsOf(n, timed.ms);
          return { kernel, size: n, gflops, percentPeak: percent(gflops), error, note: error > 1 ? 'WRONG RESULTS at sampled positions' : '' } satisfies MatmulCell;
        });
        cells.push(typeof cell === 'string' ? { kernel, size: n, gflops: null, percentPeak: null, error: null, note: cell } : cell);
        if (typeof cell !== 'string') log(`  ${kernel} ${n}: ${cell.gflops?.toFixed(1)} GFLOP/s`);
      }
    } finally {
      a.dispose();
      b.dispose();
      await sync();
    }
  }
  if (options.tfjs) cells.push(...(await tfjsMatmul(gpu, budget, options.sizes, percent, log)));
  return { validation, cells };
}

async function tfjsMatmul(gpu: Gpu, budget: Budget, sizes: readonly number[], percent: (g: number | null) => number | null, log: (line: string) => void): Promise<MatmulCell[]> {
  const cells: MatmulCell[] = [];
  const result = await withTfjs(gpu, async (tf) => {
    for (const n of sizes) {
      if (!budget.allows(`matmul tfjs at ${n}`)) continue;
      const aData = uniform(n * n, 1);
      const bData = uniform(n * n, 2);
      const a = tf.tensor2d(aData, [n, n]);
      const b = tf.tensor2d(bData, [n, n]);
      try {
        const first = tf.matMul(a, b);
        const out = (await first.data()) as Float32Array;
        first.dispose();
        const error = checkAt(aData, bData, out, n, n, n, sampledPositions(n, n));
        const timed = await timeBatched(async (iters) => {
          const outs = Array.from({ length: iters }, () => tf.matMul(a, b));
          await tfjsDone(tf);
          for (const c of outs) c.dispose();
        }, budget, { maxIters: 16 });
        const gflops = gflopsOf(n, timed.ms);
        cells.push({ kernel: 'tfjs', size: n, gflops, percentPeak: percent(gflops), error, note: '' });
        log(`  tfjs ${n}: ${gflops.toFixed(1)} GFLOP/s`);
      } catch (err) {
        cells.push({ kernel: 'tfjs', size: n, gflops: null, percentPeak: null, error: null, note: failure(err) });
      } finally {
        a.dispose();
        b.dispose();
      }
    }
  });
  if (typeof result === 'string') for (const n of sizes) cells.push({ kernel: 'tfjs', size: n, gflops: null, percentPeak: null, error: null, note: result });
  return cells;
}
