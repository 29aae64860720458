/**
 * Kernels: a WGSL source with one or more entry points, compiled once per (entry, override constants)
 * and cached — never per shape: shapes travel in uniforms. The WGSL is the single source of truth for
 * the kernel's ABI: {@link defineKernel} reads binding names, the uniform `Params` struct, entry points
 * with their `@workgroup_size`, and `const` op codes from it (engine/wgsl.ts), and {@link launch}
 * binds by those names, checked. {@link dispatch} is the positional form for hand-written kernels:
 * binding 0 is the uniform block, bindings 1..n are storage buffers in the order given.
 *
 * Entry points in `shaders/` are named `forward`, `backward` or `backward_<what>` (`backward_dx`), and
 * helper stages for what they compute (`mean_loss`, `clip_factor`, `pad_rows`).
 */
import { bindGroupFor } from './bindgroups';
import { gpu } from './device';
import { ScratchGPTError } from './errors';
import { grid } from './chunks';
import { ERRORS_BINDING, errorsResource } from './gpuerrors';
import { isErrorsBinding, isUniformBlock, layoutFor, pipelineFor, placeholder } from './pipelines';
import { recordDispatch, stageUniforms } from './queue';
import type { Tensor } from './tensor';
import { packParams, Uniforms, type ParamValue } from './uniforms';
import { parseWgsl, type KernelBinding, type KernelEntry, type ParamField, type ParamsLayout } from './wgsl';

export { MAX_RANK, Uniforms, type ParamValue } from './uniforms';
export { parseBindings, parseWgsl, type KernelBinding, type KernelEntry, type ParamField, type ParamsLayout, type ScalarType, type WgslModule } from './wgsl';
export { bindGroupStats } from './bindgroups';
export { chunkElements, chunks, grid, range } from './chunks';
export { ShaderStage, pipelineCount } from './pipelines';

/** Values for WGSL `override` constants (dtype/rank/op codes): part of the pipeline key. */
export type Constants = Readonly<Record<string, number | boolean>>;

/** A WGSL module registered with the library, with the ABI read from its source. */
export interface Kernel {
  readonly name: string;
  /** The WGSL that is compiled: the kernel's own source followed by its `with` snippets. */
  readonly source: string;
  /** Bindings declared in group 0 (every entry point of the module shares one layout). */
  readonly bindings: readonly KernelBinding[];
  /** Layout of the struct bound as `var<uniform>` at `@binding(0)` (null when there is none). */
  readonly params: ParamsLayout | null;
  /** `@compute` entry points by name, with what each one reads. */
  readonly entries: ReadonlyMap<string, KernelEntry>;
  /** Module-scope `const NAME = <literal>` values, e.g. op codes: `kernel.consts.GELU`. */
  readonly consts: Readonly<Record<string, number>>;
  /** `override` constants and their defaults (undefined when the WGSL gives none). */
  readonly overrides: Readonly<Record<string, number | boolean | undefined>>;
  /** Invocations per workgroup of `entry` (its `@workgroup_size`, with `override`s resolved from `constants`). */
  workgroupSize(entry: string, constants?: Constants): number;
}

/** Options of {@link defineKernel}. */
export interface KernelOptions {
  /**
   * WGSL snippets appended to the source (shared helpers such as `shaders/common.wgsl`). WGSL
   * module-scope declarations are order-independent, so appending keeps compile errors on the
   * kernel's own line numbers.
   */
  with?: readonly string[];
}

/** What {@link launch} checks per kernel, indexed once. */
interface Index {
  fields: Map<string, ParamField>;
  bindings: Map<string, KernelBinding>;
  paramsError: string | null;
  /** Whether the kernel reads or writes halves (`enable f16`, or packed with pack2x16float/unpack2x16float). */
  halves: boolean;
}

const kernelsByName = new Map<string, Kernel>();
const indexes = new WeakMap<Kernel, Index>();

function resolveSize(kernel: Kernel, entry: string, expr: string, constants: Constants | undefined): number {
  const literal = /^\d+[iu]?$/.test(expr) ? parseInt(expr, 10) : undefined;
  const value = literal ?? kernel.consts[expr] ?? (expr in kernel.overrides ? (constants?.[expr] ?? kernel.overrides[expr]) : undefined);
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < 1) {
    throw new ScratchGPTError('format',
      `scratchgpt: kernel '${kernel.name}' entry '${entry}': cannot work out @workgroup_size(${kernel.entries.get(entry)?.workgroupSize.join(', ')}) ` +
        `(only literals, consts and overrides are read); pass \`workgroups\` instead of \`items\``,
    );
  }
  return n;
}

/**
 * Registers a WGSL kernel and reads its ABI. Names must be unique (they key the pipeline cache).
 * @example
 * ```ts
 * const scale = defineKernel('user_scale', `
 *   struct Params { n: u32, s: f32 }
 *   @group(0) @binding(0) var<uniform> p: Params;
 *   @group(0) @binding(1) var<storage, read> x: array<f32>;
 *   @group(0) @binding(2) var<storage, read_write> y: array<f32>;
 *   @compute @workgroup_size(64) fn forward(@builtin(global_invocation_id) g: vec3u) {
 *     if (g.x < p.n) { y[g.x] = x[g.x] * p.s; }
 *   }`);
 * launch(scale, 'forward', { params: { n: x.size, s: 2 }, bind: { x, y }, items: x.size });
 * ```
 */
export function defineKernel(name: string, source: string, options: KernelOptions = {}): Kernel {
  const full = [source, ...(options.with ?? [])].join('\n');
  const existing = kernelsByName.get(name);
  if (existing) {
    if (existing.source !== full) throw new ScratchGPTError('state', `scratchgpt: a different kernel named '${name}' is already defined`);
    return existing;
  }
  const parsed = parseWgsl(name, full);
  const kernel: Kernel = {
    name,
    source: full,
    bindings: parsed.bindings,
    params: parsed.params,
    entries: parsed.entries,
    consts: Object.freeze(parsed.consts),
    overrides: Object.freeze(parsed.overrides),
    workgroupSize(entry, constants) {
      const info = parsed.entries.get(entry);
      if (!info) throw new ScratchGPTError('format', `scratchgpt: kernel '${name}' has no entry point '${entry}' (entries: ${[...parsed.entries.keys()].join(', ')})`);
      if (info.workgroupSize.length === 0) throw new ScratchGPTError('format', `scratchgpt: kernel '${name}' entry '${entry}' declares no @workgroup_size`);
      return info.workgroupSize.reduce((total, expr) => total * resolveSize(kernel, entry, expr, constants), 1);
    },
  };
  indexes.set(kernel, {
    fields: new Map((parsed.params?.fields ?? []).map((f) => [f.name, f])),
    bindings: new Map(parsed.bindings.map((b) => [b.name, b])),
    paramsError: parsed.paramsError,
    halves: /\benable\s+f16\s*;|\b(?:un)?pack2x16float\s*\(/.test(full),
  });
  kernelsByName.set(name, kernel);
  return kernel;
}

/** Every kernel defined so far (built-in ones are defined when their op module is imported). */
export function definedKernels(): Kernel[] {
  return [...kernelsByName.values()];
}

/** A storage binding: a whole tensor, or a byte range of one (offset aligned to the device's minStorageBufferOffsetAlignment). */
export type StorageBinding = Tensor | { tensor: Tensor; offset: number; size: number };

/** Workgroup counts of a dispatch: `[x, y, z]` or a number (x). */
export type Workgroups = readonly [number, number?, number?] | number;

export interface DispatchOptions {
  /** Entry point (default `main`). */
  entry?: string;
  /** Values for WGSL `override` constants (dtype/rank/op codes): part of the pipeline key. */
  constants?: Constants;
  /** Uniform block for `@binding(0)`. */
  uniforms?: Uniforms | ArrayBuffer;
  /** Storage buffers for `@binding(1)`, `@binding(2)`, ...; `null` leaves a binding number unused. */
  storage: (StorageBinding | null)[];
  /** Workgroup counts; use {@link grid} for a 1-D problem of any size. */
  workgroups: Workgroups;
}

/** How {@link launch} is told the grid: exactly one of `items`, `groups` or `workgroups`. */
export interface LaunchOptions {
  /** Values for WGSL `override` constants: part of the pipeline key (checked against the `override`s). */
  constants?: Constants;
  /** Fields of the uniform `Params` struct by name; those the entry point does not read, and `_pad…`, may be left out (zero). */
  params?: Readonly<Record<string, ParamValue>>;
  /** Storage buffers by their WGSL names; `null` (or leaving out one the entry point never refers to) binds a placeholder. */
  bind?: Readonly<Record<string, StorageBinding | null>>;
  /** One invocation per item: the grid is sized from the entry's `@workgroup_size` (folded into 2-D, see {@link grid}). */
  items?: number;
  /** This many workgroups (folded into 2-D): for entries that give a workgroup to each row. */
  groups?: number;
  /** Explicit workgroup counts. */
  workgroups?: Workgroups;
}

function storageResource(kernel: Kernel, binding: StorageBinding): GPUBufferBinding {
  const { limits } = gpu();
  const whole = 'buffer' in binding;
  const tensor = whole ? binding : binding.tensor;
  // A tensor may be a view of an arena (a fused optimizer's flat buffers): its data starts at byteOffset.
  const offset = tensor.byteOffset + (whole ? 0 : binding.offset);
  const size = whole ? Math.max(4, Math.ceil(binding.byteLength / 4) * 4) : binding.size;
  if (tensor.dtype === 'f16' && !indexes.get(kernel)?.halves) {
    // Every element of this kernel is 32 bits wide: halves would be read two at a time.
    throw new ScratchGPTError('dtype',
      `scratchgpt: kernel '${kernel.name}' works on 32-bit elements and was given an f16 tensor of shape [${tensor.shape.join(', ')}]: ` +
        "this op does not take f16; cast(x, 'f32') first",
    );
  }
  if (size > limits.maxStorageBufferBindingSize) {
    throw new ScratchGPTError('limit',
      `scratchgpt: kernel '${kernel.name}' would bind ${size} bytes of a tensor of shape [${tensor.shape.join(', ')}], ` +
        `more than this device's maxStorageBufferBindingSize (${limits.maxStorageBufferBindingSize}); this op does not split large tensors`,
    );
  }
  return { buffer: tensor.buffer, offset, size };
}

/**
 * Records one dispatch: `resourceFor` gives each declared binding's buffer range, `uniforms` the
 * block for binding 0 (staged in the arena and bound at a dynamic offset).
 */
function encode(
  kernel: Kernel,
  entry: string,
  constants: Constants | undefined,
  uniforms: ArrayBuffer | null,
  resourceFor: (binding: KernelBinding) => GPUBufferBinding | null,
  workgroups: Workgroups,
  reports: boolean,
): void {
  const { device, limits } = gpu();
  const pipeline = pipelineFor(kernel, entry, constants);
  const entries: GPUBindGroupEntry[] = [];
  const dynamicOffsets: number[] = [];
  for (const declared of kernel.bindings) {
    if (isUniformBlock(declared)) {
      const staged = uniforms ? stageUniforms(uniforms) : placeholder(declared);
      entries.push({ binding: 0, resource: { buffer: staged.buffer, offset: 0, size: staged.size } });
      dynamicOffsets.push(staged.offset ?? 0);
    } else if (isErrorsBinding(declared)) {
      entries.push({ binding: declared.binding, resource: errorsResource(device, reports) });
    } else {
      entries.push({ binding: declared.binding, resource: resourceFor(declared) ?? placeholder(declared) });
    }
  }
  const wg = typeof workgroups === 'number' ? [workgroups, 1, 1] : workgroups;
  const groups = [wg[0], wg[1] ?? 1, wg[2] ?? 1] as const;
  if (groups[0] === 0 || groups[1] === 0 || groups[2] === 0) return;
  const maxGroups = limits.maxComputeWorkgroupsPerDimension;
  if (groups.some((g) => g > maxGroups)) {
    throw new ScratchGPTError('limit', `scratchgpt: kernel '${kernel.name}' dispatch [${groups.join(', ')}] exceeds ${maxGroups} workgroups per dimension`);
  }
  recordDispatch(pipeline, bindGroupFor(device, layoutFor(kernel), kernel.name, entries), groups, dynamicOffsets);
}

/**
 * Records one dispatch of `kernel` with positional bindings (submitted at the next flush/readback).
 * Built-in ops use the named, checked {@link launch}; this is the form for hand-written kernels.
 */
export function dispatch(kernel: Kernel, options: DispatchOptions): void {
  if (options.storage.length > 0 && !kernel.bindings.some((b) => b.binding === options.storage.length)) {
    throw new ScratchGPTError('value', `scratchgpt: kernel '${kernel.name}' declares no @binding(${options.storage.length}) but ${options.storage.length} storage buffers were given`);
  }
  const uniforms = options.uniforms instanceof Uniforms ? options.uniforms.toArrayBuffer() : (options.uniforms ?? null);
  encode(
    kernel,
    options.entry ?? 'main',
    options.constants,
    uniforms,
    (b) => {
      const given = b.binding > 0 ? options.storage[b.binding - 1] : null;
      return given ? storageResource(kernel, given) : null;
    },
    options.workgroups,
    kernel.bindings.some(isErrorsBinding),
  );
}

const list = (names: Iterable<string>) => [...names].join(', ') || 'none';

/**
 * Records one dispatch of entry point `entry` with its uniform fields and storage buffers given by
 * their WGSL names. Everything is checked against the shader: an unknown name, or a field or binding
 * the entry point reads but was not given, is an error naming the kernel, the entry and the name.
 * @example
 * ```ts
 * launch(kernel, 'backward_params', {
 *   constants: { HAS_WEIGHT: true, HAS_BIAS: true },
 *   params: { rows, c, rows_per_chunk: 32 },               // struct Params (the rest are 0)
 *   bind: { x, stats, dy, dw_part: dw, db_part: db },      // @binding names
 *   items: chunks * c,                                     // grid from @workgroup_size
 * });
 * ```
 */
export function launch(kernel: Kernel, entry: string, options: LaunchOptions): void {
  const info = kernel.entries.get(entry);
  if (!info) throw new ScratchGPTError('value', `scratchgpt: kernel '${kernel.name}' has no entry point '${entry}' (entries: ${list(kernel.entries.keys())})`);
  const where = () => `kernel '${kernel.name}' entry '${entry}'`;
  const index = indexes.get(kernel)!;
  const { constants } = options;
  if (constants) {
    for (const [name, value] of Object.entries(constants)) {
      if (!(name in kernel.overrides)) throw new ScratchGPTError('value', `scratchgpt: ${where()}: no override constant '${name}' (overrides: ${list(Object.keys(kernel.overrides))})`);
      if (typeof value !== 'boolean' && !Number.isFinite(value)) throw new ScratchGPTError('value', `scratchgpt: ${where()}: constant '${name}' is ${value}, not a number`);
    }
  }

  const params = options.params ?? {};
  for (const name of Object.keys(params)) {
    const field = index.fields.get(name);
    if (!field) {
      if (index.paramsError) throw new ScratchGPTError('format', index.paramsError);
      throw new ScratchGPTError('value', `scratchgpt: ${where()}: no Params field '${name}' (fields: ${list(index.fields.keys())})`);
    }
    if (field.pad) throw new ScratchGPTError('value', `scratchgpt: ${where()}: '${name}' is padding (always zero), do not pass it`);
  }
  for (const name of info.params) {
    const field = index.fields.get(name);
    if (!field && index.paramsError) throw new ScratchGPTError('format', index.paramsError);
    if (field && !field.pad && params[name] === undefined) {
      throw new ScratchGPTError('value', `scratchgpt: ${where()} reads Params field '${name}', which was not given`);
    }
  }

  const bind = options.bind ?? {};
  for (const name of Object.keys(bind)) {
    const binding = index.bindings.get(name);
    if (!binding) {
      const storage = kernel.bindings.filter((b) => !isUniformBlock(b)).map((b) => b.name);
      throw new ScratchGPTError('value', `scratchgpt: ${where()}: no binding '${name}' (bindings: ${list(storage)})`);
    }
    if (isUniformBlock(binding)) throw new ScratchGPTError('value', `scratchgpt: ${where()}: '${name}' is the uniform block: pass its fields in \`params\``);
    if (isErrorsBinding(binding)) throw new ScratchGPTError('value', `scratchgpt: ${where()}: '${name}' is the engine's error-report buffer (shaders/errors.wgsl): it is bound automatically`);
  }
  for (const name of info.bindings) {
    if (bind[name] === undefined && !isErrorsBinding(index.bindings.get(name)!)) {
      throw new ScratchGPTError('value', `scratchgpt: ${where()} uses binding '${name}', which was not given (pass null to leave it unbound)`);
    }
  }

  const grids = [options.items, options.groups, options.workgroups].filter((g) => g !== undefined).length;
  if (grids !== 1) throw new ScratchGPTError('value', `scratchgpt: ${where()}: give exactly one of items, groups or workgroups`);
  const workgroups =
    options.items !== undefined
      ? grid(options.items, kernel.workgroupSize(entry, constants))
      : options.groups !== undefined
        ? grid(options.groups, 1)
        : options.workgroups!;

  const uniforms = kernel.params ? packParams(kernel.params, params, where) : null;
  encode(
    kernel,
    entry,
    constants,
    uniforms,
    (b) => {
      const given = bind[b.name];
      return given ? storageResource(kernel, given) : null;
    },
    workgroups,
    info.bindings.has(ERRORS_BINDING),
  );
}
