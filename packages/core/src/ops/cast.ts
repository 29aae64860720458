/**
 * Conversion between f32 and f16 storage (shaders/cast.wgsl): `cast(x, 'f16')` rounds to the nearest
 * half (ties to even; beyond ±65504 → ±Infinity), `cast(x, 'f32')` widens exactly. Runs on every
 * adapter (halves are packed two per 32-bit word). Of the other ops, only `attention` reads and writes
 * f16 tensors (f32 arithmetic inside; needs the adapter's `shader-f16`: see `hasF16()`), e.g. for an
 * f16 KV cache; the row ops' f16 kernels exist (ops/variants.ts) but their ops accept f32 only so far.
 * f16 tensors carry no gradients: casting to f16 cuts the graph, like `detach()`. `castInto` writes
 * f32 values as halves into part of an existing f16 tensor (new rows of an f16 KV cache).
 */
import source from '../../../../shaders/cast.wgsl';
import { gpu } from '../engine/device';
import { ScratchGPTError } from '../engine/errors';
import { record } from '../engine/graph';
import { chunkElements, defineKernel, launch } from '../engine/kernel';
import { expectDType, Tensor, type DType } from '../engine/tensor';
import { roundToHalf } from '../engine/half';
import type { OpInfo } from './info';
import { commonWgsl } from './shared';

const kernel = defineKernel('cast', source, { with: [commonWgsl] });

/** Float dtypes `cast` converts between. */
export type FloatDType = 'f32' | 'f16';

/**
 * `x` converted to `dtype` (`'f16'` or `'f32'`); the same tensor's data in a new tensor when it
 * already has that dtype. The gradient of an f16 → f32 cast is not recorded (f16 tensors carry none);
 * an f32 → f32 cast passes it through.
 * @example
 * ```ts
 * const cache = cast(keys, 'f16');        // half the memory; attention reads it directly
 * const back = cast(cache, 'f32');        // exact: every half is an f32
 * ```
 */
export function cast(x: Tensor, dtype: FloatDType): Tensor {
  expectDType('cast', x, 'f32', 'f16');
  if (dtype !== 'f32' && dtype !== 'f16') throw new ScratchGPTError('dtype', `scratchgpt: cast: target dtype must be 'f32' or 'f16', got '${String(dtype)}'`);
  if (x.dtype === dtype) {
    const same = x.retainView();
    return dtype === 'f32' ? record(same, 'cast', [x], [], (g) => [() => g.retainView()]) : same;
  }
  const out = Tensor.empty(x.shape, dtype);
  const [wide, halves] = dtype === 'f16' ? [x, out] : [out, x];
  // Ranges start at multiples of 128 elements: 512 bytes of f32 and 256 of f16, both binding-aligned.
  const per = Math.max(128, Math.floor(chunkElements() / 128) * 128);
  for (let start = 0; start < x.size; start += per) {
    const n = Math.min(per, x.size - start);
    launch(kernel, dtype === 'f16' ? 'to_f16' : 'to_f32', {
      params: { n },
      bind: {
        wide: { tensor: wide, offset: start * 4, size: n * 4 },
        halves: { tensor: halves, offset: start * 2, size: Math.ceil(n / 2) * 4 },
      },
      items: Math.ceil(n / 2),
    });
  }
  return out;
}

/** Where {@link castInto} reads and writes (elements; `count` defaults to the rest of `source`). */
export interface CastIntoRange {
  /** First element of `source` to convert (default 0). */
  sourceOffset?: number;
  /** Element of `target` the first converted value goes to (default 0). */
  targetOffset?: number;
  /** Elements to convert (default: `source.size − sourceOffset`). */
  count?: number;
}

/**
 * Writes `count` elements of `source` (f32), rounded to f16 like `cast(x, 'f16')`, into `target`
 * (f16) from element `targetOffset` on, in place: one dispatch (per binding-sized piece), at any
 * element offset, on every adapter; the rest of `target` is left as it was. For appending rows to
 * an f16 KV cache without casting the whole cache. Records no gradient (f16 tensors carry none).
 * @example
 * ```ts
 * const cache = Tensor.empty([1, 1024, 768], 'f16');
 * castInto(newRow, cache, { targetOffset: position * 768 }); // newRow: f32 [1, 1, 768]
 * ```
 */
export function castInto(source: Tensor, target: Tensor, range: CastIntoRange = {}): void {
  expectDType('castInto', source, 'f32');
  if (target.dtype !== 'f16') throw new ScratchGPTError('dtype', `scratchgpt: castInto: target must be an f16 tensor, got ${target.dtype}`);
  const { sourceOffset = 0, targetOffset = 0 } = range;
  const count = range.count ?? source.size - sourceOffset;
  for (const [name, value] of [['sourceOffset', sourceOffset], ['targetOffset', targetOffset], ['count', count]] as const) {
    if (!Number.isInteger(value) || value < 0) throw new ScratchGPTError('range', `scratchgpt: castInto: ${name} must be a non-negative integer, got ${value}`);
  }
  if (sourceOffset + count > source.size || targetOffset + count > target.size) {
    throw new ScratchGPTError('range',
      `scratchgpt: castInto: ${count} elements from source element ${sourceOffset} to target element ${targetOffset} do not fit ` +
        `(source has ${source.size}, target ${target.size})`,
    );
  }
  const align = gpu().limits.minStorageBufferOffsetAlignment; // bytes, at most 256
  // Pieces that fit a binding with up to 256 bytes of alignment slack before them.
  const per = Math.max(128, chunkElements() - 64);
  for (let done = 0; done < count; done += per) {
    const n = Math.min(per, count - done);
    const from = sourceOffset + done;
    const to = targetOffset + done;
    // Bind from the aligned byte at or before each range's first element (its first word for halves).
    const wideStart = Math.floor((from * 4) / align) * align;
    const halvesStart = Math.floor((Math.floor(to / 2) * 4) / align) * align;
    const srcSkip = from - wideStart / 4;
    const dstSkip = to - halvesStart / 2;
    launch(kernel, 'to_f16_at', {
      params: { n, src_skip: srcSkip, dst_skip: dstSkip },
      bind: {
        wide: { tensor: source, offset: wideStart, size: (srcSkip + n) * 4 },
        halves: { tensor: target, offset: halvesStart, size: Math.ceil((dstSkip + n) / 2) * 4 },
      },
      items: Math.ceil(((dstSkip % 2) + n) / 2),
    });
  }
}

/** float64 reference of {@link cast}: the values an f16 tensor holds (or the f32 ones, unchanged). */
export function castRef(x: ArrayLike<number>, dtype: DType): Float64Array {
  return Float64Array.from(x, (v) => (dtype === 'f16' ? roundToHalf(v) : Math.fround(v)));
}

interface CastArgs {
  to: FloatDType;
}

/** Registry entry of cast (see `ops/info.ts`): f32 → f16 (exact bits, ties included), f16 → f32. */
export const castInfo: OpInfo<CastArgs> = {
  name: 'cast',
  samples: [
    ...[[1], [7], [2, 3, 37], [1031]].map((shape) => ({ shapes: [shape], args: { to: 'f16' as const } })),
    ...[[1], [5], [3, 67]].map((shape) => ({ shapes: [shape], args: { to: 'f32' as const }, dtypes: ['f16' as const] })),
  ],
  run: ([x], { to }) => cast(x, to),
  // Inputs of the f16 → f32 samples were rounded to f16 on upload: the reference rounds them too.
  ref: ([x], _shapes, { to }) => castRef(x, 'f16'),
  domain: [-70000, 70000],
  // Values across the f16 range: normal, subnormal (|x| < 6.1e-5), halfway ties, beyond 65504, zeros.
  data: (_k, [shape], _args, random, dtype) => {
    if (dtype === 'i32') return undefined; // the rejected-dtype check: any words
    const n = shape.reduce((a, b) => a * b, 1);
    const u = random(n, 0, 1);
    return Float32Array.from(u, (r, i) => {
      const sign = i % 2 === 0 ? 1 : -1;
      switch (i % 5) {
        case 0: return sign * r * 70000;
        case 1: return sign * r * 1e-4;
        case 2: return sign * (1 + (Math.floor(r * 1024) + 0.5) / 1024); // a tie between two halves
        case 3: return sign * r * 2;
        default: return i % 10 === 4 ? 0 : sign * r * 1e-7;
      }
    });
  },
  differentiable: [false],
  dtype: { reject: 'i32' },
};
