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
 * adapter: GPUs get subgroups when they have them and flash attention; CPU adapters (llvmpipe,
 * lavapipe, SwiftShader) keep the tree and the row kernel, which measure faster there (BENCHMARKS.md).
 * Choices are per adapter, never per shape: pipelines stay keyed by kernel, entry and constants.
 */
import rowsSubgroupsWgsl from '../../../../shaders/rows_subgroups.wgsl';
import { gpu } from '../engine/device';
import { ScratchGPTError } from '../engine/errors';
import { defineKernel, type Constants, type Kernel } from '../engine/kernel';
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
  return hasSubgroups() && !isCpuAdapter() ? 'subgroups' : 'tree';
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

/** A row kernel compiled against each reduction prelude. */
export interface RowKernels {
  tree: Kernel;
  subgroups: Kernel;
}

/**
 * Defines `source` twice: with shaders/rows.wgsl (`name`) and with shaders/rows_subgroups.wgsl
 * (`name_subgroups`, `enable subgroups;` on the kernel's first line so line numbers stay the same).
 * `extra` snippets follow the row prelude in both. Nothing compiles until a variant is launched.
 */
export function defineRowKernels(name: string, source: string, extra: readonly string[] = []): RowKernels {
  return {
    tree: defineKernel(name, source, { with: [commonWgsl, rowsWgsl, ...extra] }),
    subgroups: defineKernel(`${name}_subgroups`, `enable subgroups; diagnostic(off, subgroup_uniformity); ${source}`, {
      with: [commonWgsl, rowsSubgroupsWgsl, ...extra],
    }),
  };
}

/** The adapter's subgroup size when it has only one (else 0: the kernels then read it at run time). */
function fixedSubgroupSize(): number {
  const info = gpu().adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const min = info?.subgroupMinSize;
  return typeof min === 'number' && min > 0 && min === info.subgroupMaxSize ? min : 0;
}

/** The kernel of `kernels` to launch on this device, and the constants its prelude needs. */
export function rowKernel(kernels: RowKernels): { kernel: Kernel; constants: Constants } {
  if (reductionVariant() === 'subgroups') return { kernel: kernels.subgroups, constants: { ROWS_SG: fixedSubgroupSize() } };
  return { kernel: kernels.tree, constants: {} };
}
