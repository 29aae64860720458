/**
 * Kernel variants of the row ops (softmax, layerNorm, crossEntropy, sampleLogits) and of attention,
 * and which one runs on the current adapter:
 *
 * - **Row reductions**: `tree` (pairwise trees in workgroup memory, shaders/rows.wgsl) or `subgroups`
 *   (subgroup operations, shaders/rows_subgroups.wgsl; needs the adapter's `subgroups` feature). One
 *   kernel source compiles against either prelude.
 * - **Attention**: `rows` (shaders/attention.wgsl: one invocation per query row, keys streamed from
 *   storage, the output row in registers) or `flash` (shaders/attention_flash.wgsl: blocks of query
 *   rows per workgroup, K/V tiles staged through workgroup memory).
 *
 * Choice, first match wins: {@link setKernelVariants} (process-wide, for tests and benchmarks), then
 * env `SCRATCHGPT_SUBGROUPS=0|1` and `SCRATCHGPT_ATTENTION_KERNEL=rows|flash` (Node), then the
 * adapter: subgroup reductions wherever the adapter has the feature (they measure faster on the CPU
 * adapters too), flash attention on GPUs; CPU adapters (llvmpipe, lavapipe, SwiftShader) keep the
 * row attention kernel, which measures faster there (BENCHMARKS.md).
 * Choices are per adapter, never per shape: pipelines stay keyed by kernel, entry and constants.
 */
import rowsSubgroupsWgsl from '../../../../shaders/rows_subgroups.wgsl';
import { gpu } from '../engine/device';
import { ScratchGPTError } from '../engine/errors';
import { defineKernel, type Kernel } from '../engine/kernel';
import type { Tensor } from '../engine/tensor';
import { adapterClass } from './gemm/policy';
import { commonWgsl, rowsWgsl } from './shared';

/** How the row ops reduce across a workgroup. */
export type ReductionVariant = 'tree' | 'subgroups';
/** Which attention kernel runs. */
export type AttentionVariant = 'rows' | 'flash';

/** Forced variants (see {@link setKernelVariants}); `'auto'` or absent leaves the choice to the adapter. */
export interface KernelVariantChoices {
  /** Row reductions with subgroup operations (`true`) or workgroup trees (`false`). */
  subgroups?: boolean | 'auto';
  /** The attention kernel. */
  attention?: AttentionVariant | 'auto';
}

let forced: KernelVariantChoices = {};

/**
 * Forces kernel variants for the whole process (tests, benchmarks); `{}` returns to the defaults.
 * Forcing a variant the adapter cannot run makes the ops that need it throw (code `device`).
 * @example
 * ```ts
 * setKernelVariants({ subgroups: true, attention: 'flash' });
 * const y = softmax(x); // subgroup reductions
 * setKernelVariants({});
 * ```
 */
export function setKernelVariants(choices: KernelVariantChoices): void {
  if (choices.subgroups !== undefined && choices.subgroups !== 'auto' && typeof choices.subgroups !== 'boolean') {
    throw new ScratchGPTError('value', `scratchgpt: setKernelVariants: subgroups must be true, false or 'auto', got ${String(choices.subgroups)}`);
  }
  if (choices.attention !== undefined && !['auto', 'rows', 'flash'].includes(choices.attention)) {
    throw new ScratchGPTError('value', `scratchgpt: setKernelVariants: attention must be 'rows', 'flash' or 'auto', got ${String(choices.attention)}`);
  }
  forced = { ...choices };
}

function env(name: string): string | undefined {
  const value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
  return value === undefined || value === '' ? undefined : value;
}

function envSubgroups(): boolean | undefined {
  const value = env('SCRATCHGPT_SUBGROUPS');
  if (value === undefined || value === 'auto') return undefined;
  if (value === '0' || value === '1') return value === '1';
  throw new ScratchGPTError('value', `scratchgpt: SCRATCHGPT_SUBGROUPS must be 0, 1 or auto, got '${value}'`);
}

function envAttention(): AttentionVariant | undefined {
  const value = env('SCRATCHGPT_ATTENTION_KERNEL');
  if (value === undefined || value === 'auto') return undefined;
  if (value === 'rows' || value === 'flash') return value;
  throw new ScratchGPTError('value', `scratchgpt: SCRATCHGPT_ATTENTION_KERNEL must be rows, flash or auto, got '${value}'`);
}

/** Whether the current device has the `subgroups` feature. */
export function hasSubgroups(): boolean {
  return gpu().features.has('subgroups');
}

function isCpuAdapter(): boolean {
  return adapterClass(gpu().adapter.info ?? {}) === 'cpu';
}

/** The row-reduction variant the row ops use on the current device. */
export function reductionVariant(): ReductionVariant {
  const want = forced.subgroups !== undefined && forced.subgroups !== 'auto' ? forced.subgroups : envSubgroups();
  if (want === true) {
    if (!hasSubgroups()) {
      throw new ScratchGPTError('device',
        `scratchgpt: subgroup reductions were forced (setKernelVariants or SCRATCHGPT_SUBGROUPS=1), but this adapter (${gpu().adapterName}) ` +
          "has no 'subgroups' feature",
      );
    }
    return 'subgroups';
  }
  if (want === false) return 'tree';
  // Faster on every adapter that has them, CPU ones included (lavapipe, SwiftShader: BENCHMARKS.md).
  return hasSubgroups() ? 'subgroups' : 'tree';
}

/** The attention variant on the current device (flash needs `flashBytes` of workgroup memory). */
export function attentionVariant(flashBytes: number): AttentionVariant {
  const want = forced.attention !== undefined && forced.attention !== 'auto' ? forced.attention : envAttention();
  const fits = gpu().limits.maxComputeWorkgroupStorageSize >= flashBytes;
  if (want === 'flash' && !fits) {
    throw new ScratchGPTError('device',
      `scratchgpt: flash attention was forced (setKernelVariants or SCRATCHGPT_ATTENTION_KERNEL=flash), but it needs ${flashBytes} bytes of ` +
        `workgroup memory and this device allows ${gpu().limits.maxComputeWorkgroupStorageSize}`,
    );
  }
  if (want !== undefined) return want;
  return fits && !isCpuAdapter() ? 'flash' : 'rows';
}

/** Storage precision of a kernel's activations (`act` in the WGSL): f32, or f16 with shader-f16. */
export type StorageType = 'f32' | 'f16';

/**
 * Storage of a storage kernel's tensors ({@link defineStorageKernel}): all `act` (f32 or f16), or
 * `'f16kv'`: f32 activations with f16 keys and values (`kv_act`; an f16 KV cache, needs shader-f16).
 */
export type KvStorageType = StorageType | 'f16kv';

/** The WGSL alias of `act` for each storage type (every variant kernel appends one). */
const ACT: Record<StorageType, string> = { f32: 'alias act = f32;', f16: 'alias act = f16;' };
/** The WGSL alias of `kv_act` (keys and values) of a storage kernel's twins. */
const KV_ACT = { same: 'alias kv_act = act;', f16: 'alias kv_act = f16;' } as const;
/** Directives put on a kernel's first line (so compile errors keep the file's line numbers). */
const ENABLE_F16 = 'enable f16; ';
const ENABLE_SUBGROUPS = 'enable subgroups; diagnostic(off, subgroup_uniformity); ';

interface Twins {
  /** By reduction variant, then storage type (the f32 tree kernel is the base itself). */
  tree: Record<StorageType, Kernel>;
  subgroups: Record<StorageType, Kernel> | null;
  /** Storage kernels only: f32 activations with f16 keys and values. */
  f16kv?: Kernel;
}

const twins = new WeakMap<Kernel, Twins>();

/**
 * Defines a row kernel (softmax, layerNorm, crossEntropy, sampleLogits) and its variants: `source`
 * with shaders/rows.wgsl (`name`, the base returned, which call-site checks read) and with
 * shaders/rows_subgroups.wgsl (`name_subgroups`), each with f32 and f16 activations (`…_f16`). `extra`
 * snippets follow the row prelude. Nothing compiles until a variant is launched: see {@link rowVariant}.
 */
export function defineRowKernel(name: string, source: string, extra: readonly string[] = []): Kernel {
  const make = (suffix: string, directives: string, rows: string, storage: StorageType) =>
    defineKernel(`${name}${suffix}`, `${directives}${source}`, { with: [commonWgsl, rows, ...extra, ACT[storage]] });
  const base = make('', '', rowsWgsl, 'f32');
  twins.set(base, {
    tree: { f32: base, f16: make('_f16', ENABLE_F16, rowsWgsl, 'f16') },
    subgroups: {
      f32: make('_subgroups', ENABLE_SUBGROUPS, rowsSubgroupsWgsl, 'f32'),
      f16: make('_subgroups_f16', ENABLE_F16 + ENABLE_SUBGROUPS, rowsSubgroupsWgsl, 'f16'),
    },
  });
  return base;
}

/**
 * Defines a kernel whose activations are `act` (attention) with its f16 twin (`name_f16`) and its
 * f16-keys-and-values twin (`name_f16kv`: `act` f32, `kv_act` f16); returns the f32 kernel. `kv_act`
 * is `act` in the other two. `snippets` are appended as `defineKernel`'s `with`.
 */
export function defineStorageKernel(name: string, source: string, snippets: readonly string[]): Kernel {
  const base = defineKernel(name, source, { with: [...snippets, ACT.f32, KV_ACT.same] });
  twins.set(base, {
    tree: { f32: base, f16: defineKernel(`${name}_f16`, `${ENABLE_F16}${source}`, { with: [...snippets, ACT.f16, KV_ACT.same] }) },
    subgroups: null,
    f16kv: defineKernel(`${name}_f16kv`, `${ENABLE_F16}${source}`, { with: [...snippets, ACT.f32, KV_ACT.f16] }),
  });
  return base;
}

/** Whether the current device has the `shader-f16` feature. */
export function hasF16(): boolean {
  return gpu().features.has('shader-f16');
}

/** The storage type of `t` for a kernel's `act`, checked against the device (f16 needs shader-f16). */
export function storageOf(op: string, t: Tensor): StorageType {
  if (t.dtype !== 'f16') return 'f32';
  if (!hasF16()) {
    throw new ScratchGPTError('device', `scratchgpt: ${op}: f16 tensors need the adapter's 'shader-f16' feature, which ${gpu().adapterName} lacks (use f32)`);
  }
  return 'f16';
}

function twinsOf(kernel: Kernel): Twins {
  const found = twins.get(kernel);
  if (!found) throw new ScratchGPTError('state', `scratchgpt: kernel '${kernel.name}' has no variants (define it with defineRowKernel or defineStorageKernel)`);
  return found;
}

/** The variant of row kernel `kernel` (from {@link defineRowKernel}) to launch on this device for `storage`. */
export function rowVariant(kernel: Kernel, storage: StorageType = 'f32'): Kernel {
  const set = twinsOf(kernel);
  return reductionVariant() === 'subgroups' && set.subgroups ? set.subgroups[storage] : set.tree[storage];
}

/** The f32, f16 or f16-keys-and-values twin of a kernel from {@link defineStorageKernel}. */
export function storageVariant(kernel: Kernel, storage: KvStorageType): Kernel {
  const set = twinsOf(kernel);
  if (storage !== 'f16kv') return set.tree[storage];
  if (!set.f16kv) throw new ScratchGPTError('state', `scratchgpt: kernel '${kernel.name}' has no f16 key/value twin (define it with defineStorageKernel)`);
  return set.f16kv;
}

/**
 * `ROWS_SG` for a launch of a row kernel: the adapter's subgroup size when the subgroup variant runs
 * and the adapter has only one (adapter.info.subgroupMinSize == subgroupMaxSize), else 0 (the
 * kernels read the size at run time; the tree prelude ignores it).
 */
export function rowsSubgroupSize(): number {
  if (reductionVariant() !== 'subgroups') return 0;
  const info = gpu().adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const min = info?.subgroupMinSize;
  return typeof min === 'number' && min > 0 && min === info.subgroupMaxSize ? min : 0;
}
