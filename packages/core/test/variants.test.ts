/**
 * Every kernel variant the current adapter can run (ops/variants.ts), each forced in turn, against
 * the float64 references of the op registry, and against each other:
 * - row reductions `tree` (shaders/rows.wgsl) and `subgroups` (shaders/rows_subgroups.wgsl) under
 *   softmax, logSoftmax, layerNorm, crossEntropy and sampleLogits: forward, backward (finite
 *   differences), row lengths whose segments are narrower than, as wide as and wider than a subgroup;
 * - attention `rows` (shaders/attention.wgsl) and `flash` (shaders/attention_flash.wgsl), with f32
 *   and f16 storage: causal or not, dropout, T ≠ S, packed heads, KV caches, head dims 1 to 128, T
 *   not a multiple of the flash blocks (BR = 16, BCB = 8).
 * A variant the adapter lacks is checked for its clear `device` error instead. Runs on llvmpipe (the
 * default project: tree, rows, flash, f32, and the errors of the rest) and on Mesa lavapipe (the
 * `lavapipe` project: subgroups and f16 storage, see TESTED); vitest.config.ts. Passes on SwiftShader
 * too (subgroups of 4; SCRATCHGPT_BACKEND=swiftshader), not a project: about a minute there.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  attention,
  backward,
  cast,
  crossEntropy,
  fromArray,
  gpu,
  hasF16,
  hasSubgroups,
  init,
  layerNorm,
  logSoftmax,
  memory,
  reductionVariant,
  sampleLogits,
  setKernelVariants,
  softmax,
  type AttentionOptions,
  type Tensor,
} from '../src/node';
import { FLASH_BYTES } from '../src/ops/attention';
import type { AnyOpInfo, OpSample, Tolerance } from '../src/ops/info';
import { attentionVariant, rowsSubgroupSize, type AttentionVariant, type ReductionVariant } from '../src/ops/variants';
import { attentionInfo } from '../src/ops/attention';
import { crossEntropyInfo } from '../src/ops/crossentropy';
import { layerNormInfo } from '../src/ops/layernorm';
import { attentionRef, castRef, checkBackward, checkForward, OP_INFOS, randomData, samplingDistributionRef } from '../src/testing';
import { expectClose, expectError } from './helpers';

const REDUCTIONS: readonly ReductionVariant[] = ['tree', 'subgroups'];
const ATTENTIONS: readonly AttentionVariant[] = ['rows', 'flash'];

/**
 * The variants this run checks against the references: env SCRATCHGPT_TEST_VARIANTS, a comma-separated
 * subset of tree, subgroups, rows, flash (f32 kernels) and f16 (both attention kernels with f16
 * storage); default all. The `lavapipe` project (vitest.config.ts) leaves out tree and flash: the
 * default project checks the same WGSL on llvmpipe, and their first compile on lavapipe (CI has no
 * shader cache) takes longer than the rest of this file. Agreement between tree and subgroup reductions
 * is checked wherever both can run.
 */
const TESTED: ReadonlySet<string> = (() => {
  const known = [...REDUCTIONS, ...ATTENTIONS, 'f16'];
  const list = (process.env.SCRATCHGPT_TEST_VARIANTS ?? known.join(',')).split(',').map((name) => name.trim());
  const unknown = list.filter((name) => !known.includes(name));
  if (unknown.length > 0) throw new Error(`SCRATCHGPT_TEST_VARIANTS: unknown variant(s) ${unknown.join(', ')} (expected ${known.join(', ')})`);
  return new Set(list);
})();

beforeAll(async () => {
  const backend = process.env.SCRATCHGPT_BACKEND;
  let g;
  try {
    g = await init();
  } catch (err) {
    throw new Error(
      `variants: no adapter for SCRATCHGPT_BACKEND=${backend ?? 'auto'}` +
        (backend === 'lavapipe' ? ': the lavapipe project needs Mesa lavapipe ≥ 24 (package mesa-vulkan-drivers; scripts/setup.sh installs it)' : '') +
        `: ${(err as Error).message}`,
    );
  }
  const info = g.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  console.log(
    `variants on ${g.adapterName} (${g.backend}, ${g.featureLevel}): features [${[...gpu().features].sort().join(', ')}], ` +
      `subgroup sizes ${info.subgroupMinSize}..${info.subgroupMaxSize}, workgroup storage ${gpu().limits.maxComputeWorkgroupStorageSize} B`,
  );
  if (backend === 'lavapipe') {
    // The project exists to run the subgroup and f16 variants: never pass silently on something else.
    if (!/llvmpipe|lavapipe/i.test(`${info.description} ${info.device}`) || !hasF16() || !hasSubgroups()) {
      throw new Error(`variants: SCRATCHGPT_BACKEND=lavapipe gave ${g.adapterName} without shader-f16 and subgroups: install Mesa lavapipe ≥ 24 (scripts/setup.sh)`);
    }
  }
});

afterEach(() => setKernelVariants({}));

function supports(variant: ReductionVariant): boolean {
  return variant === 'tree' || hasSubgroups();
}

/** The registry entry `name`, with its samples followed by `extra` (same run, ref, tolerance and data) or with `extra` only. */
function withSamples(name: string, extra: readonly OpSample<unknown>[], only = false): AnyOpInfo {
  const info = OP_INFOS.find((entry) => entry.name === name);
  if (!info) throw new Error(`no registry entry '${name}'`);
  return { ...info, samples: [...(only ? [] : info.samples), ...extra] };
}

/**
 * Row lengths by segment width (threadsPerRow: ⌈C/32⌉ rounded up to a power of two): 4, 8 (lavapipe's
 * subgroup), 64 and 128 threads; the registry already has 1, 2, 16, 32 and 256. Row counts are primes,
 * so the last workgroup is partly empty.
 */
const ROW_SHAPES = { small: [[3, 97], [5, 250]], long: [[2, 1500], [3, 3001]] } as const;

/** The extra samples of each row op (see ROW_SHAPES). */
const ROW_EXTRAS: Record<string, OpSample<unknown>[]> = {
  ...Object.fromEntries(
    ['softmax', 'logSoftmax'].map((name) => [
      name,
      [...ROW_SHAPES.small.map((s) => ({ shapes: [s] })), ...ROW_SHAPES.long.map((s) => ({ shapes: [s], forwardOnly: true }))],
    ]),
  ),
  layerNorm: [
    ...ROW_SHAPES.small.map(([r, c]) => ({ shapes: [[r, c], [c], [c]], args: { affine: 'both' } })),
    ...ROW_SHAPES.long.map(([r, c]) => ({ shapes: [[r, c], [c], [c]], args: { affine: 'both' }, forwardOnly: true })),
  ],
  crossEntropy: [
    ...ROW_SHAPES.small.map(([r, c]) => ({ shapes: [[r, c], [r]] })),
    ...ROW_SHAPES.long.map(([r, c]) => ({ shapes: [[r, c], [r]], forwardOnly: true })),
  ],
  sampleLogits: [...ROW_SHAPES.small, ...ROW_SHAPES.long, [2, 50257]].map((s) => ({ shapes: [s] })),
};

/** The row ops' registry entries with the extra samples. */
const ROW_INFOS: AnyOpInfo[] = Object.entries(ROW_EXTRAS).map(([name, extra]) => withSamples(name, extra));

describe.each(REDUCTIONS.filter((v) => TESTED.has(v)).map((variant) => ({ variant })))('row reductions: $variant', ({ variant }) => {
  const force = () => setKernelVariants({ subgroups: variant === 'subgroups' });
  for (const info of ROW_INFOS) {
    it(`${info.name}: forward = float64 reference, backward = finite differences (${info.samples.length} samples), or a device error without the feature`, async () => {
      force();
      if (!supports(variant)) {
        // The adapter lacks the feature: forcing it must fail clearly and allocate nothing.
        const sample = info.samples[0];
        const inputs = sample.shapes.map((shape, k) => fromArray(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, { dtype: info.dtypes?.[k] ?? 'f32' }) as Tensor);
        const before = memory().liveTensors;
        expectError(() => info.run(inputs, sample.args), 'device', /subgroup reductions were forced.*no 'subgroups' feature/);
        expect(memory().liveTensors).toBe(before);
        for (const t of inputs) t.dispose();
        return;
      }
      expect(reductionVariant()).toBe(variant);
      await checkForward(info);
      await checkBackward(info);
    });
  }
});

describe('row reductions: subgroups of a size known only at run time', () => {
  // ROWS_SG = 0 (ops/variants.ts rowsSubgroupSize): the path of adapters whose subgroup size varies
  // (subgroupMinSize < subgroupMaxSize), where no segment may skip the workgroup exchange. The adapter
  // here has one size; it is made to report a range.
  it('forward = float64 reference, backward = finite differences (or a device error without subgroups)', async () => {
    setKernelVariants({ subgroups: true });
    if (!hasSubgroups()) return expectError(() => rowsSubgroupSize(), 'device', /no 'subgroups' feature/);
    const adapter = gpu().adapter;
    const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
    const spy = vi.spyOn(adapter, 'info', 'get').mockReturnValue({ ...info, subgroupMinSize: info.subgroupMinSize, subgroupMaxSize: 2 * (info.subgroupMaxSize ?? 4) } as GPUAdapterInfo);
    try {
      expect(rowsSubgroupSize()).toBe(0);
      // The extra samples only: segments of 4, 8, 64 and 128 threads (and every exchange of a long row).
      for (const info of Object.entries(ROW_EXTRAS).map(([name, extra]) => withSamples(name, extra, true))) {
        await checkForward(info);
        await checkBackward(info);
      }
    } finally {
      spy.mockRestore();
    }
    expect(rowsSubgroupSize()).toBe(gpu().adapter.info.subgroupMinSize === gpu().adapter.info.subgroupMaxSize ? gpu().adapter.info.subgroupMinSize : 0);
  });
});

/** Runs `fn` under each of `variants` the adapter supports; returns the results by variant. */
async function underEachReduction<T>(fn: () => Promise<T>, variants: readonly ReductionVariant[] = REDUCTIONS): Promise<T[]> {
  const results: T[] = [];
  for (const variant of variants.filter(supports)) {
    setKernelVariants({ subgroups: variant === 'subgroups' });
    results.push(await fn());
  }
  setKernelVariants({});
  return results;
}

describe('row reductions: variants agree', () => {
  it('softmax, logSoftmax, layerNorm, crossEntropy: outputs and gradients', async () => {
    const [rows, c] = [23, 777];
    const x = randomData(rows * c, 5, -4, 4);
    const w = randomData(c, 6, 0.5, 1.5);
    const b = randomData(c, 7, -0.5, 0.5);
    const targets = Int32Array.from(randomData(rows, 8, 0, c), Math.floor);
    const upstream = randomData(rows * c, 9);
    const run = async () => {
      const xt = fromArray(x, [rows, c]).requireGrad();
      const wt = fromArray(w, [c]).requireGrad();
      const bt = fromArray(b, [c]).requireGrad();
      const up = fromArray(upstream, [rows, c]);
      const tt = fromArray(targets, [rows], { dtype: 'i32' });
      const outs: Record<string, Float32Array> = {};
      for (const [name, f] of [['softmax', softmax], ['logSoftmax', logSoftmax], ['layerNorm', (t: Tensor) => layerNorm(t, wt, bt)]] as const) {
        const y = f(xt);
        backward(y, up);
        outs[name] = (await y.toArray()) as Float32Array;
        outs[`${name} dx`] = (await xt.grad!.toArray()) as Float32Array;
        y.dispose();
        xt.zeroGrad();
      }
      outs['layerNorm dw'] = (await wt.grad!.toArray()) as Float32Array;
      outs['layerNorm db'] = (await bt.grad!.toArray()) as Float32Array;
      const loss = crossEntropy(xt, tt);
      backward(loss);
      outs.crossEntropy = (await loss.toArray()) as Float32Array;
      outs['crossEntropy dx'] = (await xt.grad!.toArray()) as Float32Array;
      for (const t of [xt, wt, bt, up, tt, loss]) {
        t.zeroGrad();
        t.dispose();
      }
      return outs;
    };
    const before = memory().liveTensors;
    const results = await underEachReduction(run);
    expect(memory().liveTensors).toBe(before);
    const tol: Record<string, Tolerance> = { layerNorm: layerNormInfo.tol!, crossEntropy: crossEntropyInfo.tol! };
    for (const other of results.slice(1)) {
      for (const key of Object.keys(results[0])) {
        expectClose(other[key], results[0][key], { ...(tol[key] ?? { rtol: 1e-5, atol: 1e-6 }), label: `${key}: subgroups vs tree` });
      }
    }
  });

  it('sampleLogits with temperature, top-k and top-p: same ids from the same seed, all inside the distribution', async () => {
    const [rows, v] = [41, 613];
    const logits = randomData(rows * v, 21, -3, 3);
    const cases = [{ temperature: 1, seed: 11 }, { temperature: 0.7, topK: 5, seed: 12 }, { temperature: 1.3, topP: 0.6, seed: 13 }];
    const results = await underEachReduction(async () => {
      const t = fromArray(logits, [rows, v]);
      const ids = [];
      for (const options of cases) {
        const out = sampleLogits(t, options);
        ids.push(Array.from(await out.toArray()));
        out.dispose();
      }
      t.dispose();
      return ids;
    }, REDUCTIONS.filter((v) => TESTED.has(v)));
    for (const [c, options] of cases.entries()) {
      for (let r = 0; r < rows; r++) {
        const probs = samplingDistributionRef(logits.subarray(r * v, (r + 1) * v), options);
        for (const ids of results) expect(probs[ids[c][r]], `row ${r} ${JSON.stringify(options)}: id ${ids[c][r]} has probability 0`).toBeGreaterThan(0);
      }
      for (const ids of results.slice(1)) expect(ids[c]).toEqual(results[0][c]);
    }
  });
});

interface AttentionArgs {
  lead: number[];
  t: number;
  s: number;
  d: number;
  options: AttentionOptions;
}

function attentionSample(lead: number[], t: number, s: number, d: number, options: AttentionOptions, forwardOnly = false): OpSample<AttentionArgs> {
  return { shapes: [[...lead, t, d], [...lead, s, d], [...lead, s, d]], args: { lead, t, s, d, options }, ...(forwardOnly ? { forwardOnly, domain: [-2, 2] as const } : {}) };
}

/** Head dims 1, 7, 64 and 128; T around the flash blocks (BR = 16, BCB = 8); S ≠ T; dropout. */
const ATTENTION_SAMPLES: OpSample<AttentionArgs>[] = [
  attentionSample([1], 1, 1, 1, {}),
  attentionSample([1], 1, 1, 1, { causal: true }),
  attentionSample([2], 17, 17, 7, {}),
  attentionSample([2], 17, 17, 7, { causal: true }),
  attentionSample([1], 5, 19, 3, {}),
  attentionSample([1], 5, 19, 3, { causal: true }),
  attentionSample([2], 9, 9, 5, { causal: true, dropout: 0.25, seed: 3 }),
  attentionSample([1], 3, 3, 64, { causal: true }),
  attentionSample([1], 2, 3, 128, {}),
  attentionSample([1, 2], 33, 33, 64, {}, true),
  attentionSample([1, 2], 33, 33, 64, { causal: true }, true),
  attentionSample([3], 17, 17, 128, { causal: true }, true),
  attentionSample([2], 40, 40, 7, { causal: true, dropout: 0.2, seed: 5 }, true),
  attentionSample([1], 1, 50, 64, { causal: true }, true),
  attentionSample([2], 24, 24, 1, { causal: true }, true),
];

const ATTENTION_INFO: AnyOpInfo = { ...attentionInfo, samples: ATTENTION_SAMPLES };

/**
 * f16 storage tolerance, derived: the kernels compute in f32 (f16 → f32 is exact), so before the
 * store the output is within the f32 tolerance τ = atol + rtol·|ref| of the registry entry; the store
 * rounds to nearest half, relative error ≤ u = 2⁻¹¹ for normal halves and absolute ≤ 2⁻²⁵ below 2⁻¹⁴
 * (subnormals). So |out − ref| ≤ τ + u·(|ref| + τ) + 2⁻²⁵ ≤ (atol + 2⁻²⁵ + u·atol) + (rtol + u + u·rtol)·|ref|.
 */
const F16_UNIT = 2 ** -11;
const F16_TOL: Tolerance = {
  atol: attentionInfo.tol!.atol! * (1 + F16_UNIT) + 2 ** -25,
  rtol: attentionInfo.tol!.rtol! * (1 + F16_UNIT) + F16_UNIT,
};

function flashFits(): boolean {
  return gpu().limits.maxComputeWorkgroupStorageSize >= FLASH_BYTES;
}

describe.each(ATTENTIONS.map((variant) => ({ variant })))('attention: $variant', ({ variant }) => {
  if (TESTED.has(variant)) it(`f32: forward = float64 reference, backward = finite differences (${ATTENTION_SAMPLES.length} samples), or a device error where it does not fit`, async () => {
    setKernelVariants({ attention: variant });
    if (variant === 'flash' && !flashFits()) {
      expectError(() => attentionVariant(FLASH_BYTES), 'device', /flash attention was forced.*workgroup memory/);
      return;
    }
    expect(attentionVariant(FLASH_BYTES)).toBe(variant);
    await checkForward(ATTENTION_INFO);
    await checkBackward(ATTENTION_INFO);
  });

  if (TESTED.has('f16')) it('f16 storage: forward = float64 reference on the rounded inputs within f16 output rounding, or a device error without shader-f16', async () => {
    setKernelVariants({ attention: variant });
    if (variant === 'flash' && !flashFits()) return expect(() => attentionVariant(FLASH_BYTES)).toThrow(/workgroup memory/);
    if (!hasF16()) {
      const wide = fromArray(randomData(2 * 3, 1), [1, 2, 3]);
      const x = cast(wide, 'f16');
      wide.dispose();
      const before = memory().liveTensors;
      expectError(() => attention(x, x, x), 'device', /attention: f16 tensors need the adapter's 'shader-f16' feature/);
      expect(memory().liveTensors).toBe(before);
      x.dispose();
      return;
    }
    for (const [i, sample] of ATTENTION_SAMPLES.entries()) {
      const { lead, t, s, d, options } = sample.args!;
      const [low, high] = sample.domain ?? [-1, 1];
      const halves = sample.shapes.map((shape, k) => castRef(randomData(shape.reduce((a, b) => a * b, 1), 100 + 7 * i + k, low, high), 'f16'));
      const [q, k, v] = halves.map((data, n) => {
        const wide = fromArray(data, sample.shapes[n]);
        const half = cast(wide, 'f16');
        wide.dispose();
        return half;
      });
      const out = attention(q, k, v, options);
      expect(out.dtype).toBe('f16');
      const bh = lead.reduce((a, b) => a * b, 1);
      expectClose(await out.toArray(), attentionRef(halves[0], halves[1], halves[2], { bh, t, s, d }, options), { ...F16_TOL, label: `f16 ${variant} sample ${i}` });
      for (const x of [q, k, v, out]) x.dispose();
    }
  });
});


/** Output and input gradients of attention under `variant` (gradients only for f32). */
async function attentionRun(
  variant: AttentionVariant,
  shapes: { q: number[]; kv: number[] },
  options: AttentionOptions,
  dtype: 'f32' | 'f16',
  seed: number,
): Promise<Float32Array[]> {
  setKernelVariants({ attention: variant });
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const made = [shapes.q, shapes.kv, shapes.kv].map((shape, k) => fromArray(randomData(size(shape), seed + k), shape));
  const inputs = dtype === 'f16' ? made.map((t) => cast(t, 'f16')) : made.map((t) => t.requireGrad());
  const out = attention(inputs[0], inputs[1], inputs[2], options);
  const results = [(await out.toArray()) as Float32Array];
  const owned = [...made, ...(dtype === 'f16' ? inputs : []), out];
  if (dtype === 'f32') {
    const up = fromArray(randomData(out.size, seed + 9), out.shape);
    owned.push(up);
    backward(out, up);
    for (const t of inputs) results.push((await t.grad!.toArray()) as Float32Array);
  }
  for (const t of owned) {
    t.zeroGrad();
    t.dispose();
  }
  return results;
}

describe('attention: variants agree', () => {
  // Shapes past what finite differences afford: several blocks and tiles, packed heads, a KV cache.
  const cases: { name: string; shapes: { q: number[]; kv: number[] }; options: AttentionOptions }[] = [
    { name: 'B·H = 6, T = S = 70, D = 64, causal, dropout', shapes: { q: [2, 3, 70, 64], kv: [2, 3, 70, 64] }, options: { causal: true, dropout: 0.1, seed: 4 } },
    { name: 'T = 37, S = 53, D = 128', shapes: { q: [2, 37, 128], kv: [2, 53, 128] }, options: {} },
    { name: 'packed heads [2, 29, 3·7], causal', shapes: { q: [2, 29, 21], kv: [2, 29, 21] }, options: { causal: true, heads: 3 } },
    { name: 'KV cache: T = 5 of kvLength 23 (40 rows), causal', shapes: { q: [3, 5, 16], kv: [3, 40, 16] }, options: { causal: true, kvLength: 23 } },
  ];

  if (TESTED.has('rows') && TESTED.has('flash')) it.each(cases)('f32 rows vs flash, output and gradients: $name', async ({ shapes, options }) => {
    if (!flashFits()) return expect(() => attentionRun('flash', shapes, options, 'f32', 1)).rejects.toThrow(/workgroup memory/);
    const before = memory().liveTensors;
    const [rows, flash] = [await attentionRun('rows', shapes, options, 'f32', 1), await attentionRun('flash', shapes, options, 'f32', 1)];
    expect(memory().liveTensors).toBe(before);
    // Outputs: the registry's forward tolerance. Gradients: sums over up to S·D products in another order.
    const names = ['out', 'dq', 'dk', 'dv'];
    for (const [n, name] of names.entries()) {
      expectClose(flash[n], rows[n], { ...(n === 0 ? attentionInfo.tol : { rtol: 1e-4, atol: 1e-5 }), label: `${name}: flash vs rows` });
    }
  });

  if (TESTED.has('f16')) it('f16 rows vs flash (or f16 rejected without shader-f16)', async () => {
    const { shapes, options } = cases[0];
    if (!hasF16()) return expect(attentionRun('rows', shapes, options, 'f16', 2)).rejects.toThrow(/shader-f16/);
    // Where flash attention's tiles do not fit the workgroup memory, forcing it is a clear error (asserted, not skipped).
    if (!flashFits()) return expect(attentionRun('flash', shapes, options, 'f16', 2)).rejects.toThrow(/flash attention was forced.*workgroup memory/);
    const [rows] = await attentionRun('rows', shapes, options, 'f16', 2);
    const [flash] = await attentionRun('flash', shapes, options, 'f16', 2);
    // Each is the rounding of an f32 value within F16_TOL's τ of the reference: they differ by at most twice that.
    expectClose(flash, rows, { rtol: 2 * F16_TOL.rtol!, atol: 2 * F16_TOL.atol! });
  });
});

describe('variant policy and errors', () => {
  it('defaults: subgroup reductions where the adapter has them; row attention on CPU adapters', () => {
    setKernelVariants({});
    expect(reductionVariant()).toBe(hasSubgroups() ? 'subgroups' : 'tree');
    setKernelVariants({ subgroups: 'auto', attention: 'auto' });
    expect(reductionVariant()).toBe(hasSubgroups() ? 'subgroups' : 'tree');
    // Every adapter these tests run on is a CPU one (llvmpipe, lavapipe, SwiftShader).
    expect(attentionVariant(FLASH_BYTES)).toBe('rows');
  });

  it('forcing an unavailable variant throws a device error naming it', () => {
    setKernelVariants({ attention: 'flash' });
    const limit = gpu().limits.maxComputeWorkgroupStorageSize;
    expectError(() => attentionVariant(limit + 1), 'device', new RegExp(`needs ${limit + 1} bytes of workgroup memory and this device allows ${limit}`));
    setKernelVariants({ subgroups: true });
    if (hasSubgroups()) expect(reductionVariant()).toBe('subgroups');
    else expectError(() => reductionVariant(), 'device', /subgroup reductions were forced.*no 'subgroups' feature/);
  });

  it('environment variables choose when nothing is forced, and bad values are named', () => {
    const saved = { sg: process.env.SCRATCHGPT_SUBGROUPS, att: process.env.SCRATCHGPT_ATTENTION_KERNEL };
    try {
      setKernelVariants({});
      process.env.SCRATCHGPT_SUBGROUPS = '0';
      process.env.SCRATCHGPT_ATTENTION_KERNEL = 'flash';
      expect(reductionVariant()).toBe('tree');
      if (flashFits()) expect(attentionVariant(FLASH_BYTES)).toBe('flash');
      setKernelVariants({ subgroups: hasSubgroups(), attention: 'rows' }); // setKernelVariants wins
      expect(reductionVariant()).toBe(hasSubgroups() ? 'subgroups' : 'tree');
      expect(attentionVariant(FLASH_BYTES)).toBe('rows');
      setKernelVariants({});
      process.env.SCRATCHGPT_SUBGROUPS = 'yes';
      expectError(() => reductionVariant(), 'value', /SCRATCHGPT_SUBGROUPS must be 0, 1 or auto, got 'yes'/);
      process.env.SCRATCHGPT_ATTENTION_KERNEL = 'tiled';
      expectError(() => attentionVariant(FLASH_BYTES), 'value', /SCRATCHGPT_ATTENTION_KERNEL must be rows, flash or auto, got 'tiled'/);
    } finally {
      for (const [name, value] of [['SCRATCHGPT_SUBGROUPS', saved.sg], ['SCRATCHGPT_ATTENTION_KERNEL', saved.att]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('setKernelVariants rejects bad choices', () => {
    expectError(() => setKernelVariants({ subgroups: 'yes' as never }), 'value', /subgroups must be true, false or 'auto', got yes/);
    expectError(() => setKernelVariants({ attention: 'tiled' as never }), 'value', /attention must be 'rows', 'flash' or 'auto', got tiled/);
  });
});
