/**
 * Modules, PyTorch-style: a module owns named parameters and named submodules, registered explicitly
 * with `this.param(name, tensor)` and `this.module(name, m)` (registration order is the order of
 * `namedParameters()` and of the state dict). Parameters are `keep()`-ed leaves with
 * `requiresGrad = true`: scopes never collect them, `dispose()` frees them.
 *
 * The memory rule: `forward` frees everything it creates and does not return. Every module's
 * `forward` runs inside a {@link scope} (installed by the base class), so model code needs no
 * `dispose()` calls; what it returns survives into the caller's scope, and autograd still sees the
 * freed intermediates. Long-lived state goes through `param()` (learned) or `buffer()` (not learned:
 * caches, masks, running statistics).
 */
import { ScratchGPTError } from '../engine/errors';
import { keep, scope } from '../engine/scope';
import { recordCopy } from '../engine/queue';
import { fmt, type Tensor } from '../engine/tensor';

/** Anything a state dict can be given as. */
export type StateDict = Map<string, Tensor> | Record<string, Tensor>;

export interface LoadStateDictOptions {
  /** Throw when the dict lacks a parameter of the model or has keys the model lacks. Default true. Shapes are always checked. */
  strict?: boolean;
}

/** What {@link Module.loadStateDict} did not match (only non-empty with `strict: false`). */
export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
}

/**
 * Base class of layers and models. `In`/`Out` type `forward`.
 * @example
 * ```ts
 * class MLP extends Module {
 *   readonly fc: Linear;
 *   readonly proj: Linear;
 *   constructor(c: number) {
 *     super();
 *     this.fc = this.module('fc', new Linear(c, 4 * c));
 *     this.proj = this.module('proj', new Linear(4 * c, c));
 *   }
 *   override forward(x: Tensor): Tensor {
 *     return this.proj.forward(gelu(this.fc.forward(x))); // [B, T, C]; the [B, T, 4C] hiddens are freed on return
 *   }
 * }
 * ```
 */
export abstract class Module<In extends unknown[] = [Tensor], Out = Tensor> {
  /** Training mode (dropout active). Set with {@link train}/{@link eval}, which recurse. */
  training = true;
  private readonly ownParams = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly ownModules = new Map<string, AnyModule>();

  constructor() {
    // `this.forward` is the most derived class's prototype method: wrap it once per instance so that
    // every call, sync or async, frees what it creates and does not return.
    const body = this.forward;
    this.forward = (...args: In): Out => scope(() => body.apply(this, args));
  }

  /**
   * The computation. It runs inside a scope: every tensor it creates and does not return (anywhere in
   * the returned value: arrays, plain objects, Maps) is freed when it returns.
   */
  abstract forward(...args: In): Out;

  /**
   * Registers `tensor` as parameter `name` (keeps it out of scopes, makes it a leaf requiring grad)
   * and returns it, to be stored in a field.
   */
  protected param<T extends Tensor>(name: string, tensor: T): T {
    this.checkName(name);
    if (tensor.dtype !== 'f32') throw new ScratchGPTError('dtype', `scratchgpt: ${this.constructor.name}: parameter '${name}' must be f32, got ${tensor.dtype}`);
    if (!tensor.isLeaf) throw new ScratchGPTError('value', `scratchgpt: ${this.constructor.name}: parameter '${name}' is the output of an op; pass a leaf tensor (detach() it)`);
    keep(tensor);
    tensor.requiresGrad = true;
    this.ownParams.set(name, tensor);
    return tensor;
  }

  /**
   * Registers `tensor` as buffer `name`: state that outlives `forward` but is not learned (a cache, a
   * mask, running statistics). It is kept out of scopes, freed by {@link dispose}, and not among the
   * parameters. Registering a name again replaces (and frees) the previous buffer. Returns `tensor`.
   */
  protected buffer<T extends Tensor>(name: string, tensor: T): T {
    const previous = this.ownBuffers.get(name);
    if (previous === undefined) this.checkName(name);
    keep(tensor);
    this.ownBuffers.set(name, tensor);
    if (previous !== undefined && previous !== tensor) previous.dispose();
    return tensor;
  }

  /** Registers `module` as submodule `name` (its parameters appear as `name.…`) and returns it. */
  protected module<M extends AnyModule>(name: string, module: M): M {
    this.checkName(name);
    if (Object.is(module, this)) throw new ScratchGPTError('value', `scratchgpt: ${this.constructor.name}: a module cannot contain itself`);
    this.ownModules.set(name, module);
    return module;
  }

  /**
   * Swaps registered submodule `name` for `module` in place (same position, so names and parameter
   * order stay), and points every field of this module that held the old one, directly or as an array
   * element (`Sequential.layers`), at the new one. Returns the old module, not disposed. Used by LoRA.
   */
  replaceModule(name: string, module: AnyModule): AnyModule {
    const old = this.ownModules.get(name);
    if (!old) throw new ScratchGPTError('value', `scratchgpt: ${this.constructor.name} has no submodule '${name}' to replace`);
    if (Object.is(module, this)) throw new ScratchGPTError('value', `scratchgpt: ${this.constructor.name}: a module cannot contain itself`);
    this.ownModules.set(name, module);
    const fields = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      const value = fields[key];
      if (value === old) fields[key] = module;
      else if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (value[i] === old) value[i] = module;
      }
    }
    return old;
  }

  /**
   * Swaps registered parameter `name` for `tensor` in place (same name and position, so the state
   * dict keeps its order) and points every field of this module that held the old tensor at the new
   * one. Returns the old tensor, not disposed. `tensor` must have the old one's shape; it may be f16:
   * a storage-only weight for inference (`GPTModel.castWeights`), which carries no gradient.
   */
  replaceParameter(name: string, tensor: Tensor): Tensor {
    const old = this.ownParams.get(name);
    if (!old) throw new ScratchGPTError('value', `scratchgpt: ${this.constructor.name} has no parameter '${name}' to replace`);
    if (tensor.shape.join() !== old.shape.join()) {
      throw new ScratchGPTError('shape', `scratchgpt: ${this.constructor.name}: parameter '${name}' is ${fmt(old.shape)}, its replacement ${fmt(tensor.shape)}`);
    }
    if (tensor.dtype !== 'f32' && tensor.dtype !== 'f16') throw new ScratchGPTError('dtype', `scratchgpt: ${this.constructor.name}: parameter '${name}' must be f32 or f16, got ${tensor.dtype}`);
    keep(tensor);
    this.ownParams.set(name, tensor);
    const fields = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(fields)) if (fields[key] === old) fields[key] = tensor;
    return old;
  }

  private checkName(name: string): void {
    if (name === '' || name.includes('.')) {
      throw new ScratchGPTError('value', `scratchgpt: ${this.constructor.name}: invalid name '${name}' (must be non-empty, without '.')`);
    }
    if (this.ownParams.has(name) || this.ownModules.has(name) || this.ownBuffers.has(name)) {
      throw new ScratchGPTError('state', `scratchgpt: ${this.constructor.name}: '${name}' is already registered`);
    }
  }

  /** Direct submodules with their names, in registration order. */
  namedChildren(): [string, AnyModule][] {
    return [...this.ownModules];
  }

  /** This module (name `''`) and every submodule, depth first, with dotted names. */
  namedModules(prefix = ''): [string, AnyModule][] {
    const out: [string, AnyModule][] = [[prefix, this]];
    for (const [name, m] of this.ownModules) out.push(...m.namedModules(join(prefix, name)));
    return out;
  }

  /**
   * Every parameter with its dotted name (`blocks.0.attn.qkv.weight`), in registration order. A
   * tensor registered twice (tied weights) appears once, under its first name.
   */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [name, m] of this.namedModules(prefix)) {
      for (const [own, t] of m.ownParams) {
        if (seen.has(t)) continue;
        seen.add(t);
        out.push([join(name, own), t]);
      }
    }
    return out;
  }

  /** Every buffer (see {@link buffer}) here and below, with its dotted name, in registration order. */
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, m] of this.namedModules(prefix)) for (const [own, t] of m.ownBuffers) out.push([join(name, own), t]);
    return out;
  }

  /** Every parameter, in the order of {@link namedParameters} (pass it to an optimizer). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Number of parameter elements (with `trainableOnly`, only those with `requiresGrad`). */
  numParameters({ trainableOnly = false }: { trainableOnly?: boolean } = {}): number {
    let n = 0;
    for (const t of this.parameters()) if (!trainableOnly || t.requiresGrad) n += t.size;
    return n;
  }

  /**
   * The parameters by dotted name. The tensors are the module's own (not copies): do not dispose
   * them; read them with `toArray()` to save.
   */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters());
  }

  /**
   * Copies tensors into the existing parameter buffers (on the GPU, no readback; references to the
   * parameters stay valid). Throws one error listing every missing/unexpected key (unless
   * `strict: false`) and every shape or dtype mismatch, before copying anything.
   */
  loadStateDict(dict: StateDict, { strict = true }: LoadStateDictOptions = {}): LoadStateDictResult {
    const given = dict instanceof Map ? dict : new Map(Object.entries(dict));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !given.has(k));
    const unexpected = [...given.keys()].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [name, target] of own) {
      const source = given.get(name);
      if (!source) continue;
      if (source.shape.join() !== target.shape.join() || source.dtype !== target.dtype) {
        mismatched.push(`${name}: expected ${fmt(target.shape)} ${target.dtype}, got ${fmt(source.shape)} ${source.dtype}`);
      }
    }
    const problems: string[] = [];
    if (strict && missing.length > 0) problems.push(`missing keys: ${missing.join(', ')}`);
    if (strict && unexpected.length > 0) problems.push(`unexpected keys: ${unexpected.join(', ')}`);
    if (mismatched.length > 0) problems.push(`shape mismatches: ${mismatched.join('; ')}`);
    if (problems.length > 0) {
      throw new ScratchGPTError('format', `scratchgpt: ${this.constructor.name}.loadStateDict failed:\n  ${problems.join('\n  ')}`);
    }
    for (const [name, target] of own) {
      const source = given.get(name);
      if (!source || source === target || target.byteLength === 0) continue;
      if (source.buffer === target.buffer && source.byteOffset === target.byteOffset) continue;
      recordCopy(source.buffer, source.byteOffset, target.buffer, target.byteOffset, target.byteLength);
    }
    return { missing, unexpected };
  }

  /** Sets training mode here and in every submodule; returns this. */
  train(flag = true): this {
    for (const [, m] of this.namedModules()) m.training = flag;
    return this;
  }

  /** Evaluation mode (`train(false)`): dropout off. */
  eval(): this {
    return this.train(false);
  }

  /** Sets `requiresGrad` on every parameter here and below (false freezes them); returns this. */
  requiresGrad(flag = true): this {
    for (const t of this.parameters()) t.requiresGrad = flag;
    return this;
  }

  /** Clears (and frees) every parameter's `.grad`. */
  zeroGrad(): void {
    for (const t of this.parameters()) t.zeroGrad();
  }

  /** Frees every parameter (with its gradient) and every buffer. The module is unusable afterwards. */
  dispose(): void {
    for (const t of this.parameters()) t.dispose();
    for (const [, t] of this.namedBuffers()) t.dispose();
  }
}

/**
 * Runs `fn` with `module` and every submodule in eval mode (dropout off), then gives each one back its
 * own mode, whatever `fn` does. `fn` must be synchronous: a module's mode is shared by every caller,
 * so holding eval mode across an `await` would let a training step that runs meanwhile lose its
 * dropout, and two overlapping evaluations would leave the model in eval mode. Record the forward
 * passes inside, await their readbacks outside (GPU work is recorded at once, so the results are those
 * of eval mode).
 * @example
 * ```ts
 * const logits = inEvalMode(model, () => noGrad(() => model.forward(ids)));
 * const values = await logits.toArray(); // the model is back in its own mode here
 * ```
 */
export function inEvalMode<T>(module: AnyModule, fn: () => T): T {
  const modes = module.namedModules().map(([, m]) => [m, m.training] as const);
  for (const [m] of modes) m.training = false;
  let result: T;
  try {
    result = fn();
  } finally {
    for (const [m, training] of modes) m.training = training;
  }
  if (result instanceof Promise) {
    result.catch(() => undefined);
    throw new ScratchGPTError('state', 'scratchgpt: inEvalMode(module, fn) needs a synchronous fn (the mode is not held across awaits); record the work inside, await its results outside');
  }
  return result;
}

/** Any module, whatever its forward signature (for containers and traversal). */
// Method parameters are bivariant, so every Module<In, Out> is assignable to this.
export type AnyModule = Module<never[], unknown>;

function join(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}.${name}`;
}
