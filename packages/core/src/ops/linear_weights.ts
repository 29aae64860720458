/**
 * How the fused kernels (shaders/linear.wgsl, shaders/qkv.wgsl) read their weights: f32 as vec4s, or
 * f16 as packed halves widened with core WGSL's `unpack2x16float` (every adapter, no shader-f16);
 * the f16-weight twins of those kernels, the weights' bindings and their binding-sized row ranges.
 * @internal
 */
import { ScratchGPTError } from '../engine/errors';
import { chunkElements, type Kernel, type StorageBinding } from '../engine/kernel';
import { fmt, type Tensor } from '../engine/tensor';
import { rowRanges, type RowRange } from './shared';

/**
 * How the fused kernels (shaders/linear.wgsl, shaders/qkv.wgsl) read a weight, appended to their
 * source: `w_word` holds four weights, `w_unpack` widens a word to f32, `w_pick` one weight of it.
 * f32: plain vec4s (the identity: the f32 kernels compute exactly what they did before f16 weights).
 * @internal
 */
export const F32_WEIGHTS = `alias w_word = vec4f;
fn w_unpack(v: vec4f) -> vec4f { return v; }
fn w_pick(v: vec4f, i: u32) -> f32 { return v[i]; }
`;

/** f16: four halves packed two per u32 (core WGSL, no shader-f16 needed), widened exactly to f32. @internal */
export const F16_WEIGHTS = `alias w_word = vec2u;
fn w_unpack(v: vec2u) -> vec4f { return vec4f(unpack2x16float(v.x), unpack2x16float(v.y)); }
fn w_pick(v: vec2u, i: u32) -> f32 { return unpack2x16float(v[i >> 1u])[i & 1u]; }
`;

/**
 * Marks an f16-weight twin's source (on its first line, so compile errors keep the file's line
 * numbers; and so that only the f32 kernel starts with the shader file's text).
 * @internal
 */
export const F16_WEIGHTS_TAG = '/* f16 weights */ ';

const halfWeightTwins = new WeakMap<Kernel, Kernel>();

/** Records `half` as the f16-weight twin of `base` (same bindings, params and overrides). @internal */
export function setHalfWeightTwin(base: Kernel, half: Kernel): void {
  halfWeightTwins.set(base, half);
}

/** `base`, or its f16-weight twin when `weight` is f16. @internal */
export function weightVariant(base: Kernel, weight: Tensor): Kernel {
  if (weight.dtype !== 'f16') return base;
  const twin = halfWeightTwins.get(base);
  if (!twin) throw new ScratchGPTError('state', `scratchgpt: kernel '${base.name}' has no f16-weight twin`);
  return twin;
}

/** The error for a gradient recorded through an f16 weight. @internal */
export function halfWeightGradError(op: string, weight: Tensor): ScratchGPTError {
  return new ScratchGPTError('dtype',
    `scratchgpt: ${op}: f16 weights carry no gradients, but a gradient is being recorded through the f16 weight ${fmt(weight.shape)}: ` +
      "cast the weight to f32 first (GPTModel.castWeights('f32')), or run without gradients (noGrad)",
  );
}

let testBindingElements: number | null = null;

/**
 * @internal Tests only: cut weights into column ranges as if a storage binding held at most `elements`
 * f32 values (null: the device's limit), so that the split runs on small operands.
 */
export function setLinearBindingLimitForTests(elements: number | null): void {
  testBindingElements = elements;
}

/**
 * A weight bound as `array<w_word>` (`range`, or the whole tensor), with a size that is a whole number
 * of 16 bytes (a vec4f, or two vec2u of halves): a trailing partial word would be out of bounds.
 * Buffers are allocated in 256-byte steps.
 * @internal
 */
export function weightBinding(range: StorageBinding): StorageBinding {
  if (!('tensor' in range)) return weightBinding({ tensor: range, offset: 0, size: Math.max(4, range.byteLength) });
  const size = Math.ceil(range.size / 16) * 16;
  return { ...range, size: Math.min(size, range.tensor.buffer.size - range.tensor.byteOffset - range.offset) };
}

/**
 * Binding-sized row ranges of a weight `[rows, width]`: {@link rowRanges} for f32; for f16, ranges
 * bound from multiples of 128 halves (256 bytes, the binding offset alignment), each holding at most
 * a binding's bytes.
 * @internal
 */
export function weightRanges(weight: Tensor, rows: number, width: number): RowRange[] {
  if (weight.dtype !== 'f16') return rowRanges(rows, width, testBindingElements ?? undefined);
  const maxHalves = 2 * (testBindingElements ?? chunkElements());
  const perPass = Math.max(1, Math.floor((maxHalves - 128) / width));
  const out: RowRange[] = [];
  for (let row0 = 0; row0 < rows; row0 += perPass) {
    const count = Math.min(perPass, rows - row0);
    const first = row0 * width;
    const aligned = Math.floor(first / 128) * 128;
    const shift = first - aligned;
    const size = Math.max(4, Math.ceil((shift + count * width) / 2) * 4);
    out.push({ row0, rows: count, shift, bind: (tensor) => ({ tensor, offset: aligned * 2, size }) });
  }
  return out;
}
