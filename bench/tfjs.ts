/** TensorFlow.js's WebGPU backend on the library's own GPUDevice, for side-by-side benchmarks. */
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { globals } from 'webgpu';
import { sync, type Gpu } from '../packages/core/src/node';

export type Tf = typeof import('@tensorflow/tfjs-core');

/** Runs `fn` with the browser globals TF.js's WebGPU backend expects, then removes them again. */
export async function withWebGpuGlobals<T>(gpu: Gpu, fn: () => Promise<T>): Promise<T> {
  const g = globalThis as Record<string, unknown>;
  const added = Object.keys(globals).filter((k) => !(k in g));
  for (const k of added) g[k] = (globals as Record<string, unknown>)[k];
  const hadNavigator = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  // TF.js checks navigator.gpu; it never requests an adapter here (it is handed our device).
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: { requestAdapter: async () => gpu.adapter } }, configurable: true, writable: true });
  try {
    return await fn();
  } finally {
    if (hadNavigator) Object.defineProperty(globalThis, 'navigator', hadNavigator);
    else delete g.navigator;
    for (const k of added) delete g[k];
  }
}

let loading: Promise<{ tf: Tf; WebGPUBackend: typeof WebGPUBackend } | string> | null = null;

/** TF.js core with every gradient registered, and the WebGPU backend class; a message if unavailable. */
export function loadTfjs(): Promise<{ tf: Tf; WebGPUBackend: typeof WebGPUBackend } | string> {
  loading ??= (async () => {
    try {
      const tf = await import('@tensorflow/tfjs-core');
      // Gradients are registered (into tfjs-core's shared registry) by the umbrella package's Node build;
      // tfjs-core's own per-file ES modules use extensionless imports that Node cannot load.
      await import('@tensorflow/tfjs');
      const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
      return { tf, WebGPUBackend };
    } catch (err) {
      return `TensorFlow.js not available (${(err as Error).message.split('\n')[0]}); install @tensorflow/tfjs, @tensorflow/tfjs-core and @tensorflow/tfjs-backend-webgpu`;
    }
  })();
  return loading;
}

/** Submits TF.js's recorded WebGPU work and resolves when the GPU has finished it (no readback). */
export async function tfjsDone(tf: Tf): Promise<void> {
  const backend = tf.backend() as unknown as WebGPUBackend;
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}

/** Runs `fn` with TF.js registered as the 'webgpu' backend on `gpu`'s device; a string if TF.js is unavailable. */
export async function withTfjs<T>(gpu: Gpu, fn: (tf: Tf) => Promise<T>): Promise<T | string> {
  const loaded = await loadTfjs();
  if (typeof loaded === 'string') return loaded;
  const { tf, WebGPUBackend } = loaded;
  return withWebGpuGlobals(gpu, async () => {
    if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
    const backend = new WebGPUBackend(gpu.device, gpu.adapter.info);
    tf.registerBackend('webgpu', () => backend);
    await tf.setBackend('webgpu');
    try {
      return await fn(tf);
    } finally {
      tf.removeBackend('webgpu');
      // TF.js's validation errors land on the shared device: drain them so they are not reported as ours.
      await sync().catch((err: Error) => console.log(`(TF.js left a WebGPU error on the device: ${err.message.split('\n')[0].slice(0, 160)})`));
    }
  });
}
