/**
 * Bind groups cached per (layout, buffers, offsets, sizes): a training step binds the same pooled
 * buffers in the same places step after step, so most dispatches skip `createBindGroup`. Uniform
 * blocks use a dynamic offset into the staging arena, so they do not split the key.
 *
 * Bounded: at most {@link MAX_PER_LAYOUT} entries per layout, least recently used dropped first.
 * A destroyed buffer is never bound again (the pool hands out only live buffers), but every cache is
 * emptied when buffers are destroyed ({@link forgetBuffers}), so no cached bind group refers to one.
 */

const MAX_PER_LAYOUT = 1024;

interface LayoutCache {
  epoch: number;
  groups: Map<string, GPUBindGroup>;
}

const caches = new WeakMap<GPUBindGroupLayout, LayoutCache>();
/** The caches filled since the last {@link forgetBuffers} (so that it can empty them all). */
const live = new Set<LayoutCache>();
const ids = new WeakMap<GPUBuffer, number>();
let nextId = 1;
let epoch = 0;
let hits = 0;
let misses = 0;

function idOf(buffer: GPUBuffer): number {
  let id = ids.get(buffer);
  if (id === undefined) ids.set(buffer, (id = nextId++));
  return id;
}

/** A bind group for `entries` (every resource a buffer binding with explicit offset and size), cached. */
export function bindGroupFor(device: GPUDevice, layout: GPUBindGroupLayout, label: string, entries: readonly GPUBindGroupEntry[]): GPUBindGroup {
  let cache = caches.get(layout);
  if (!cache || cache.epoch !== epoch) {
    caches.set(layout, (cache = { epoch, groups: new Map() }));
    live.add(cache);
  }
  let key = '';
  for (const entry of entries) {
    const r = entry.resource as GPUBufferBinding;
    key += `${entry.binding}:${idOf(r.buffer)}:${r.offset ?? 0}:${r.size ?? 0};`;
  }
  let group = cache.groups.get(key);
  if (group) {
    hits++;
    // Most recently used last.
    cache.groups.delete(key);
    cache.groups.set(key, group);
    return group;
  }
  misses++;
  group = device.createBindGroup({ layout, entries: [...entries], label });
  cache.groups.set(key, group);
  if (cache.groups.size > MAX_PER_LAYOUT) cache.groups.delete(cache.groups.keys().next().value!);
  return group;
}

/** Drops every cached bind group: call before destroying buffers (memory trims, a new device). */
export function forgetBuffers(): void {
  for (const cache of live) cache.groups.clear();
  live.clear();
  epoch++;
}

/** Cache hits and misses since start (for tests and tuning). */
export function bindGroupStats(): { hits: number; misses: number } {
  return { hits, misses };
}
