/**
 * Uniform blocks: packed by name from a kernel's parsed `Params` layout ({@link packParams}, what
 * `launch` uses), or built field by field in declaration order ({@link Uniforms}, for `dispatch`).
 */
import { ScratchGPTError } from './errors';
import type { ParamField, ParamsLayout } from './wgsl';

/** Largest tensor rank supported by the generic (shape-in-uniforms) kernels. */
export const MAX_RANK = 8;

/** A value for one uniform field: a scalar (booleans are 1/0), or the elements of a vector or array (zero-padded). */
export type ParamValue = number | boolean | readonly number[];

function put(view: DataView, field: ParamField, at: number, value: number, where: () => string): void {
  if (field.scalar === 'f32') {
    view.setFloat32(at, value, true);
    return;
  }
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
    throw new ScratchGPTError('value', `scratchgpt: ${where()}: param '${field.name}' (${field.type}) must be an integer, got ${value}`);
  }
  if (field.scalar === 'i32') view.setInt32(at, value, true);
  else view.setUint32(at, value >>> 0, true);
}

/**
 * Packs named values into a uniform block laid out as `layout`; fields not given (and `_pad…`
 * fields) are zero. Names are checked by the caller (`launch`).
 */
export function packParams(layout: ParamsLayout, values: Readonly<Record<string, ParamValue>>, where: () => string): ArrayBuffer {
  const buffer = new ArrayBuffer(layout.size);
  const view = new DataView(buffer);
  for (const field of layout.fields) {
    const value = values[field.name];
    if (value === undefined) continue;
    if (typeof value === 'number' || typeof value === 'boolean') {
      if (field.count !== 1) throw new ScratchGPTError('value', `scratchgpt: ${where()}: param '${field.name}' is ${field.type}: pass an array of up to ${field.count} numbers`);
      put(view, field, field.offsets[0], Number(value), where);
      continue;
    }
    if (value.length > field.count) {
      throw new ScratchGPTError('limit', `scratchgpt: ${where()}: param '${field.name}' (${field.type}) holds at most ${field.count} values, got ${value.length}`);
    }
    if (field.count === 1) throw new ScratchGPTError('value', `scratchgpt: ${where()}: param '${field.name}' is a scalar ${field.type}, got an array`);
    for (let i = 0; i < value.length; i++) put(view, field, field.offsets[i], value[i], where);
  }
  return buffer;
}

type Field = { kind: 'u32' | 'i32' | 'f32'; value: number };

/**
 * Builds a uniform block in declaration order with WGSL layout rules: scalars are 4-byte aligned,
 * `vec4`s and arrays of `vec4` 16-byte aligned, the struct padded to 16 bytes. Built-in ops pass
 * named `params` to `launch` instead; this is for `dispatch` with hand-written kernels.
 * @example
 * ```ts
 * new Uniforms().u32(n).f32(scale).dims(t.shape) // struct { n: u32, scale: f32, shape: array<vec4u, 2> }
 * ```
 */
export class Uniforms {
  private fields: Field[] = [];

  u32(...values: number[]): this {
    for (const value of values) this.fields.push({ kind: 'u32', value });
    return this;
  }

  i32(...values: number[]): this {
    for (const value of values) this.fields.push({ kind: 'i32', value });
    return this;
  }

  f32(...values: number[]): this {
    for (const value of values) this.fields.push({ kind: 'f32', value });
    return this;
  }

  /** Pads to a 16-byte boundary (start of a vec4 or array of vec4). */
  align16(): this {
    while (this.fields.length % 4 !== 0) this.fields.push({ kind: 'u32', value: 0 });
    return this;
  }

  /** An `array<vec4<u32>, MAX_RANK / 4>` holding `values` (zero-padded), 16-byte aligned. */
  dims(values: readonly number[], fill = 0): this {
    if (values.length > MAX_RANK) throw new ScratchGPTError('limit', `scratchgpt: rank ${values.length} exceeds the maximum of ${MAX_RANK}`);
    this.align16();
    for (let i = 0; i < MAX_RANK; i++) this.fields.push({ kind: 'u32', value: i < values.length ? values[i] : fill });
    return this;
  }

  toArrayBuffer(): ArrayBuffer {
    const words = Math.max(4, Math.ceil(this.fields.length / 4) * 4);
    const buffer = new ArrayBuffer(words * 4);
    const view = new DataView(buffer);
    this.fields.forEach((field, i) => {
      if (field.kind === 'f32') view.setFloat32(i * 4, field.value, true);
      else if (field.kind === 'i32') view.setInt32(i * 4, field.value, true);
      else view.setUint32(i * 4, field.value >>> 0, true);
    });
    return buffer;
  }
}
