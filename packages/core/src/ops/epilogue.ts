/**
 * The epilogue of a linear layer in one kernel (shaders/epilogue.wgsl): `act(y + bias) + residual`
 * after the matmul `y = x·Wᵀ`, where a bias add, a GELU and a residual add ran as three kernels. The
 * arithmetic is theirs, so results are bitwise the same; it saves two dispatches per layer in
 * training and prefill. Forward, gradient thunks, float64 reference and registry entry.
 */
import source from '../../../../shaders/epilogue.wgsl';
import { ScratchGPTError } from '../engine/errors';
import { record, shared } from '../engine/graph';
import { chunks, defineKernel, launch, range } from '../engine/kernel';
import { expectDType, fmt, sameShape, Tensor } from '../engine/tensor';
import type { OpInfo } from './info';
import { commonWgsl } from './shared';
import { geluGradRef, geluRef } from './unary';

const kernel = defineKernel('epilogue', source, { with: [commonWgsl] });

/** Activations an epilogue can apply (GPT-2's tanh-approximated GELU, or none). */
export type EpilogueActivation = 'gelu' | 'none';

export interface EpilogueOptions {
  /** Added to every row of `y` before the activation: `[cols]`. */
  bias?: Tensor | null;
  /** Applied after the bias (default `'none'`). */
  activation?: EpilogueActivation;
  /** Added after the activation, same shape as `y` (a transformer block's shortcut). */
  residual?: Tensor | null;
}

function check(y: Tensor, bias: Tensor | null, residual: Tensor | null, activation: string): number {
  expectDType('linearEpilogue', y, 'f32');
  if (y.rank < 1) throw new ScratchGPTError('shape', `scratchgpt: linearEpilogue needs y with at least one dimension, got ${fmt(y.shape)}`);
  if (activation !== 'gelu' && activation !== 'none') throw new ScratchGPTError('value', `scratchgpt: linearEpilogue: unknown activation '${activation}' (expected 'gelu' or 'none')`);
  const cols = y.shape[y.rank - 1];
  if (bias) {
    expectDType('linearEpilogue', bias, 'f32');
    if (bias.rank !== 1 || bias.shape[0] !== cols) throw new ScratchGPTError('shape', `scratchgpt: linearEpilogue: bias must have shape [${cols}] for y ${fmt(y.shape)}, got ${fmt(bias.shape)}`);
  }
  if (residual) {
    expectDType('linearEpilogue', residual, 'f32');
    if (!sameShape(residual.shape, y.shape)) throw new ScratchGPTError('shape', `scratchgpt: linearEpilogue: residual must have y's shape ${fmt(y.shape)}, got ${fmt(residual.shape)}`);
  }
  return cols;
}

function run(entry: 'forward' | 'backward', y: Tensor, bias: Tensor | null, residual: Tensor | null, dout: Tensor | null, gelu: boolean, cols: number): Tensor<'f32'> {
  const out = Tensor.empty(y.shape, 'f32');
  const constants = { HAS_BIAS: bias !== null, GELU: gelu, HAS_RES: residual !== null };
  for (const { start, count } of chunks(y.size)) {
    if (count === 0) continue;
    launch(kernel, entry, {
      constants,
      params: { n: count, cols, first: start },
      bind: {
        y: range(y, start, count),
        bias,
        res: residual ? range(residual, start, count) : null,
        out: range(out, start, count),
        dout: dout ? range(dout, start, count) : null,
      },
      items: count,
    });
  }
  return out;
}

/**
 * `act(y + bias) + residual` in one kernel: the end of a linear layer after its matmul. `bias` is
 * `[cols]` (the last dim of `y`), `residual` has `y`'s shape; both are optional.
 * @example
 * ```ts
 * const h = linearEpilogue(matmul(x, w1, { transB: true }), { bias: b1, activation: 'gelu' }); // GELU(x·W1ᵀ + b1)
 * const out = linearEpilogue(matmul(h, w2, { transB: true }), { bias: b2, residual: x });     // x + h·W2ᵀ + b2
 * ```
 */
export function linearEpilogue(y: Tensor, { bias = null, activation = 'none', residual = null }: EpilogueOptions = {}): Tensor<'f32'> {
  const cols = check(y, bias, residual, activation);
  const gelu = activation === 'gelu';
  const out = run('forward', y, bias, residual, null, gelu, cols);
  const inputs = [y, ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  const saved = gelu ? [y, ...(bias ? [bias] : [])] : [];
  return record(out, 'linearEpilogue', inputs, saved, (g, [ys, bs]) => {
    // d/dy and d/dbias are the same tensor (the engine sums the bias's over rows); the residual gets g.
    const pre = shared(() => (gelu ? run('backward', ys, bs ?? null, null, g, true, cols) : g));
    return [() => pre(), ...(bias ? [() => pre()] : []), ...(residual ? [() => g] : [])];
  });
}

/** float64 reference of {@link linearEpilogue} over flat row-major data with rows of `cols`. */
export function linearEpilogueRef(
  y: ArrayLike<number>,
  cols: number,
  { bias, activation = 'none', residual }: { bias?: ArrayLike<number>; activation?: EpilogueActivation; residual?: ArrayLike<number> } = {},
): Float64Array {
  const out = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) {
    let v = y[i] + (bias ? bias[i % cols] : 0);
    if (activation === 'gelu') v = geluRef(v);
    out[i] = v + (residual ? residual[i] : 0);
  }
  return out;
}

/** float64 reference of the epilogue's gradient with respect to `y` (and, summed over rows, `bias`). */
export function linearEpilogueGradRef(y: ArrayLike<number>, cols: number, dout: ArrayLike<number>, bias?: ArrayLike<number>): Float64Array {
  return Float64Array.from(y, (v, i) => dout[i] * geluGradRef(v + (bias ? bias[i % cols] : 0)));
}

interface EpilogueArgs {
  bias: boolean;
  activation: EpilogueActivation;
  residual: boolean;
}

function epilogueSample(shape: number[], args: EpilogueArgs, forwardOnly = false) {
  const cols = shape[shape.length - 1];
  return { shapes: [shape, ...(args.bias ? [[cols]] : []), ...(args.residual ? [shape] : [])], args, forwardOnly };
}

const every: EpilogueArgs[] = [true, false].flatMap((bias) =>
  (['gelu', 'none'] as const).flatMap((activation) => [true, false].map((residual) => ({ bias, activation, residual }))),
);

/** Registry entry of linearEpilogue (see `ops/info.ts`): every combination, odd shapes, a large forward. */
export const linearEpilogueInfo: OpInfo<EpilogueArgs> = {
  name: 'linearEpilogue',
  samples: [
    ...every.map((args) => epilogueSample([3, 7], args)),
    epilogueSample([1], every[0]),
    epilogueSample([2, 5, 13], every[0]),
    epilogueSample([37, 1031], every[0], true),
    epilogueSample([3, 97], { bias: true, activation: 'gelu', residual: false }, true),
  ],
  run: ([y, ...rest], { bias, activation, residual }) => {
    const b = bias ? rest.shift() : null;
    const r = residual ? rest.shift() : null;
    return linearEpilogue(y, { bias: b, activation, residual: r });
  },
  ref: ([y, ...rest], [shape], { bias, activation, residual }) => {
    const b = bias ? rest.shift() : undefined;
    const r = residual ? rest.shift() : undefined;
    return linearEpilogueRef(y, shape[shape.length - 1], { bias: b, activation, residual: r });
  },
  tol: { rtol: 2e-6, atol: 1e-6 },
  domain: [-3, 3],
  dtype: { reject: 'i32' },
  // The pipelines are keyed by the three flags: the samples with bias, GELU and a residual.
  reuse: [0, 8, 9, 10],
};
