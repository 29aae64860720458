/**
 * Flat buffers for a fused optimizer (like llm.c's single parameter/gradient buffers): parameters are
 * packed into a few arenas that each fit one storage binding, so one dispatch updates every parameter
 * of an arena. Each parameter keeps its identity (modules hold it) and becomes a view of its arena;
 * its gradient lands in place in a slot of a matching gradient arena (`Tensor.gradSlot`, filled by
 * `backward()`), and the optimizer's moments are views of two more arenas.
 *
 * Layout: parameters in list order, each at a 256-byte aligned offset (minStorageBufferOffsetAlignment,
 * so every view can be bound on its own); an arena holds at most one binding's worth
 * ({@link arenaBindingBytes}) and at most {@link MAX_SPANS} parameters. A parameter larger than one
 * binding gets an arena of its own, processed in binding-sized chunks.
 */
import { gpu } from '../engine/device';
import { recordClear, recordCopy } from '../engine/queue';
import { keep } from '../engine/scope';
import { Tensor } from '../engine/tensor';
import { zeros } from '../ops/creation';

/** Parameters one fused dispatch can list (the span table in shaders/adamw_flat.wgsl's uniforms). */
export const MAX_SPANS = 512;

let testBindingBytes: number | null = null;

/**
 * @internal Tests only: pack as if a storage binding held at most `bytes` (null: the device's limit),
 * so that several arenas and chunked parameters appear with small tensors.
 */
export function setArenaBindingLimitForTests(bytes: number | null): void {
  testBindingBytes = bytes;
}

/** Bytes one arena (and one fused dispatch) may span: a binding's worth, in 256-byte steps. */
export function arenaBindingBytes(): number {
  const { limits } = gpu();
  const bytes = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize, testBindingBytes ?? Infinity);
  return Math.floor(bytes / 256) * 256;
}

/** One parameter's place: its arena and first element there. */
export interface Member {
  /** Index in the optimizer's parameter list. */
  index: number;
  /** First element in the arena (a multiple of 64). */
  start: number;
}

/** One arena of each kind (`param`, `grad`, `m`, `v`: flat f32 tensors of `size` elements) and who lives there. */
export interface Arena {
  size: number;
  members: Member[];
  /** The members' parameters and gradient slots, in member order. */
  owners: Tensor[];
  slots: Tensor[];
  param: Tensor<'f32'>;
  grad: Tensor<'f32'>;
  m: Tensor<'f32'>;
  v: Tensor<'f32'>;
}

/** A binding-sized piece of an arena: one fused dispatch. */
export interface ArenaChunk {
  arena: Arena;
  start: number;
  count: number;
}

/**
 * Why `params` cannot be packed (null when they can): a parameter whose storage another tensor shares
 * (a view, or a tensor saved for backward) would stop seeing updates, and one already packed by a
 * live fused optimizer belongs to that one.
 */
export function cannotPack(names: readonly string[], params: readonly Tensor[]): string | null {
  for (const [k, p] of params.entries()) {
    if (p.gradSlot) return `parameter '${names[k]}' already belongs to another fused optimizer (dispose that one first)`;
    if (p.sharesStorage) return `parameter '${names[k]}' shares its GPU storage with another tensor (a reshape/retainView view or a tensor saved for backward: dispose it or run backward first)`;
  }
  return null;
}

/** The arena of each gradient slot (clipGradNorm reads a whole arena in one pass when it can). */
const arenaOfSlot = new WeakMap<Tensor, Arena>();

/**
 * @internal The gradients of `params` as whole flat gradient buffers where possible: an arena all of
 * whose parameters are in `params` and hold their gradient in their slot is one tensor (its gaps are
 * zero); every other gradient stays itself. Lets clipGradNorm read a whole arena per dispatch.
 */
export function flatGradients(params: readonly Tensor[], grads: readonly Tensor[]): Tensor[] {
  const given = new Set(params);
  const out: Tensor[] = [];
  const seen = new Set<Arena>();
  for (const g of grads) {
    const arena = arenaOfSlot.get(g);
    if (arena && arena.owners.every((p, k) => given.has(p) && p.grad === arena.slots[k] && p.gradSlot === arena.slots[k])) {
      if (!seen.has(arena)) out.push(arena.grad);
      seen.add(arena);
    } else out.push(g);
  }
  return out;
}

function planArenas(params: readonly Tensor[]): { size: number; members: Member[] }[] {
  const limit = arenaBindingBytes();
  const plans: { size: number; members: Member[] }[] = [];
  let current: { size: number; members: Member[] } | null = null;
  params.forEach((p, index) => {
    const elements = Math.max(64, Math.ceil(p.size / 64) * 64);
    if (elements * 4 > limit) {
      plans.push({ size: p.size, members: [{ index, start: 0 }] });
      current = null;
      return;
    }
    if (!current || (current.size + elements) * 4 > limit || current.members.length >= MAX_SPANS) {
      current = { size: 0, members: [] };
      plans.push(current);
    }
    current.members.push({ index, start: current.size });
    current.size += elements;
  });
  return plans;
}

/**
 * The flat buffers of a fused optimizer over `params` (f32, each in one optimizer only). Construction
 * records the copies that move every parameter (and any gradient it already has) into the arenas.
 */
export class ParameterArenas {
  readonly arenas: Arena[];
  /** Per parameter: its gradient slot and moment views (the optimizer's own state tensors). */
  readonly slots: Tensor[];
  readonly m: Tensor[];
  readonly v: Tensor[];

  constructor(readonly params: readonly Tensor[]) {
    const plans = planArenas(params);
    this.slots = new Array<Tensor>(params.length);
    this.m = new Array<Tensor>(params.length);
    this.v = new Array<Tensor>(params.length);
    this.arenas = plans.map(({ size, members }) => {
      const arena: Arena = {
        size,
        members,
        owners: members.map(({ index }) => params[index]),
        slots: [],
        param: keep(Tensor.empty([size], 'f32')),
        grad: keep(Tensor.empty([size], 'f32')),
        m: keep(zeros([size])),
        v: keep(zeros([size])),
      };
      // The alignment gaps stay zero, so a whole-arena gradient norm only sums gradients.
      if (size > 0) recordClear(arena.grad.buffer, arena.grad.byteOffset, Math.ceil(size / 64) * 256);
      for (const { index, start } of members) {
        const p = params[index];
        const at = start * 4;
        const place = arena.param.viewAt(at, p.shape);
        p.moveInto(place);
        place.dispose();
        const slot = keep(arena.grad.viewAt(at, p.shape));
        if (p.grad) {
          if (p.grad.byteLength > 0) recordCopy(p.grad.buffer, p.grad.byteOffset, slot.buffer, slot.byteOffset, slot.byteLength);
          if (p.grad !== p.gradSlot) p.grad.dispose();
          p.grad = slot;
        }
        p.gradSlot = slot;
        arena.slots.push(slot);
        arenaOfSlot.set(slot, arena);
        this.slots[index] = slot;
        this.m[index] = keep(arena.m.viewAt(at, p.shape));
        this.v[index] = keep(arena.v.viewAt(at, p.shape));
      }
      return arena;
    });
  }

  /** Every binding-sized piece of every arena (one per arena, except for parameters larger than a binding). */
  chunks(): ArenaChunk[] {
    const per = Math.floor(arenaBindingBytes() / 4);
    return this.arenas.flatMap((arena) => {
      if (arena.size * 4 <= arenaBindingBytes()) return [{ arena, start: 0, count: arena.size }];
      const out: ArenaChunk[] = [];
      for (let start = 0; start < arena.size; start += per) out.push({ arena, start, count: Math.min(per, arena.size - start) });
      return out;
    });
  }

  /**
   * Frees the moments and the arenas' own handles. Parameters stay views of their arena (it lives as
   * long as they do); a parameter holding a gradient keeps it (its slot becomes an ordinary gradient).
   */
  dispose(): void {
    this.params.forEach((p, k) => {
      const slot = this.slots[k];
      if (p.gradSlot === slot) p.gradSlot = null;
      if (p.grad !== slot) slot.dispose();
      this.m[k].dispose();
      this.v[k].dispose();
    });
    for (const arena of this.arenas) for (const t of [arena.param, arena.grad, arena.m, arena.v]) t.dispose();
  }
}
