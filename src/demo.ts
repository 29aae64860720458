/** `scratchgpt demo`: which adapter, and one matmul checked against a float64 CPU reference. */
import { destroyGpu, fromArray, init, matmul, sync, type Backend } from '@scratchgpt/core/node';

export async function runDemo({ size, backend }: { size: number; backend?: string }): Promise<number> {
  if (!Number.isInteger(size) || size < 1) throw new Error(`scratchgpt demo: --size must be a positive integer, got ${size}`);
  const gpu = await init({ backend: backend as Backend | undefined });
  console.log(`adapter: ${gpu.adapterName}`);
  console.log(`backend: ${gpu.backend} · feature level: ${gpu.featureLevel}`);
  console.log(`limits:  maxStorageBufferBindingSize ${gpu.limits.maxStorageBufferBindingSize / 2 ** 20} MiB, ` +
    `maxComputeInvocationsPerWorkgroup ${gpu.limits.maxComputeInvocationsPerWorkgroup}`);

  const [m, k, n] = [size, size + 3, size - 1 || 1]; // deliberately not multiples of the tile size
  const a = new Float32Array(m * k).map((_, i) => Math.sin(i * 0.37));
  const b = new Float32Array(k * n).map((_, i) => Math.cos(i * 0.11));
  const ta = fromArray(a, [m, k]);
  const tb = fromArray(b, [k, n]);
  const t0 = performance.now();
  const tc = matmul(ta, tb);
  await sync();
  const ms = performance.now() - t0;
  const c = await tc.toArray();

  let worst = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let ref = 0;
      for (let p = 0; p < k; p++) ref += a[i * k + p] * b[p * n + j];
      worst = Math.max(worst, Math.abs(c[i * n + j] - ref) / (1 + Math.abs(ref)));
    }
  }
  const ok = worst < 1e-4;
  console.log(`matmul [${m}×${k}] @ [${k}×${n}]: ${ms.toFixed(1)} ms (first run, includes compile), ` +
    `max rel error vs float64 CPU ${worst.toExponential(2)} → ${ok ? 'OK' : 'MISMATCH'}`);
  for (const t of [ta, tb, tc]) t.dispose();
  destroyGpu();
  return ok ? 0 : 1;
}
