/**
 * The tensors of a GPT-2 weights file as the layout converters read them: by name, with their shape
 * and dtype checked, keeping track of the ones used so that a leftover part of the model is reported
 * by name instead of silently dropped.
 */
import { ScratchGPTError } from '@scratchgpt/core';
import type { DecodedTensor } from './safetensors';

/** The error every step of GPT-2 weight loading throws. */
export function weightsError(why: string): Error {
  return new ScratchGPTError('shape', `scratchgpt: GPT-2 weights: ${why}`);
}

/** Tensors of a file, tracking which were used so that leftovers can be reported by name. */
export class TensorTable {
  private readonly used = new Set<string>();
  constructor(private readonly tensors: Map<string, DecodedTensor>) {}

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** A floating-point tensor of exactly `shape`; throws naming it when missing or different. */
  get(name: string, shape: number[]): Float32Array {
    const t = this.tensors.get(name);
    if (!t) throw weightsError(`tensor '${name}' is missing`);
    if (t.shape.join() !== shape.join()) throw weightsError(`tensor '${name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    if (!(t.data instanceof Float32Array)) throw weightsError(`tensor '${name}' is ${t.dtype}, expected a floating-point type`);
    this.used.add(name);
    return t.data;
  }

  /** Marks a tensor as deliberately ignored (buffers such as attention masks). */
  ignore(name: string): void {
    this.used.add(name);
  }

  shapeOf(name: string): number[] | undefined {
    return this.tensors.get(name)?.shape;
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  /**
   * Throws naming the first unused tensor within the model's own names (`ours`): a part of the model
   * we would silently drop. Tensors outside them (optimizer state, inputs saved alongside) are ignored.
   */
  checkAllUsed(ours: RegExp, model: string): void {
    const left = this.names().filter((n) => !this.used.has(n) && ours.test(n));
    if (left.length > 0) {
      throw weightsError(`tensor '${left[0]}'${left.length > 1 ? ` (and ${left.length - 1} more)` : ''} has no place in ${model}; remove it (or merge adapters) before loading`);
    }
  }
}

/** Layers of a file: one more than the highest index captured by `pattern` (0 when none matches). */
export function layerCount(names: string[], pattern: RegExp): number {
  let n = 0;
  for (const name of names) {
    const m = pattern.exec(name);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}
