/**
 * The generic checks run on every op registry entry ({@link OpInfo}, see `ops/info.ts`): each
 * function throws a `ScratchGPTError` with code `check` on failure and frees what it allocates.
 * `packages/core/test/ops.test.ts` runs them on each entry of {@link OP_INFOS}, on each adapter.
 */
import { backward } from '../autograd/backward';
import { ScratchGPTError } from '../engine/errors';
import { pipelineCount } from '../engine/kernel';
import { memory, type MemoryInfo } from '../engine/memory';
import { fmt, sameShape, sizeOf, type DType, type Tensor } from '../engine/tensor';
import { fromArray } from '../ops/creation';
import type { AnyOpInfo, OpSample, RefResult } from '../ops/info';
import { assertClose } from './compare';
import { checkGradients, randomData } from './gradients';

/** Whether any input of the entry receives a gradient. */
export function isDifferentiable(info: AnyOpInfo): boolean {
  return info.samples[0].shapes.some((_, k) => differentiable(info, k));
}

function differentiable(info: AnyOpInfo, k: number): boolean {
  return info.differentiable?.[k] ?? (info.dtypes?.[k] ?? 'f32') === 'f32';
}

function fail(message: string): never {
  throw new ScratchGPTError('check', message);
}

function label(info: AnyOpInfo, i: number): string {
  const sample = info.samples[i];
  const args = sample.args === undefined ? '' : ` ${JSON.stringify(sample.args)}`;
  return `${info.name} sample ${i} (${sample.shapes.map((s) => fmt(s)).join(', ')}${args})`;
}

/** Input data of sample `i` (seeded per sample and input) for input dtypes `dtypes`. */
function sampleData(info: AnyOpInfo, i: number, dtypes: readonly DType[]): ArrayLike<number>[] {
  const sample: OpSample<unknown> = info.samples[i];
  const [low, high] = sample.domain ?? info.domain ?? [-1, 1];
  return sample.shapes.map((shape, k) => {
    const seed = 1000 + 17 * i + 101 * k;
    const random = (n: number, lo = low, hi = high) => randomData(n, seed, lo, hi);
    const given = info.data?.(k, sample.shapes, sample.args, random, dtypes[k]);
    if (given) return given;
    if (dtypes[k] === 'f32') return random(sizeOf(shape));
    // Integer inputs: any 32-bit pattern (raw words must survive the op).
    const words = Uint32Array.from(randomData(sizeOf(shape), seed, 0, 1), (v) => Math.floor(v * 2 ** 32));
    return dtypes[k] === 'i32' ? new Int32Array(words.buffer) : words;
  });
}

function dtypesOf(info: AnyOpInfo, i: number): DType[] {
  const sample: OpSample<unknown> = info.samples[i];
  return sample.shapes.map((_, k) => sample.dtypes?.[k] ?? info.dtypes?.[k] ?? 'f32');
}

function refData(result: RefResult): { data: ArrayLike<number>; shape: readonly number[] | null } {
  return 'shape' in result && 'data' in result ? { data: result.data, shape: result.shape } : { data: result as ArrayLike<number>, shape: null };
}

function upload(info: AnyOpInfo, i: number, datas: ArrayLike<number>[], dtypes: readonly DType[], withGrad: boolean): Tensor[] {
  return info.samples[i].shapes.map((shape, k) => {
    const t = fromArray(datas[k], shape, { dtype: dtypes[k] }) as Tensor;
    if (withGrad && dtypes[k] === 'f32' && differentiable(info, k)) t.requireGrad();
    return t;
  });
}

function free(tensors: Tensor[]): void {
  for (const t of tensors) {
    t.zeroGrad();
    t.dispose();
  }
}

/** Runs sample `i` and compares it with the float64 reference (exactly for integer outputs); returns the output dtype. */
async function forwardOne(info: AnyOpInfo, i: number, dtypes: readonly DType[], tol: { rtol?: number; atol?: number }): Promise<DType> {
  const sample = info.samples[i];
  const datas = sampleData(info, i, dtypes);
  const inputs = upload(info, i, datas, dtypes, false);
  const owned = [...inputs];
  try {
    const out = info.run(inputs, sample.args);
    owned.push(out);
    const expected = refData(info.ref(datas.map((d) => Float64Array.from(d)), sample.shapes, sample.args));
    if (expected.shape && !sameShape(out.shape, expected.shape)) fail(`${label(info, i)}: output shape ${fmt(out.shape)}, expected ${fmt(expected.shape)}`);
    if (out.size !== expected.data.length) fail(`${label(info, i)}: ${out.size} output elements, expected ${expected.data.length}`);
    const exact = out.dtype !== 'f32';
    assertClose(await out.toArray(), expected.data, { ...(exact ? { rtol: 0, atol: 0 } : tol), label: label(info, i) });
    return out.dtype;
  } finally {
    free(owned);
  }
}

/** Forward against the float64 reference on every sample. */
export async function checkForward(info: AnyOpInfo): Promise<void> {
  for (let i = 0; i < info.samples.length; i++) await forwardOne(info, i, dtypesOf(info, i), info.tol ?? {});
}

/**
 * Backward against central finite differences of the reference on every sample small enough
 * (`forwardOnly` unset); an op without differentiable inputs must record no graph.
 */
export async function checkBackward(info: AnyOpInfo): Promise<void> {
  if (!isDifferentiable(info)) {
    const dtypes = dtypesOf(info, 0);
    const inputs = upload(info, 0, sampleData(info, 0, dtypes), dtypes, false);
    for (const t of inputs) if (t.dtype === 'f32') t.requireGrad();
    const out = info.run(inputs, info.samples[0].args);
    const recorded = out.requiresGrad || out.gradNode !== null;
    free([...inputs, out]);
    if (recorded) fail(`${info.name}: records a gradient, but its entry lists no differentiable input`);
    return;
  }
  const checked = info.samples.filter((s) => !s.forwardOnly).length;
  if (checked === 0) fail(`${info.name}: every sample is forwardOnly; give the gradient check a small one`);
  for (let i = 0; i < info.samples.length; i++) {
    const sample = info.samples[i];
    if (sample.forwardOnly) continue;
    const dtypes = dtypesOf(info, i);
    const datas = sampleData(info, i, dtypes);
    await checkGradients({
      label: label(info, i),
      shapes: sample.shapes,
      data: datas,
      dtypes,
      noGrad: sample.shapes.map((_, k) => k).filter((k) => !differentiable(info, k)),
      gpu: (inputs) => info.run(inputs, sample.args),
      ref: (xs) => refData(info.ref(xs, sample.shapes, sample.args)).data,
      seed: 1 + i,
      rtol: info.gradTol?.rtol,
      atol: info.gradTol?.atol,
    });
  }
}

/** Forward and backward of sample `i` with a random upstream gradient; frees everything. */
function runAndFree(info: AnyOpInfo, i: number): void {
  const dtypes = dtypesOf(info, i);
  const inputs = upload(info, i, sampleData(info, i, dtypes), dtypes, true);
  const owned = [...inputs];
  try {
    const out = info.run(inputs, info.samples[i].args);
    owned.push(out);
    if (out.requiresGrad) {
      const upstream = fromArray(randomData(out.size, 7 + i), out.shape);
      owned.push(upstream);
      backward(out, upstream);
    }
  } finally {
    free(owned);
  }
}

function leaked(before: MemoryInfo, after: MemoryInfo): string | null {
  const diffs = (['liveTensors', 'liveBuffers', 'liveBytes'] as const)
    .filter((key) => after[key] !== before[key])
    .map((key) => `${key} ${before[key]} → ${after[key]}`);
  return diffs.length > 0 ? diffs.join(', ') : null;
}

/** Forward and backward on the first and last samples leave `memory()` as it was. */
export async function checkFrees(info: AnyOpInfo): Promise<void> {
  for (const i of new Set([0, info.samples.length - 1])) {
    const before = memory();
    runAndFree(info, i);
    const diff = leaked(before, memory());
    if (diff) fail(`${label(info, i)}: forward and backward leave tensors live: ${diff}`);
  }
}

/** After the first `reuse` sample has run, the others (other shapes) compile no pipeline. */
export async function checkNoNewPipelines(info: AnyOpInfo): Promise<void> {
  const reuse = info.reuse ?? info.samples.map((_, i) => i);
  if (reuse.length < 2) fail(`${info.name}: reuse needs at least two samples`);
  runAndFree(info, reuse[0]);
  const count = pipelineCount();
  for (const i of reuse.slice(1)) {
    runAndFree(info, i);
    if (pipelineCount() !== count) fail(`${label(info, i)}: compiled ${pipelineCount() - count} new pipeline(s) after sample ${reuse[0]}`);
  }
}

/**
 * dtype handling: an `'any'` op gives exact results on i32 and u32 data (its f32 inputs replaced);
 * otherwise a wrong dtype on the first sample throws code `dtype` naming the op, and frees what it
 * allocated.
 */
export async function checkDTypes(info: AnyOpInfo): Promise<void> {
  const dtypes = dtypesOf(info, 0);
  if (info.dtype === 'any') {
    for (const i of info.intSamples ?? info.samples.map((_, j) => j)) {
      for (const int of ['i32', 'u32'] as const) {
        const dtype = await forwardOne(info, i, dtypesOf(info, i).map((d) => (d === 'f32' ? int : d)), { rtol: 0, atol: 0 });
        if (dtype !== int) fail(`${label(info, i)}: ${int} inputs gave a ${dtype} output`);
      }
    }
    return;
  }
  const { reject, input = 0 } = info.dtype;
  const wrong = dtypes.map((d, k) => (k === input ? reject : d));
  const before = memory();
  const inputs = upload(info, 0, sampleData(info, 0, wrong), wrong, false);
  let error: unknown = null;
  try {
    info.run(inputs, info.samples[0].args).dispose();
  } catch (err) {
    error = err;
  }
  free(inputs);
  if (!error) fail(`${info.name}: accepted a ${reject} tensor as input ${input}`);
  if (!(error instanceof ScratchGPTError) || error.code !== 'dtype' || !error.message.includes(info.name)) {
    fail(`${info.name}: a ${reject} input ${input} should throw a ScratchGPTError with code 'dtype' naming '${info.name}', got: ${String(error)}`);
  }
  const diff = leaked(before, memory());
  if (diff) fail(`${info.name}: the failed call left tensors live: ${diff}`);
}
