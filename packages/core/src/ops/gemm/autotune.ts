/**
 * A short autotune of the register-tile shape on CPU adapters, once per device, at first use.
 *
 * CPU adapters differ more between machines than their names suggest. Mesa's llvmpipe (through
 * 22.x) turns every storage-buffer load into a loop over the SIMD lanes that inserts each lane's
 * value at a variable index; LLVM lowers that insert in registers on AVX-512 CPUs but through the
 * stack (store vector, store lane, reload: a store-forwarding stall per element) on AVX2-only ones.
 * There loads cost ~10× more, and the biggest tile (fewest loads per multiply-add) wins by far;
 * where loads are cheap, a smaller tile spills fewer accumulators. So the tile is measured, not
 * assumed: each candidate multiplies one 256×256×256 problem a few times and the fastest is kept.
 *
 * The candidates are the same computation in the same order per output (only how many outputs a
 * thread owns differs), so whichever wins gives bit-identical results; the first products before the
 * tune finishes use the default (`tile32x16`). The autotune uses its own buffers, pipelines and
 * submissions (the library's memory counters, pipeline cache and command recording are untouched).
 */
import { BufferUsage, gpu } from '../../engine/device';
import { packParams } from '../../engine/uniforms';
import { matmulKernels } from './dispatch';
import type { MatmulKernel } from './variants';

/** Register tiles the autotune chooses between (entries of shaders/matmul.wgsl). */
export const TUNED_TILES: readonly MatmulKernel[] = ['tile32x16', 'tile16x16'];
/** Products with at least this many multiply-adds start the autotune (below it the tile hardly matters). */
export const AUTOTUNE_MIN_WORK = 1 << 24;

const SIZE = 256;
const REPS = 3;

/** What the autotune measured and chose. */
export interface MatmulTuning {
  /** The register tile kept for this device. */
  tile: MatmulKernel;
  /** Best time of each candidate (ms for one 256³ product). */
  ms: Partial<Record<MatmulKernel, number>>;
  /** Wall time of the whole autotune, compilation included (ms). */
  totalMs: number;
}

interface State {
  result: MatmulTuning | null;
  running: Promise<MatmulTuning> | null;
}

const states = new WeakMap<GPUDevice, State>();

function stateOf(device: GPUDevice): State {
  let s = states.get(device);
  if (!s) states.set(device, (s = { result: null, running: null }));
  return s;
}

/** The tile the autotune chose for the current device, or null while it has not finished. */
export function tunedTile(): MatmulKernel | null {
  return stateOf(gpu().device).result?.tile ?? null;
}

/** Starts the autotune in the background if it has not started (errors are kept out of the caller's way). */
export function startTuning(): void {
  const state = stateOf(gpu().device);
  if (!state.running) tuneMatmul().catch(() => undefined);
}

/**
 * Measures the register-tile candidates on the current device (once; later calls return the same
 * result) and keeps the fastest for CPU-adapter matmuls. Runs by itself at the first large matmul;
 * call it to tune up front (before timing something, say).
 * @example
 * ```ts
 * await init();
 * const { tile, ms } = await tuneMatmul(); // e.g. 'tile32x16', { tile32x16: 9.8, tile16x16: 14.1 }
 * ```
 */
export function tuneMatmul(): Promise<MatmulTuning> {
  const { device } = gpu();
  const state = stateOf(device);
  if (!state.running) {
    state.running = measure(device).then((result) => {
      state.result = result;
      return result;
    });
  }
  return state.running;
}

async function measure(device: GPUDevice): Promise<MatmulTuning> {
  const start = performance.now();
  const { tiles } = matmulKernels;
  const n = SIZE;
  const bytes = n * n * 4;
  const storage = BufferUsage.STORAGE | BufferUsage.COPY_DST;
  const a = device.createBuffer({ size: bytes, usage: storage, label: 'matmul autotune a' });
  const b = device.createBuffer({ size: bytes, usage: storage, label: 'matmul autotune b' });
  const c = device.createBuffer({ size: bytes, usage: BufferUsage.STORAGE, label: 'matmul autotune c' });
  const uniforms = device.createBuffer({ size: tiles.params!.size, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: 'matmul autotune params' });
  try {
    // Small integers: exact in any order, and nothing denormal or infinite to slow a lane down.
    const data = Float32Array.from({ length: n * n }, (_, i) => (i % 7) - 3);
    device.queue.writeBuffer(a, 0, data);
    device.queue.writeBuffer(b, 0, data);
    const params = { m: n, n, k: n, accumulate: false, lda: n, ldb: n, ldc: n, rank: 0, off_a: 0, off_b: 0, off_c: 0, batch0: 0, stride_c: 0, shape: [], stride_a: [], stride_b: [] };
    device.queue.writeBuffer(uniforms, 0, packParams(tiles.params!, params, () => 'matmul autotune'));
    const module = device.createShaderModule({ code: tiles.source, label: 'matmul autotune' });
    const layout = device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: 4, buffer: { type: 'uniform' } },
        { binding: 1, visibility: 4, buffer: { type: 'read-only-storage' } },
        { binding: 2, visibility: 4, buffer: { type: 'read-only-storage' } },
        { binding: 3, visibility: 4, buffer: { type: 'storage' } },
      ],
    });
    const bindGroup = device.createBindGroup({
      layout,
      entries: [uniforms, a, b, c].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const workgroup = 16;
    const runs = await Promise.all(
      TUNED_TILES.map(async (tile) => {
        const rows = tile === 'tile32x16' ? 32 : 16;
        const pipeline = await device.createComputePipelineAsync({
          layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
          compute: { module, entryPoint: tile, constants: { WG: workgroup, VEC_A: 1, VEC_B: 1, VEC_C: 1, TRANS_A: 0, TRANS_B: 0 } },
        });
        return { tile, pipeline, groups: [Math.ceil(n / 16 / workgroup), n / rows] as const };
      }),
    );
    const once = async (run: (typeof runs)[number]) => {
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(run.pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(run.groups[0], run.groups[1], 1);
      pass.end();
      const t0 = performance.now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };
    for (const run of runs) await once(run); // first runs: driver-side compilation and warm-up
    const best = new Map<MatmulKernel, number>(runs.map((r) => [r.tile, Infinity]));
    // Candidates alternate, so a busy machine slows them alike; the best of REPS is kept.
    for (let rep = 0; rep < REPS; rep++) {
      for (const run of runs) best.set(run.tile, Math.min(best.get(run.tile)!, await once(run)));
    }
    let tile = TUNED_TILES[0];
    for (const [t, ms] of best) if (ms < best.get(tile)!) tile = t;
    return { tile, ms: Object.fromEntries(best), totalMs: performance.now() - start };
  } finally {
    for (const buffer of [a, b, c, uniforms]) buffer.destroy();
  }
}
