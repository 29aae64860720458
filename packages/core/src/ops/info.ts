/**
 * The shape of an op's registry entry ({@link OpInfo}): each op file ends with one per exported op,
 * and one generic suite (`packages/core/test/ops.test.ts`, through `@scratchgpt/core/testing`) checks
 * every entry: forward against the float64 reference on every sample, backward against finite
 * differences of that reference, no leaks, no new pipelines for new shapes, and dtype handling.
 * Entries are plain data and functions (nothing runs when an op file loads).
 */
import type { DType, Shape, Tensor } from '../engine/tensor';

/** |actual − expected| ≤ atol + rtol·|expected|, elementwise. */
export interface Tolerance {
  rtol?: number;
  atol?: number;
}

/** One set of inputs of an op. */
export interface OpSample<A = undefined> {
  /** Input shapes, in call order. Include odd sizes: 1, primes, non-multiples of tile sizes. */
  shapes: readonly Shape[];
  /** The op's other arguments (axis, options); passed to `run`, `ref` and `data`. */
  args?: A;
  /** Check the forward only (too large for finite differences). */
  forwardOnly?: boolean;
  /** Input range of this sample (default: the entry's `domain`). */
  domain?: readonly [number, number];
  /** Input dtypes of this sample (default: the entry's `dtypes`). */
  dtypes?: readonly DType[];
}

/** A float64 reference result: the flat data, or the data with the output's shape. */
export type RefResult = ArrayLike<number> | { data: ArrayLike<number>; shape: readonly number[] };

/** What the generic suite needs to know about one op. */
export interface OpInfo<A = undefined> {
  /** Name of the exported function the entry checks. */
  name: string;
  /** Inputs to check on (at least two). */
  samples: readonly OpSample<A>[];
  /** Calls the op; returns one tensor (an op with several outputs disposes or combines the others). */
  run: (inputs: Tensor[], args: A) => Tensor;
  /** float64 reference over flat row-major inputs. */
  ref: (inputs: Float64Array[], shapes: readonly Shape[], args: A) => RefResult;
  /** Forward tolerance (default rtol 1e-5, atol 1e-6). */
  tol?: Tolerance;
  /** Tolerance of the gradients against finite differences (default rtol 1e-3, atol 1e-4). */
  gradTol?: Tolerance;
  /** Uniform input range (default [-1, 1]). */
  domain?: readonly [number, number];
  /** Input dtypes (default f32 for every input). */
  dtypes?: readonly DType[];
  /**
   * Input data where the default does not fit (ids, targets, masks, values away from a kink); return
   * undefined for the default: uniform in the domain for f32, any 32-bit value for i32 and u32.
   * `random(n, low, high)` is seeded per sample and input; `dtype` is the input's dtype.
   */
  data?: (
    input: number,
    shapes: readonly Shape[],
    args: A,
    random: (n: number, low?: number, high?: number) => Float32Array,
    dtype: DType,
  ) => ArrayLike<number> | undefined;
  /** Which inputs receive gradients (default: every f32 input). All false: the op records no gradient. */
  differentiable?: readonly boolean[];
  /**
   * dtype handling: `'any'` for ops that move raw 32-bit words whatever the dtype (checked exactly on
   * i32 and u32 data, f32 inputs replaced), otherwise a dtype that `input` (default 0) must not have: the op throws an error with
   * code `dtype` that names it.
   */
  dtype: 'any' | { reject: DType; input?: number };
  /** `'any'` ops: the samples checked on i32 and u32 data (default: every sample). */
  intSamples?: readonly number[];
  /**
   * Indices of samples that run on the same compiled pipelines: once the first has run (forward and
   * backward), the others compile nothing. Default: every sample.
   */
  reuse?: readonly number[];
}

/** An entry of any op (the registry's element type). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyOpInfo = OpInfo<any>;
