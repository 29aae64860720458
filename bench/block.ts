/**
 * One transformer block and one 2-layer MLP, forward + backward (loss = sum of the output), ours vs
 * TensorFlow.js's WebGPU backend on the same GPUDevice in the same process. Both sides get the same
 * weights and input (seeded, copied from the CPU), so the loss, the output and every parameter
 * gradient are compared as well as timed. Timing: median step time after warm-up, each step waiting
 * until the GPU has finished (ours: `sync()`; TF.js: submit its queue, then `onSubmittedWorkDone()`),
 * the two libraries alternating step by step so a busy machine slows both alike.
 *
 * TF.js has no fused attention or GELU: its block uses matMul + additive causal mask + softmax (the
 * standard formulation) and the tanh-approximation GELU written with elementwise ops.
 */
import { fromArray, init, Linear, ReLU, scope, Sequential, sum, sync, type AnyModule, type Gpu, type Module, type Tensor } from '../packages/core/src/node';
import { seededRandom } from '../packages/core/src/ops/creation';
import { gptConfig } from '../packages/gpt/src/config';
import { TransformerBlock } from '../packages/gpt/src/model';
import { median, table } from './run';
import { tfjsDone, withTfjs, type Tf } from './tfjs';

type TfTensor = ReturnType<Tf['tensor']>;
type TfVariable = ReturnType<Tf['variable']>;

/** Seeded uniform [lo, hi) data (mulberry32), identical for both libraries. */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n }, () => lo + random() * (hi - lo));
}

/** Row-major transpose of a `[rows, cols]` matrix. */
export function transpose2d(data: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/**
 * Our parameters in TF.js's natural layout: a Linear's `[out, in]` weight becomes an `[in, out]`
 * variable (TF.js computes x·W), everything else is copied as is. Names are kept (prefixed, since TF.js
 * variable names are global).
 */
export class TfParams {
  readonly vars = new Map<string, TfVariable>();
  constructor(
    private readonly tf: Tf,
    private readonly prefix: string,
  ) {}

  /** Adds `name` from our layout (`shape`, data); 2-D `.weight`s of Linears are transposed. */
  add(name: string, data: Float32Array, shape: readonly number[], linear: boolean): void {
    const value = linear ? this.tf.tensor2d(transpose2d(data, shape[0], shape[1]), [shape[1], shape[0]]) : this.tf.tensor(data, [...shape]);
    this.vars.set(name, this.tf.variable(value, true, `${this.prefix}/${name}`));
    value.dispose();
  }

  get(name: string): TfVariable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`bench: no TF.js variable '${name}'`);
    return v;
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

/** Whether our parameter `name` of shape `shape` is a Linear weight (`[out, in]`, transposed for TF.js). */
export const isLinearWeight = (name: string, shape: readonly number[]) =>
  shape.length === 2 && name.endsWith('.weight') && !/(^|\.)(tok_emb|pos_emb)\./.test(name);

/** Copies every parameter of `module` into TF.js variables (one readback per parameter). */
export async function tfParamsFrom(tf: Tf, prefix: string, module: AnyModule): Promise<TfParams> {
  const params = new TfParams(tf, prefix);
  for (const [name, t] of module.namedParameters()) params.add(name, (await t.toArray()) as Float32Array, t.shape, isLinearWeight(name, t.shape));
  return params;
}

/** x `[N, in]` · W `[in, out]` + b. */
export function tfLinear(tf: Tf, x: TfTensor, w: TfTensor, b?: TfTensor): TfTensor {
  const y = tf.matMul(x, w);
  return b ? tf.add(y, b) : y;
}

export function tfLayerNorm(tf: Tf, x: TfTensor, g: TfTensor, b: TfTensor, eps = 1e-5): TfTensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b);
}

/** GPT-2's tanh-approximation GELU. */
export function tfGelu(tf: Tf, x: TfTensor): TfTensor {
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(tf.mul(x, x), x))));
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
}

/** Additive causal mask `[T, T]`: 0 on and below the diagonal, −1e9 above. */
export function tfCausalMask(tf: Tf, T: number): TfTensor {
  return tf.tidy(() => tf.mul(tf.sub(tf.linalg.bandPart(tf.ones([T, T]), -1, 0), 1), 1e9));
}

/**
 * Our `TransformerBlock` (pre-LN, no dropout) in TF.js ops. x `[B·T, C]` → `[B·T, C]`; `p` holds the
 * block's parameters under our names (`norm1.weight`, `att.W_query.weight`, ...) after `prefix`.
 */
export function tfBlock(tf: Tf, p: TfParams, prefix: string, x: TfTensor, dims: { B: number; T: number; C: number; H: number }, mask: TfTensor): TfTensor {
  const { B, T, C, H } = dims;
  const D = C / H;
  const v = (name: string) => p.get(prefix + name);
  const opt = (name: string) => p.vars.get(prefix + name);
  const heads = (t: TfTensor) => tf.transpose(tf.reshape(t, [B, T, H, D]), [0, 2, 1, 3]); // [B, H, T, D]
  const h = tfLayerNorm(tf, x, v('norm1.weight'), v('norm1.bias'));
  const q = heads(tfLinear(tf, h, v('att.W_query.weight'), opt('att.W_query.bias')));
  const k = heads(tfLinear(tf, h, v('att.W_key.weight'), opt('att.W_key.bias')));
  const val = heads(tfLinear(tf, h, v('att.W_value.weight'), opt('att.W_value.bias')));
  const att = tf.softmax(tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(D)), mask));
  const ctx = tf.reshape(tf.transpose(tf.matMul(att, val), [0, 2, 1, 3]), [B * T, C]);
  const x1 = tf.add(x, tfLinear(tf, ctx, v('att.out_proj.weight'), v('att.out_proj.bias')));
  const h2 = tfLayerNorm(tf, x1, v('norm2.weight'), v('norm2.bias'));
  const f = tfLinear(tf, tfGelu(tf, tfLinear(tf, h2, v('ff.layers.0.weight'), v('ff.layers.0.bias'))), v('ff.layers.2.weight'), v('ff.layers.2.bias'));
  return tf.add(x1, f);
}

/** One side of a comparison: a timed step (resolves when the GPU is done), a full sample, cleanup. */
interface Side {
  step: () => Promise<void>;
  /** loss, output, and gradients by our parameter name in our layout. */
  sample: () => Promise<{ loss: number; out: Float32Array; grads: Map<string, Float32Array> }>;
  dispose: () => void;
}

interface Case {
  label: string;
  dims: string;
  build: () => Module;
  /** TF.js forward on x `[N, C]` given the copied parameters. */
  tfForward: (tf: Tf, p: TfParams, x: TfTensor, mask: TfTensor | null) => TfTensor;
  /** Input shape on our side (the TF.js side flattens it to `[N, C]`). */
  shape: number[];
  T: number;
}

/** Seeded weights for every parameter: Linear weights/biases ±1/√in, LayerNorm weight 1 ± 0.1, bias ± 0.1. */
function seededState(module: Module): Record<string, Tensor> {
  const state: Record<string, Tensor> = {};
  let seed = 100;
  for (const [name, t] of module.namedParameters()) {
    const inDim = t.rank === 2 ? t.shape[1] : 0;
    const isNorm = /norm\d?\./.test(name); // norm1, norm2, final_norm
    const [lo, hi] = isNorm ? (name.endsWith('weight') ? [0.9, 1.1] : [-0.1, 0.1]) : inDim > 0 ? [-1 / Math.sqrt(inDim), 1 / Math.sqrt(inDim)] : [-0.05, 0.05];
    state[name] = fromArray(uniform(t.size, seed++, lo, hi), t.shape);
  }
  return state;
}

function oursSide(c: Case, x0: Float32Array): Side & { module: Module } {
  const module = c.build();
  const state = seededState(module);
  module.loadStateDict(state);
  for (const t of Object.values(state)) t.dispose();
  const x = fromArray(x0, c.shape);
  const forward = () => {
    const out = module.forward(x);
    const loss = sum(out);
    loss.backward();
    return { loss, out };
  };
  return {
    module,
    step: async () => {
      scope(() => void forward());
      await sync();
      module.zeroGrad();
    },
    sample: async () => {
      const { loss, out } = scope(forward);
      const result = { loss: await loss.item(), out: (await out.toArray()) as Float32Array, grads: new Map<string, Float32Array>() };
      for (const [name, t] of module.namedParameters()) {
        if (!t.grad) throw new Error(`bench: no gradient for ${name}`);
        result.grads.set(name, (await t.grad.toArray()) as Float32Array);
      }
      loss.dispose();
      out.dispose();
      module.zeroGrad();
      return result;
    },
    dispose: () => {
      x.dispose();
      module.dispose();
    },
  };
}

async function tfjsSide(tf: Tf, c: Case, x0: Float32Array, weightsFrom: AnyModule, prefix: string): Promise<Side> {
  const p = await tfParamsFrom(tf, prefix, weightsFrom);
  const C = c.shape[c.shape.length - 1];
  const x = tf.tensor2d(x0, [x0.length / C, C]);
  const mask = c.T > 0 ? tfCausalMask(tf, c.T) : null;
  const names = [...p.vars.keys()];
  const run = () =>
    tf.variableGrads(() => {
      const out = c.tfForward(tf, p, x, mask);
      return tf.sum(out) as ReturnType<Tf['scalar']>;
    }, [...p.vars.values()]);
  return {
    step: async () => {
      const { value, grads } = run();
      await tfjsDone(tf);
      value.dispose();
      tf.dispose(Object.values(grads));
    },
    sample: async () => {
      const out = tf.tidy(() => c.tfForward(tf, p, x, mask));
      const { value, grads } = run();
      const result = { loss: (await value.data())[0], out: (await out.data()) as Float32Array, grads: new Map<string, Float32Array>() };
      for (const name of names) {
        const g = grads[`${prefix}/${name}`];
        const data = (await g.data()) as Float32Array;
        const [rows, cols] = g.shape as number[];
        result.grads.set(name, g.rank === 2 && isLinearWeight(name, [cols, rows]) ? transpose2d(data, rows, cols) : data);
      }
      out.dispose();
      value.dispose();
      tf.dispose(Object.values(grads));
      return result;
    },
    dispose: () => {
      p.dispose();
      x.dispose();
      mask?.dispose();
    },
  };
}

const maxAbs = (a: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
};
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

export interface BlockBenchOptions {
  /** Only the small block and MLP (skip the GPT-2-width block). */
  quick?: boolean;
  /** Timed steps per case and library (after 2 warm-up steps each). Default 10 (5 for the wide block). */
  reps?: number;
  /** Also time TensorFlow.js (default true). */
  tfjs?: boolean;
  log?: (line: string) => void;
}

export interface BlockBenchRow {
  label: string;
  dims: string;
  /** Median ms per forward + backward step. */
  scratchgpt: number;
  tfjs: number | null;
  /** |loss difference|, max |output difference|, worst gradient difference relative to that gradient's max |value|. */
  check: { loss: number; lossRel: number; out: number; gradRel: number; gradName: string } | null;
}

function cases(quick: boolean): Case[] {
  const block = (B: number, T: number, C: number, H: number): Case => ({
    label: `transformer block (NH=${H})`,
    dims: `B=${B} T=${T} C=${C}`,
    build: () => new TransformerBlock(gptConfig('gpt2-small', { embDim: C, nHeads: H, nLayers: 1, contextLength: T, dropRate: 0 })),
    tfForward: (tf, p, x, mask) => tfBlock(tf, p, '', x, { B, T, C, H }, mask!),
    shape: [B, T, C],
    T,
  });
  const mlp = (N: number, C: number): Case => ({
    label: 'MLP Linear→ReLU→Linear',
    dims: `N=${N} ${C}→${4 * C}→${C}`,
    build: () => new Sequential(new Linear(C, 4 * C), new ReLU(), new Linear(4 * C, C)),
    tfForward: (tf, p, x) => tfLinear(tf, tf.relu(tfLinear(tf, x, p.get('0.weight'), p.get('0.bias'))), p.get('2.weight'), p.get('2.bias')),
    shape: [N, C],
    T: 0,
  });
  const list = [block(4, 128, 256, 4), mlp(512, 256)];
  if (!quick) list.push(block(4, 128, 768, 12), mlp(512, 768));
  return list;
}

/**
 * Times forward + backward of each case on both libraries, checks that they agree, and prints
 * `case | sizes | scratchgpt ms | tfjs ms | speed-up | max differences`.
 */
export async function benchBlock(options: BlockBenchOptions = {}): Promise<BlockBenchRow[]> {
  const log = options.log ?? console.log;
  const gpu: Gpu = await init();
  log(`\nforward + backward (loss = sum of outputs), median ms per step, on ${gpu.adapterName} (${gpu.backend})`);
  const rows: BlockBenchRow[] = [];

  const measure = async (tf: Tf | null) => {
    for (const [i, c] of cases(options.quick ?? false).entries()) {
      const x0 = uniform(c.shape.reduce((a, b) => a * b, 1), 7 + i);
      const mine = oursSide(c, x0);
      const sides: Side[] = [mine];
      if (tf) {
        sides.push(await tfjsSide(tf, c, x0, mine.module, `bench-block-${i}`)); // our (seeded) weights, read back
      }
      for (const side of sides) for (let w = 0; w < 2; w++) await side.step();
      const reps = options.reps ?? (c.shape[c.shape.length - 1] > 256 ? 5 : 10);
      const times: number[][] = sides.map(() => []);
      for (let r = 0; r < reps; r++) {
        for (let s = 0; s < sides.length; s++) {
          const start = performance.now();
          await sides[s].step();
          times[s].push(performance.now() - start);
        }
      }
      let check: BlockBenchRow['check'] = null;
      if (sides.length === 2) {
        const [a, b] = [await sides[0].sample(), await sides[1].sample()];
        let gradRel = 0;
        let gradName = '';
        for (const [name, ga] of a.grads) {
          const gb = b.grads.get(name);
          if (!gb) throw new Error(`bench: TF.js has no gradient for ${name}`);
          const rel = maxDiff(ga, gb) / Math.max(maxAbs(ga), 1e-30);
          if (rel >= gradRel) [gradRel, gradName] = [rel, name];
        }
        check = { loss: Math.abs(a.loss - b.loss), lossRel: Math.abs(a.loss - b.loss) / Math.max(Math.abs(a.loss), 1e-30), out: maxDiff(a.out, b.out), gradRel, gradName };
        if (!(check.out < 1e-3 && gradRel < 1e-3)) log(`warning: ${c.label} ${c.dims}: scratchgpt and TF.js disagree (see the table)`);
      }
      for (const side of sides) side.dispose();
      rows.push({ label: c.label, dims: c.dims, scratchgpt: median(times[0]), tfjs: times[1] ? median(times[1]) : null, check });
    }
  };

  if (options.tfjs === false) await measure(null);
  else {
    const result = await withTfjs(gpu, async (tf) => {
      await measure(tf);
      return true;
    });
    if (typeof result === 'string') {
      log(result);
      await measure(null);
    }
  }
  log(
    table(
      ['case', 'sizes', 'scratchgpt ms', 'tfjs ms', 'tfjs/ours', '|Δloss| (rel)', 'max |Δout|', 'worst grad |Δ|/max|g|'],
      rows.map((r) => [
        r.label,
        r.dims,
        r.scratchgpt.toFixed(1),
        r.tfjs?.toFixed(1) ?? '-',
        r.tfjs ? `${(r.tfjs / r.scratchgpt).toFixed(2)}×` : '-',
        r.check ? `${r.check.loss.toExponential(1)} (${r.check.lossRel.toExponential(1)})` : '-',
        r.check ? r.check.out.toExponential(1) : '-',
        r.check ? `${r.check.gradRel.toExponential(1)} (${r.check.gradName})` : '-',
      ]),
    ),
  );
  log('(loss = sum over all outputs; weights and input identical on both sides, seeded; TF.js Linear weights stored transposed, [in, out])');
  return rows;
}
