/**
 * Gradient checks. {@link checkGradients} compares an op's GPU backward with central finite
 * differences of its float64 reference (how every built-in op is tested); {@link gradcheck} needs no
 * reference: it differentiates the GPU op itself numerically, like `torch.autograd.gradcheck`, for
 * ops made with `defineOp`. Neither depends on a test framework: they throw a `ScratchGPTError` with
 * code `check` (or return a report).
 */
import { backward } from '../autograd/backward';
import { ScratchGPTError } from '../engine/errors';
import { noGrad } from '../engine/graph';
import { scope } from '../engine/scope';
import { fmt, sameShape, sizeOf, type DType, type Shape, type Tensor } from '../engine/tensor';
import { fromArray, seededRandom } from '../ops/creation';
import { assertClose, compareClose } from './compare';

/** `n` seeded uniform values in [low, high), rounded to f32. */
export function randomData(n: number, seed: number, low = -1, high = 1): Float32Array {
  const r = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = low + (high - low) * r();
  return out;
}

/**
 * Gradients of L(x) = Σ ref(x)·upstream with respect to each input, by central differences in
 * float64. `ref` maps float64 inputs to a flat float64 output.
 */
export function numericGrads(
  ref: (inputs: Float64Array[]) => ArrayLike<number>,
  inputs: readonly ArrayLike<number>[],
  upstream: ArrayLike<number>,
  eps = 1e-6,
): Float64Array[] {
  const xs = inputs.map((x) => Float64Array.from(x));
  const loss = () => {
    const y = ref(xs);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * upstream[i];
    return s;
  };
  return xs.map((x) => {
    const g = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      x[i] = v + eps;
      const up = loss();
      x[i] = v - eps;
      const down = loss();
      x[i] = v;
      g[i] = (up - down) / (2 * eps);
    }
    return g;
  });
}

/** Options of {@link checkGradients}. */
export interface CheckGradientsOptions {
  /** Names the check in failure messages. */
  label: string;
  /** Input shapes. */
  shapes: readonly Shape[];
  /** Builds the output from GPU tensors. */
  gpu: (inputs: Tensor[]) => Tensor;
  /** The same from float64 arrays (flat output). */
  ref: (inputs: Float64Array[]) => ArrayLike<number>;
  /** Seed of the random inputs and upstream gradient (default 1). */
  seed?: number;
  /** Range of the random inputs (default [-1, 1)). */
  low?: number;
  high?: number;
  /** Tolerance of the gradients (default rtol 1e-3, atol 1e-4). */
  rtol?: number;
  atol?: number;
  /** Input data (e.g. ids) where given; uniform random elsewhere. */
  data?: readonly (ArrayLike<number> | undefined)[];
  /** Indices of inputs passed but not differentiated (e.g. integer ids, masks). */
  noGrad?: readonly number[];
  /** Input dtypes (default f32). Only f32 inputs are differentiated. */
  dtypes?: readonly DType[];
}

/**
 * Checks an op's GPU backward against finite differences of its float64 reference: runs `gpu` on
 * random inputs, backpropagates a random upstream gradient, and compares every input's gradient.
 * Throws (code `check`) on the first mismatch; frees everything it allocates either way.
 * @example
 * ```ts
 * await checkGradients({ label: 'softmax', shapes: [[3, 5]], gpu: ([x]) => softmax(x), ref: ([x]) => softmaxRef(x, 5) });
 * ```
 */
export async function checkGradients(options: CheckGradientsOptions): Promise<void> {
  const { label, shapes, seed = 1, low = -1, high = 1, rtol = 1e-3, atol = 1e-4 } = options;
  const datas = shapes.map((shape, k) => options.data?.[k] ?? randomData(sizeOf(shape), seed + k * 101, low, high));
  const owned: Tensor[] = [];
  try {
    const tensors = shapes.map((shape, k) => {
      const dtype = options.dtypes?.[k] ?? 'f32';
      const t = fromArray(datas[k], shape, { dtype }) as Tensor;
      owned.push(t);
      if (!options.noGrad?.includes(k) && dtype === 'f32') t.requireGrad();
      return t;
    });
    const out = options.gpu(tensors);
    owned.push(out);
    const upstreamData = randomData(out.size, seed + 7, -1, 1);
    const upstream = fromArray(upstreamData, out.shape);
    owned.push(upstream);
    backward(out, upstream);
    const numeric = numericGrads(options.ref, datas, upstreamData);
    for (let k = 0; k < tensors.length; k++) {
      const t = tensors[k];
      if (!t.requiresGrad) continue;
      if (!t.grad) throw new ScratchGPTError('check', `${label}: input ${k} has no gradient`);
      if (!sameShape(t.grad.shape, t.shape)) {
        throw new ScratchGPTError('check', `${label}: gradient ${k} has shape ${fmt(t.grad.shape)} but its input ${fmt(t.shape)}`);
      }
      assertClose(await t.grad.toArray(), numeric[k], { rtol, atol, label: `${label} d/dinput${k}` });
    }
  } finally {
    for (const t of owned) {
      t.zeroGrad();
      t.dispose();
    }
  }
}

/** Options of {@link gradcheck}. */
export interface GradcheckOptions {
  /** Finite-difference step (default 1e-3: the op runs in f32). */
  eps?: number;
  /** Tolerance of analytic against numeric gradients (default rtol 1e-2, atol 1e-3). */
  rtol?: number;
  atol?: number;
  /** Seed of the upstream gradient (default 1). */
  seed?: number;
  /** Throw (code `check`) when a gradient differs, like `torch.autograd.gradcheck` (default true); else only report. */
  throwOnFailure?: boolean;
}

/** One checked input of {@link gradcheck}. */
export interface GradcheckInput {
  /** Position in the inputs. */
  index: number;
  /** The gradient the op's backward computed. */
  analytic: Float32Array;
  /** Central differences of the GPU forward. */
  numeric: Float64Array;
  /** Largest |analytic − numeric|. */
  maxAbsError: number;
  /** Empty when within the tolerance. */
  message: string;
}

/** The outcome of {@link gradcheck}. */
export interface GradcheckReport {
  ok: boolean;
  /** The inputs that require grad, in order. */
  inputs: GradcheckInput[];
}

/**
 * Checks a differentiable op's backward against central finite differences of its own forward,
 * like `torch.autograd.gradcheck`: for every input that requires grad, each element is nudged by ±eps
 * and the op rerun (without recording), and d/dx Σ op(x)·upstream is compared with what backward
 * gives for a random `upstream`. The forward runs in f32, so use small inputs (each element costs two
 * forward passes) with values where the op is smooth; the defaults suit values of order 1. The inputs
 * are not modified (their `.grad` neither); everything allocated is freed.
 * @example
 * ```ts
 * import { gradcheck } from '@scratchgpt/core/testing';
 * const x = randn([37]).requireGrad();
 * await gradcheck((inputs) => silu(inputs), [x]); // throws if the WGSL backward disagrees
 * ```
 */
export async function gradcheck(op: (inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], options: GradcheckOptions = {}): Promise<GradcheckReport> {
  const { eps = 1e-3, rtol = 1e-2, atol = 1e-3, seed = 1, throwOnFailure = true } = options;
  const checked = inputs.map((t, k) => (t.requiresGrad ? k : -1)).filter((k) => k >= 0);
  if (checked.length === 0) throw new ScratchGPTError('value', 'scratchgpt: gradcheck: no input requires grad (call requireGrad() on the ones to check)');
  const datas = await Promise.all(inputs.map((t) => t.toArray()));
  // Analytic: backward through fresh leaves that share the inputs' data (the inputs' own .grad stays as is).
  const leaves = inputs.map((t) => t.detach().requireGrad(t.requiresGrad));
  let upstreamData: ArrayLike<number> = new Float32Array(0);
  const analytic: Float32Array[] = [];
  try {
    const out = op(leaves);
    upstreamData = randomData(out.size, seed + 7, -1, 1);
    const upstream = fromArray(upstreamData, out.shape);
    try {
      backward(out, upstream);
    } finally {
      out.dispose();
      upstream.dispose();
    }
    for (const k of checked) {
      const grad = leaves[k].grad;
      if (!grad) throw new ScratchGPTError('check', `scratchgpt: gradcheck: input ${k} received no gradient`);
      analytic[k] = (await grad.toArray()) as Float32Array;
    }
  } finally {
    for (const t of leaves) {
      t.zeroGrad();
      t.dispose();
    }
  }
  // Numeric: L(x ± eps·e_i) from the GPU forward, summed in float64.
  const loss = async (k: number, data: ArrayLike<number>): Promise<number> => {
    const ys = await scope(async () => {
      const args = inputs.map((t, j) => (j === k ? fromArray(data, t.shape, { dtype: t.dtype }) : t.detach()));
      return noGrad(() => op(args)).toArray();
    });
    let s = 0;
    for (let i = 0; i < ys.length; i++) s += ys[i] * upstreamData[i];
    return s;
  };
  const report: GradcheckReport = { ok: true, inputs: [] };
  for (const k of checked) {
    const x = Float32Array.from(datas[k]);
    const numeric = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      x[i] = v + eps;
      const hi = x[i];
      const up = await loss(k, x);
      x[i] = v - eps;
      const lo = x[i];
      const down = await loss(k, x);
      x[i] = v;
      numeric[i] = (up - down) / (hi - lo); // the f32-rounded step actually taken
    }
    const close = compareClose(analytic[k], numeric, { rtol, atol, label: `scratchgpt: gradcheck: input ${k}` });
    report.inputs.push({ index: k, analytic: analytic[k], numeric, maxAbsError: close.maxAbsError, message: close.message });
    if (!close.ok) report.ok = false;
  }
  if (!report.ok && throwOnFailure) throw new ScratchGPTError('check', report.inputs.map((r) => r.message).filter(Boolean).join('\n'));
  return report;
}
