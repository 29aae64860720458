/**
 * Matmul throughput, scratchgpt vs TensorFlow.js's WebGPU backend, on the same GPUDevice in the
 * same process: square f32 C = A·B, median of several runs after warm-up, each run waiting until
 * the GPU has finished (ours: `sync()`; TF.js: submit its queue, then `onSubmittedWorkDone()`).
 */
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { fromArray, init, matmul, sync, type Gpu } from '../packages/core/src/node';
import { seededRandom } from '../packages/core/src/ops/creation';
import { median, table } from './run';
import { loadTfjs, withWebGpuGlobals, type Tf } from './tfjs';

export interface MatmulBenchOptions {
  /** Matrix sizes n (n×n @ n×n). Default 256, 512, 1024, 2048. */
  sizes?: number[];
  /** Timed runs per size and library (after one warm-up run each). Default 5 (3 from 2048 up). */
  reps?: number;
  /** Also time TensorFlow.js (default true; skipped with a note if it is not installed). */
  tfjs?: boolean;
  log?: (line: string) => void;
}

export interface MatmulBenchRow {
  size: number;
  /** GFLOP/s. */
  scratchgpt: number;
  /** GFLOP/s, or null when TF.js was not run. */
  tfjs: number | null;
}

// (TF.js type: see ./tfjs)

/** Seeded uniform [-1, 1) data (mulberry32), identical for both libraries. */
function data(n: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n }, () => random() * 2 - 1);
}

const gflops = (n: number, ms: number) => (2 * n ** 3) / (ms * 1e6);

/** One side of the comparison at one size: a timed step (resolving when the GPU is done), a result sample, cleanup. */
interface Contender {
  step: () => Promise<void>;
  sample: () => Promise<Float32Array>;
  dispose: () => void;
}

function ours(n: number): Contender {
  const a = fromArray(data(n * n, 1), [n, n]);
  const b = fromArray(data(n * n, 2), [n, n]);
  return {
    step: async () => {
      matmul(a, b).dispose(); // recorded; the pooled buffer is reused only by later commands
      await sync();
    },
    sample: async () => {
      const c = matmul(a, b);
      const out = (await c.toArray()).slice(0, 4096);
      c.dispose();
      return out;
    },
    dispose: () => {
      a.dispose();
      b.dispose();
    },
  };
}

function theirs(tf: Tf, backend: WebGPUBackend, device: GPUDevice, n: number): Contender {
  const a = tf.tensor2d(data(n * n, 1), [n, n]);
  const b = tf.tensor2d(data(n * n, 2), [n, n]);
  return {
    step: async () => {
      const c = tf.matMul(a, b);
      backend.ensureCommandEncoderReady();
      backend.endComputePassEncoder();
      backend.submitQueue();
      await device.queue.onSubmittedWorkDone();
      c.dispose();
    },
    sample: async () => {
      const c = tf.matMul(a, b);
      const out = ((await c.data()) as Float32Array).slice(0, 4096);
      c.dispose();
      return out;
    },
    dispose: () => {
      a.dispose();
      b.dispose();
    },
  };
}

/**
 * Times matmul for each size on both libraries and prints `size | scratchgpt GFLOP/s | tfjs GFLOP/s | ratio`.
 * The two alternate run by run, so a busy machine slows both alike.
 */
export async function benchMatmul(options: MatmulBenchOptions = {}): Promise<MatmulBenchRow[]> {
  const log = options.log ?? console.log;
  const sizes = options.sizes ?? [256, 512, 1024, 2048];
  const gpu = await init();
  log(`matmul f32, n×n @ n×n, on ${gpu.adapterName} (${gpu.backend}, ${gpu.featureLevel})`);
  const tfjs = options.tfjs === false ? 'TensorFlow.js skipped' : await loadTfjs();
  if (typeof tfjs === 'string') log(tfjs);

  const measure = async (tfSide: ((n: number) => Contender) | null) => {
    const rows: MatmulBenchRow[] = [];
    const diffs: string[] = [];
    for (const n of sizes) {
      const sides = tfSide ? [ours(n), tfSide(n)] : [ours(n)];
      for (const side of sides) await side.step(); // warm-up: compilation, buffer pools
      const times: number[][] = sides.map(() => []);
      const reps = options.reps ?? (n >= 2048 ? 3 : 5);
      for (let r = 0; r < reps; r++) {
        for (let i = 0; i < sides.length; i++) {
          const start = performance.now();
          await sides[i].step();
          times[i].push(performance.now() - start);
        }
      }
      if (sides.length === 2) {
        // Same inputs on both sides: the results must agree (sums of n products of values in [-1, 1)).
        const [mine, other] = [await sides[0].sample(), await sides[1].sample()];
        let worst = 0;
        for (let i = 0; i < mine.length; i++) worst = Math.max(worst, Math.abs(mine[i] - other[i]));
        diffs.push(`n=${n}: ${worst.toExponential(1)}`);
        if (!(worst <= 1e-4 * n)) log(`warning: scratchgpt and TF.js results differ at n=${n} (max |Δ| ${worst.toExponential(2)})`);
      }
      for (const side of sides) side.dispose();
      rows.push({ size: n, scratchgpt: gflops(n, median(times[0])), tfjs: times[1] ? gflops(n, median(times[1])) : null });
    }
    if (diffs.length > 0) log(`max |scratchgpt − tfjs| over the first 4096 outputs: ${diffs.join(', ')}`);
    return rows;
  };

  let rows: MatmulBenchRow[];
  if (typeof tfjs === 'string') rows = await measure(null);
  else {
    const { tf, WebGPUBackend } = tfjs;
    rows = await withWebGpuGlobals(gpu, async () => {
      // Registered under 'webgpu' (TF.js keys its kernels by that name), on our device.
      if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
      const backend = new WebGPUBackend(gpu.device, gpu.adapter.info);
      tf.registerBackend('webgpu', () => backend);
      await tf.setBackend('webgpu');
      try {
        return await measure((n) => theirs(tf, backend, gpu.device, n));
      } finally {
        tf.removeBackend('webgpu');
      }
    });
  }
  log(
    table(
      ['size', 'scratchgpt GFLOP/s', 'tfjs GFLOP/s', 'ratio'],
      rows.map((r) => [String(r.size), r.scratchgpt.toFixed(2), r.tfjs?.toFixed(2) ?? '-', r.tfjs ? `${(r.scratchgpt / r.tfjs).toFixed(2)}×` : '-']),
    ),
  );
  return rows;
}
