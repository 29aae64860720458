/**
 * Device acquisition and the tensor/memory plumbing every op relies on: one shared Gpu, limits requested
 * at the adapter's maximum, use-after-dispose errors, reshape views, memory accounting, pipeline caching.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { add, fromArray, gelu, gpu, init, memory, pipelineCount, zeros, type Gpu, type Tensor } from '../src/node';
import { geluRef } from '../src/testing';
import { expectClose, randomTensor, size } from './helpers';

let device: Gpu;

beforeAll(async () => {
  device = await init();
});

/** Limits the library asks for at the adapter's maximum (compat devices default to much smaller ones). */
const ADAPTER_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
] as const;

describe('device', () => {
  it('init() returns the same Gpu every time, also when called concurrently', async () => {
    const [a, b] = await Promise.all([init(), init()]);
    expect(a).toBe(device);
    expect(b).toBe(device);
    expect(await init({ backend: 'swiftshader' }), 'options do not re-acquire once initialised').toBe(device);
    expect(gpu()).toBe(device);
    console.log(`device: ${device.adapterName} (${device.backend}, ${device.featureLevel})`);
  });

  it("requests the adapter's limits, and reports the feature level and features it got", () => {
    const adapterLimits = device.adapter.limits as unknown as Record<string, number>;
    const deviceLimits = device.limits as unknown as Record<string, number>;
    for (const key of ADAPTER_LIMITS) expect(deviceLimits[key], key).toBe(adapterLimits[key]);
    expect(device.limits.maxStorageBufferBindingSize).toBe(device.adapter.limits.maxStorageBufferBindingSize);
    expect(device.limits.maxComputeInvocationsPerWorkgroup).toBe(device.adapter.limits.maxComputeInvocationsPerWorkgroup);
    // What the kernels assume (see the project's WGSL limits).
    expect(device.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
    expect(device.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    expect(device.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(16384);
    const core = device.adapter.features.has('core-features-and-limits');
    expect(device.featureLevel).toBe(core ? 'core' : 'compatibility');
    for (const feature of ['timestamp-query', 'subgroups', 'shader-f16']) {
      expect(device.features.has(feature), feature).toBe(device.adapter.features.has(feature));
    }
  });
});

describe('tensors', () => {
  it('use after dispose throws a clear error; dispose is idempotent', async () => {
    const t = fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
    const u = fromArray([1, 2, 3], [3]);
    const before = memory();
    t.dispose();
    t.dispose();
    expect(t.isDisposed).toBe(true);
    expect(memory().liveTensors, 'a second dispose() changes nothing').toBe(before.liveTensors - 1);
    expect(memory().liveBuffers).toBe(before.liveBuffers - 1);
    const message = /tensor of shape \[2, 3\] \(f32\) was used after dispose\(\)/;
    expect(() => t.buffer).toThrow(message);
    await expect(t.toArray()).rejects.toThrow(message);
    expect(() => t.reshape(6)).toThrow(message);
    expect(() => add(t, u)).toThrow(message);
    expect(() => add(u, t)).toThrow(message);
    expect(() => gelu(t)).toThrow(message);
    expect(String(t)).toBe('Tensor([2, 3], f32, disposed)');
    u.dispose();
  });

  it('reshape returns a view sharing the data; -1 is inferred', async () => {
    const before = memory();
    const data = Array.from({ length: 12 }, (_, i) => i + 0.5);
    const a = fromArray(data, [3, 4]);
    const v = a.reshape(2, -1);
    expect(v.shape).toEqual([2, 6]);
    expect(a.reshape(-1).shape).toEqual([12]);
    expect(a.reshape([4, 3]).shape).toEqual([4, 3]);
    expect(a.reshape(1, -1, 1, 2).shape).toEqual([1, 6, 1, 2]);
    expect(zeros([0, 3]).reshape(-1, 5).shape).toEqual([0, 5]);
    expect(v.buffer).toBe(a.buffer);
    expect(memory().liveBuffers - before.liveBuffers, 'views allocate no buffer').toBe(2); // a, and the zeros
    expect(Array.from(await v.toArray())).toEqual(data);
    // A write through the original is seen through the view.
    gpu().device.queue.writeBuffer(a.buffer, 4, new Float32Array([-7, -8]));
    expect(Array.from((await v.toArray()).slice(0, 4))).toEqual([0.5, -7, -8, 3.5]);
    // The view keeps the data alive after the original is disposed.
    a.dispose();
    expect(Array.from((await v.toArray()).slice(0, 3))).toEqual([0.5, -7, -8]);
    v.dispose();
  });

  it('bad reshapes are clear errors', () => {
    const a = zeros([3, 4]);
    expect(() => a.reshape(5, -1)).toThrow(/cannot reshape \[3, 4\] \(12 elements\) to \[5, -1\]/);
    expect(() => a.reshape(2, 5)).toThrow(/cannot reshape \[3, 4\] \(12 elements\) to \[2, 5\]/);
    expect(() => a.reshape(-1, -1)).toThrow(/only one dimension may be -1/);
    expect(() => a.reshape(2.5, 4)).toThrow(/invalid dimension 2\.5/);
    expect(() => a.reshape(-2, -6)).toThrow(/invalid dimension -2/);
    a.dispose();
  });

  it('memory() counts go back to the baseline after dispose, and freed buffers are reused', async () => {
    const before = memory();
    const owned: Tensor[] = [];
    const own = <T extends Tensor>(t: T): T => (owned.push(t), t);
    const x = own(randomTensor([37, 5], 1).t);
    const b = own(randomTensor([5], 2).t);
    const y = own(gelu(own(add(x, b))));
    const view = own(y.reshape(-1));
    await view.toArray();
    const during = memory();
    expect(during.liveTensors - before.liveTensors).toBe(owned.length);
    expect(during.liveBuffers - before.liveBuffers, 'one buffer per non-view tensor').toBe(owned.length - 1);
    expect(during.liveBytes - before.liveBytes).toBeGreaterThanOrEqual((37 * 5 * 3 + 5) * 4);
    for (const t of owned) t.dispose();
    const after = memory();
    expect(after.liveTensors).toBe(before.liveTensors);
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expect(after.liveBytes).toBe(before.liveBytes);
    expect(after.pooledBuffers).toBeGreaterThanOrEqual(owned.length - 1);
    // The same size again comes from the pool.
    const again = zeros([37, 5]);
    expect(memory().pooledBuffers).toBe(after.pooledBuffers - 1);
    expect(memory().liveBuffers).toBe(before.liveBuffers + 1);
    again.dispose();
    expect(memory().liveBytes).toBe(before.liveBytes);
  });
});

describe('kernels', () => {
  it('pipelineCount() does not grow when the same ops run on new shapes', async () => {
    const run = async (shapeA: number[], shapeB: number[], seed: number) => {
      const a = randomTensor(shapeA, seed, -4, 4);
      const b = randomTensor(shapeB, seed + 1);
      const y = gelu(a.t);
      const z = add(y, b.t); // broadcasting when the shapes differ
      const same = add(a.t, a.t);
      const zData = await z.toArray();
      const sameData = await same.toArray();
      expect(z.shape).toEqual(shapeA);
      expect(sameData.length).toBe(size(shapeA));
      // spot-check the result (the ops' own tests cover them in depth)
      const n = size(shapeB);
      expectClose(zData, Array.from(a.data, (v, i) => geluRef(v) + b.data[i % n]), { rtol: 1e-5, atol: 1e-6, label: `gelu+add ${shapeA}` });
      expectClose(sameData, Array.from(a.data, (v) => v + v), { label: `add ${shapeA}` });
      for (const t of [a.t, b.t, y, z, same]) t.dispose();
    };
    await run([7], [1], 1);
    await run([3, 5], [5], 2);
    const count = pipelineCount();
    expect(count).toBeGreaterThan(0);
    await run([1031], [1], 3);
    await run([13, 129], [129], 4);
    await run([2, 1, 3, 37], [37], 5);
    expect(pipelineCount()).toBe(count);
  });
});
