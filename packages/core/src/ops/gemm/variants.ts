/**
 * The matmul kernel lab: every way the library can compute a planned product, by name. Each variant
 * covers any problem on its own (the register tiles hand their edges and K tail to smaller entries),
 * so any one can be forced (`_matmulKernel`, env `SCRATCHGPT_MATMUL_KERNEL`) and tested on odd
 * shapes, and `bench/kernels/matmul.ts` times them side by side (llm.c's `dev/cuda` idea).
 *
 * How a variant covers a problem is pure ({@link coverGemm}: which entries over which rectangles of
 * C and ranges of K), so it is unit-tested without a GPU; `dispatch.ts` binds and launches.
 */
import { ScratchGPTError } from '../../engine/errors';
import { PAD_MIN_WORK } from './plan';

/** Names of the matmul kernel variants. */
export type MatmulKernel = 'simple' | 'tile4x16' | 'tile16x16' | 'tile32x16' | 'shared64' | 'shared128' | 'shared64_prefetch' | 'shared128_prefetch' | 'gemv' | 'gemv_splitk';

/** One variant of the lab. */
export interface MatmulVariant {
  name: MatmulKernel;
  /** What it is, for the lab's table. */
  summary: string;
  /** Shader file (under `shaders/`) of its main entry. */
  shader: string;
  /** Multiply zero-padded copies of operands with unaligned rows from this many multiply-adds on (`Infinity`: never). */
  padMinWork: number;
}

/** Every variant, in the lab's order. */
export const MATMUL_VARIANTS: readonly MatmulVariant[] = [
  { name: 'simple', summary: 'one output per thread, scalar loads', shader: 'matmul.wgsl', padMinWork: Infinity },
  { name: 'tile4x16', summary: '4×16 register tile per thread, vec4 loads, no shared memory', shader: 'matmul.wgsl', padMinWork: PAD_MIN_WORK },
  { name: 'tile16x16', summary: '16×16 register tile interior (+ tile4x16 edges)', shader: 'matmul.wgsl', padMinWork: PAD_MIN_WORK },
  { name: 'tile32x16', summary: '32×16 register tile interior (+ tile4x16 edges); CPU adapters', shader: 'matmul.wgsl', padMinWork: PAD_MIN_WORK },
  { name: 'shared64', summary: '64×64 shared-memory block tiles, 4×4 per thread; GPUs', shader: 'matmul_shared.wgsl', padMinWork: PAD_MIN_WORK },
  { name: 'shared128', summary: '128×128 shared-memory block tiles, 8×8 per thread; GPUs', shader: 'matmul_shared.wgsl', padMinWork: PAD_MIN_WORK },
  { name: 'shared64_prefetch', summary: 'shared64, double-buffered through registers (next tiles load during the FMAs)', shader: 'matmul_shared.wgsl', padMinWork: PAD_MIN_WORK },
  { name: 'shared128_prefetch', summary: 'shared128, double-buffered through registers', shader: 'matmul_shared.wgsl', padMinWork: PAD_MIN_WORK },
  { name: 'gemv', summary: 'few rows (decoding): exact row blocks, 16 columns per thread; CPU adapters', shader: 'matmul_gemv.wgsl', padMinWork: PAD_MIN_WORK },
  { name: 'gemv_splitk', summary: 'few rows: 4 columns per 16 threads splitting K, summed in shared memory; GPUs', shader: 'matmul_gemv.wgsl', padMinWork: PAD_MIN_WORK },
];

const byName = new Map(MATMUL_VARIANTS.map((v) => [v.name, v]));

/** The variant called `name`, or a clear error listing the names. */
export function matmulVariant(name: string, where = 'matmul kernel'): MatmulVariant {
  const variant = byName.get(name as MatmulKernel);
  if (!variant) throw new ScratchGPTError('value', `scratchgpt: ${where} '${name}' does not exist (variants: ${MATMUL_VARIANTS.map((v) => v.name).join(', ')})`);
  return variant;
}

/** Which kernel module an entry lives in (`shaders/matmul.wgsl`, `matmul_shared.wgsl`, `matmul_gemv.wgsl`). */
export type MatmulModule = 'tiles' | 'shared' | 'gemv';

/** One dispatch of a variant: an entry over rows [r0, r1) and columns [c0, c1) of C, for K terms [k0, k0 + k). */
export interface Launch {
  module: MatmulModule;
  entry: string;
  r0: number;
  r1: number;
  c0: number;
  c1: number;
  k0: number;
  k: number;
  /** C += instead of C = (the problem accumulates, or an earlier launch already wrote these outputs). */
  accumulate: boolean;
  /** Rows and columns of C one workgroup covers (the grid is sized from them). */
  rowsPerGroup: number;
  colsPerGroup: number;
  /** Entry-specific tile constants (shared: TM, TN; gemv: ROWS, QUADS, SPLIT, WG). */
  tile?: { TM?: number; TN?: number; ROWS?: number; QUADS?: number; SPLIT?: number; WG?: number };
}

/** What {@link coverGemm} needs to know about one (binding-sized) problem and the device. */
export interface CoverInput {
  m: number;
  n: number;
  k: number;
  accumulate: boolean;
  transC: boolean;
  /** Rows of A / B start at multiples of 4 elements (vec4 loads). */
  vecA: boolean;
  vecB: boolean;
  /** Threads per workgroup of the 1-D entries (16 on CPU adapters, 64 on GPUs). */
  workgroup: number;
}

/** `gemv_splitk`: threads sharing one column quad along K, and threads per workgroup. */
const SPLIT_K = 16;
const SPLIT_K_WORKGROUP = 64;

function launchOf(module: MatmulModule, entry: string, rect: [number, number, number, number], k0: number, k: number, accumulate: boolean, groups: [number, number]): Launch {
  const [r0, r1, c0, c1] = rect;
  return { module, entry, r0, r1, c0, c1, k0, k, accumulate, rowsPerGroup: groups[0], colsPerGroup: groups[1] };
}

/**
 * The dispatches that compute one problem with variant `name`: rectangles of C that tile it exactly
 * once for every K term (launches after the first over the same outputs accumulate). Empty when C is.
 */
export function coverGemm(name: MatmulKernel, g: CoverInput): Launch[] {
  if (g.m === 0 || g.n === 0) return [];
  const wg = g.workgroup;
  const all: [number, number, number, number] = [0, g.m, 0, g.n];
  const out: Launch[] = [];
  const simple = (rect: [number, number, number, number], k0: number, k: number, accumulate: boolean) =>
    out.push(launchOf('tiles', 'simple', rect, k0, k, accumulate, [1, wg]));
  const tile4 = (rect: [number, number, number, number], k: number) => out.push(launchOf('tiles', 'tile4x16', rect, 0, k, g.accumulate, [4, 16 * wg]));
  switch (name) {
    case 'simple':
      simple(all, 0, g.k, g.accumulate);
      break;
    case 'tile4x16':
    case 'tile16x16':
    case 'tile32x16': {
      // Whole steps of 4 along K in the tiled entries; the last K % 4 terms are added by `simple`.
      const k4 = g.k - (g.k % 4);
      if (k4 > 0 || g.k === 0) {
        const rows = name === 'tile32x16' ? 32 : name === 'tile16x16' ? 16 : 0;
        // The big tile covers the interior (no bounds checks, no accumulation, aligned operands); the
        // 4×16 one the right and bottom strips.
        const big = rows > 0 && g.vecA && g.vecB && !g.transC && !g.accumulate;
        const mBig = big ? g.m - (g.m % rows) : 0;
        const nBig = mBig > 0 ? g.n - (g.n % 16) : 0;
        if (mBig > 0 && nBig > 0) out.push(launchOf('tiles', name, [0, mBig, 0, nBig], 0, k4, false, [rows, 16 * wg]));
        if (mBig > 0 && nBig < g.n) tile4([0, mBig, nBig, g.n], k4);
        if (mBig < g.m) tile4([mBig, g.m, 0, g.n], k4);
      }
      if (k4 < g.k) simple(all, k4, g.k - k4, g.accumulate || k4 > 0);
      break;
    }
    case 'shared64':
    case 'shared128':
    case 'shared64_prefetch':
    case 'shared128_prefetch': {
      const t = name.startsWith('shared128') ? 8 : 4;
      const entry = name.endsWith('_prefetch') ? 'block_prefetch' : 'block';
      out.push({ ...launchOf('shared', entry, all, 0, g.k, g.accumulate, [16 * t, 16 * t]), tile: { TM: t, TN: t } });
      break;
    }
    case 'gemv':
    case 'gemv_splitk': {
      const rows = Math.min(g.m, 4);
      // gemv: each thread 4 column quads (one load of an activation row serves 16 columns). gemv_splitk:
      // 16 threads per quad, each summing every 16th vec4 of K (consecutive threads read consecutive
      // vec4s of a weight row, and decoding's few columns still fill a GPU).
      const [quads, split, threads] = name === 'gemv' ? [4, 1, wg] : [1, SPLIT_K, SPLIT_K_WORKGROUP];
      const launch = launchOf('gemv', 'gemv', all, 0, g.k, g.accumulate, [rows, (4 * quads * threads) / split]);
      out.push({ ...launch, tile: { ROWS: rows, QUADS: quads, SPLIT: split, WG: threads } });
      break;
    }
  }
  return out;
}
