/**
 * 1-D problems of any size: workgroup grids folded into 2-D past the per-dimension limit, and
 * binding-sized chunks of tensors larger than one storage binding (re-exported by engine/kernel.ts).
 */
import { gpu } from './device';
import type { StorageBinding } from './kernel';
import type { Tensor } from './tensor';

/**
 * Workgroup grid for `n` independent items with `workgroupSize` threads each, folded into 2-D when
 * it exceeds the per-dimension limit. In WGSL recover the linear index as
 * `gid.x + gid.y * nwg.x * WG` (`@builtin(num_workgroups) nwg`; `linear_index` in shaders/common.wgsl).
 */
export function grid(n: number, workgroupSize: number): [number, number, number] {
  const groups = Math.ceil(n / workgroupSize);
  const maxX = Math.min(65535, gpu().limits.maxComputeWorkgroupsPerDimension);
  if (groups <= maxX) return [groups, 1, 1];
  const y = Math.ceil(groups / maxX);
  return [Math.ceil(groups / y), y, 1];
}

/** Elements per chunk when an op must split a tensor larger than one storage binding (256-byte aligned). */
export function chunkElements(): number {
  const maxBytes = gpu().limits.maxStorageBufferBindingSize;
  return Math.floor(maxBytes / 256) * 64;
}

/** Splits `n` elements into ranges that each fit one storage binding. */
export function chunks(n: number): { start: number; count: number }[] {
  const per = chunkElements();
  const out: { start: number; count: number }[] = [];
  for (let start = 0; start < n; start += per) out.push({ start, count: Math.min(per, n - start) });
  if (out.length === 0) out.push({ start: 0, count: 0 });
  return out;
}

/** Binding of elements `[start, start + count)` of a tensor (start must come from {@link chunks}). */
export function range(tensor: Tensor, start: number, count: number): StorageBinding {
  return { tensor, offset: start * 4, size: Math.max(4, count * 4) };
}
