/**
 * `launch`: named params and bindings checked against the WGSL (errors name the kernel, the entry and
 * the name), the grid sized from `@workgroup_size` (literal, const or override), uniform fields packed
 * by the parsed layout; and the bind-group cache (reused while buffers are alive, dropped when pooled
 * buffers are destroyed, never stale).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { bindGroupStats, defineKernel, fromArray, init, launch, memory, randn, trimPool, zeros } from '../src/node';

beforeAll(async () => {
  await init();
});

// y[i] = x[i] · scale.x + offset + f32(shape[1]); every entry reads different fields and bindings.
const kernel = defineKernel(
  'test_launch',
  /* wgsl */ `
override WG: u32 = 64u;
const SMALL: u32 = 8u;
struct Params {
  n: u32,
  offset: f32,
  bias: i32,
  _pad: u32,
  scale: vec4f,
  shape: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> extra: array<f32>;

fn value(i: u32) -> f32 { return x[i] * p.scale.x + p.offset + f32(p.shape[1].y); }

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.n) { y[i] = value(i); }
}

@compute @workgroup_size(SMALL)
fn fill_extra(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < p.n) { extra[gid.x] = f32(p.bias); }
}`,
);

describe('launch', () => {
  it('binds by name and sizes the grid from @workgroup_size (override and const)', async () => {
    for (const [n, wg] of [[1, 64], [97, 64], [1000, 32]] as const) {
      const data = Float32Array.from({ length: n }, (_, i) => i - 3);
      const x = fromArray(data);
      const y = zeros([n]);
      const extra = zeros([n]);
      launch(kernel, 'forward', {
        constants: { WG: wg },
        params: { n, offset: 0.5, scale: [2], shape: [7, 0, 0, 0, 0, 3] },
        bind: { x, y },
        items: n,
      });
      launch(kernel, 'fill_extra', { params: { n, bias: -4 }, bind: { extra }, items: n });
      expect(Array.from(await y.toArray())).toEqual(Array.from(data, (v) => v * 2 + 0.5 + 3));
      expect(Array.from(await extra.toArray())).toEqual(new Array(n).fill(-4));
      for (const t of [x, y, extra]) t.dispose();
    }
    expect(kernel.workgroupSize('forward')).toBe(64);
    expect(kernel.workgroupSize('forward', { WG: 128 })).toBe(128);
    expect(kernel.workgroupSize('fill_extra')).toBe(8);
  });

  it('reports unknown and missing names with the kernel, the entry and the name', () => {
    const x = zeros([4]);
    const y = zeros([4]);
    const ok = { params: { n: 4, offset: 0, scale: [1], shape: [] }, bind: { x, y }, items: 4 };
    expect(() => launch(kernel, 'forward', ok)).not.toThrow();
    expect(() => launch(kernel, 'forwards', ok)).toThrow(/^scratchgpt: kernel 'test_launch' has no entry point 'forwards' \(entries: forward, fill_extra\)/);
    expect(() => launch(kernel, 'forward', { ...ok, params: { ...ok.params, offst: 1 } })).toThrow(/kernel 'test_launch' entry 'forward': no Params field 'offst'/);
    expect(() => launch(kernel, 'forward', { ...ok, params: { n: 4, scale: [1], shape: [] } })).toThrow(/kernel 'test_launch' entry 'forward' reads Params field 'offset', which was not given/);
    expect(() => launch(kernel, 'forward', { ...ok, params: { ...ok.params, _pad: 0 } })).toThrow(/'_pad' is padding/);
    expect(() => launch(kernel, 'forward', { ...ok, bind: { x, z: y } })).toThrow(/kernel 'test_launch' entry 'forward': no binding 'z' \(bindings: x, y, extra\)/);
    expect(() => launch(kernel, 'forward', { ...ok, bind: { x } })).toThrow(/entry 'forward' uses binding 'y', which was not given \(pass null/);
    expect(() => launch(kernel, 'forward', { ...ok, bind: { x, y, p: x } })).toThrow(/'p' is the uniform block/);
    expect(() => launch(kernel, 'forward', { ...ok, constants: { W: 1 } })).toThrow(/no override constant 'W' \(overrides: WG\)/);
    expect(() => launch(kernel, 'forward', { ...ok, groups: 1 })).toThrow(/give exactly one of items, groups or workgroups/);
    expect(() => launch(kernel, 'forward', { ...ok, params: { ...ok.params, shape: [1, 2, 3, 4, 5, 6, 7, 8, 9] } })).toThrow(/param 'shape' \(array<vec4u, 2>\) holds at most 8 values, got 9/);
    expect(() => launch(kernel, 'forward', { ...ok, params: { ...ok.params, n: 1.5 } })).toThrow(/param 'n' \(u32\) must be an integer, got 1.5/);
    expect(() => launch(kernel, 'forward', { ...ok, params: { ...ok.params, scale: 2 } })).toThrow(/param 'scale' is vec4f: pass an array/);
    // A binding the entry uses may be left unbound on purpose with null (a placeholder is bound).
    expect(() => launch(kernel, 'fill_extra', { params: { n: 0, bias: 0 }, bind: { extra: null }, items: 0 })).not.toThrow();
    x.dispose();
    y.dispose();
  });
});

describe('bind-group cache', () => {
  it('reuses bind groups for the same buffers and stays correct after pooled buffers are destroyed', async () => {
    const run = async (seed: number) => {
      const x = randn([300], { seed });
      const y = zeros([400]); // another pool size class than x, so each comes back as the same buffer
      launch(kernel, 'forward', { params: { n: 300, offset: 1, scale: [3], shape: [] }, bind: { x, y }, items: 300 });
      const [xs, ys] = [await x.toArray(), await y.toArray()];
      x.dispose();
      y.dispose();
      return Array.from(ys.subarray(0, 300)).every((v, i) => Math.abs(v - (xs[i] * 3 + 1)) <= 1e-6 * (1 + Math.abs(xs[i] * 3 + 1)));
    };
    expect(await run(1)).toBe(true);
    const before = bindGroupStats();
    // Same sizes: the pool hands back the same buffers, so the bind group is reused.
    expect(await run(2)).toBe(true);
    expect(bindGroupStats().hits).toBeGreaterThan(before.hits);
    // Destroy every pooled buffer (the cache is emptied), then run on new buffers.
    trimPool(0);
    expect(memory().pooledBuffers).toBe(0);
    const misses = bindGroupStats().misses;
    expect(await run(3)).toBe(true);
    expect(bindGroupStats().misses).toBeGreaterThan(misses);
    expect(await run(4)).toBe(true);
  });
});
