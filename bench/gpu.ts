/**
 * `pnpm bench:gpu` (`node dist/bench.js --only=gpu`): a one-shot device benchmark for a real GPU, in
 * at most ~6 minutes, printing markdown tables and writing JSON:
 * - the adapter (name, vendor, architecture, description), its features and key limits;
 * - matmul GFLOP/s at 1024, 2048 and 4096 for each kernel variant (validated against float64 on small
 *   odd shapes first) and the policy's choice, with the percentage of the card's f32 peak (./gpu/peak.ts,
 *   or `--peak-tflops=`), and TF.js's WebGPU matMul on the same device;
 * - GPT-2 124M training tokens/s (forward + backward + AdamW) at the largest of 8×1024, 4×1024, … that
 *   fits, with dispatches per training step, and TF.js's training step on the same device;
 * - GPT-2 124M greedy decoding with the KV cache at batch 1 and batch 8, tokens/s and dispatches per step;
 * - the same training and batch-1 decoding with subgroup reductions and flash attention forced on/off;
 * - f16 rows where the adapter has `shader-f16` (decoding with f16 KV cache / weights, and op level: see ./gpu/f16.ts).
 * Rows run in priority order while the time budget lasts (`--budget-s=`, default 330); the skipped ones
 * are listed. `--quick` scales everything down (a small GPT, small matmuls) for a software adapter.
 * Flags: `--json=path` (default bench-gpu.json), `--peak-tflops=N`, `--budget-s=N`, `--no-tfjs`,
 * `--require-gpu` (fail on a CPU adapter such as llvmpipe), `--sections=matmul,train,decode,variants,f16`.
 * Weights are random: nothing is downloaded.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { hasF16, hasSubgroups, init, memory, reductionVariant, setKernelVariants, type Gpu } from '../packages/core/src/node';
import { FLASH_BYTES } from '../packages/core/src/ops/attention';
import { adapterClass } from '../packages/core/src/ops/gemm/policy';
import { attentionVariant, type AttentionVariant } from '../packages/core/src/ops/variants';
import { GPTModel, gptConfig, type GPTConfig } from '../packages/gpt/src/index';
import { Budget } from './gpu/budget';
import { f16Section } from './gpu/f16';
import { matmulSection, type MatmulSection } from './gpu/matmul';
import { decodeOurs, trainFirstFitting, trainOurs, trainTfjs, type TrainMeasurement } from './gpu/model';
import { f32Peak } from './gpu/peak';
import { markdown, type GpuBenchReport, type ModelRow } from './gpu/report';
import { attempt } from './gpu/timing';

export { markdown, type GpuBenchReport, type ModelRow } from './gpu/report';

export interface GpuBenchOptions {
  quick?: boolean;
  /** Where the JSON report goes (default `bench-gpu.json`). */
  jsonPath?: string;
  /** f32 peak in TFLOP/s, overriding the table in ./gpu/peak.ts. */
  peakTflops?: number;
  /** Wall-time budget in seconds for adding rows (default 330). */
  budgetS?: number;
  /** Run TF.js's side (default true). */
  tfjs?: boolean;
  /** Throw when the adapter is a CPU one (llvmpipe, lavapipe, SwiftShader). */
  requireGpu?: boolean;
  /** Only these sections (default all): matmul, train, decode, variants, f16. TF.js follows `tfjs`. */
  sections?: readonly GpuSection[];
  log?: (line: string) => void;
}

/** The benchmark's sections, in the order they run. */
export const GPU_SECTIONS = ['matmul', 'train', 'decode', 'variants', 'f16'] as const;
export type GpuSection = (typeof GPU_SECTIONS)[number];

const KEY_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'minStorageBufferOffsetAlignment',
] as const;

/** What the benchmark runs at full size and under `--quick`. */
interface Plan {
  modelName: string;
  config: GPTConfig;
  trainShapes: [number, number][];
  promptLength: number;
  newTokens: number;
  matmulSizes: number[];
  f16: { batch: number; seq: number; width: number; heads: number };
}

function plan(quick: boolean): Plan {
  if (quick) {
    const config = gptConfig('gpt2-small', { embDim: 256, nLayers: 4, nHeads: 4, contextLength: 128, dropRate: 0 });
    return {
      modelName: 'GPT C=256 L=4 NH=4 ctx 128 (quick)',
      config,
      trainShapes: [[2, 64]],
      promptLength: 16,
      newTokens: 8,
      matmulSizes: [256, 512],
      f16: { batch: 2, seq: 128, width: 256, heads: 4 },
    };
  }
  return {
    modelName: 'GPT-2 124M config (untied head)',
    config: gptConfig('gpt2-small', { dropRate: 0 }),
    trainShapes: [[8, 1024], [4, 1024], [2, 1024], [1, 1024], [1, 256]],
    promptLength: 16,
    newTokens: 64,
    matmulSizes: [1024, 2048, 4096],
    f16: { batch: 8, seq: 1024, width: 768, heads: 12 },
  };
}

function adapterOf(gpu: Gpu): Record<string, string | number | undefined> {
  const info = (gpu.adapter.info ?? {}) as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  return {
    name: gpu.adapterName,
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    backend: gpu.backend,
    featureLevel: gpu.featureLevel,
    class: adapterClass(info),
    subgroupMinSize: info.subgroupMinSize,
    subgroupMaxSize: info.subgroupMaxSize,
  };
}

const kernelsNow = (): string => `${reductionVariant() === 'subgroups' ? 'subgroups' : 'tree'} rows, ${attentionVariant(FLASH_BYTES)} attention`;

/** Runs the benchmark, prints its tables and writes the JSON report. */
export async function benchGpu(options: GpuBenchOptions = {}): Promise<GpuBenchReport> {
  const log = options.log ?? console.log;
  const quick = options.quick ?? false;
  const budgetS = options.budgetS ?? 330;
  if (!(budgetS > 0)) throw new Error(`scratchgpt: bench:gpu: --budget-s must be a positive number of seconds, got ${options.budgetS}`);
  const budget = new Budget(budgetS * 1000);
  const p = plan(quick);
  const gpu = await init();
  const adapter = adapterOf(gpu);
  if (options.requireGpu && adapter.class === 'cpu') {
    throw new Error(`scratchgpt: bench:gpu --require-gpu: the adapter is a CPU one (${gpu.adapterName}, ${gpu.backend}); check the Vulkan driver (BENCHMARKS.md)`);
  }
  const peak = f32Peak([adapter.description, adapter.device, adapter.name, adapter.architecture].join(' '), options.peakTflops);
  const tfjs = options.tfjs ?? true;
  const unknown = (options.sections ?? []).filter((x) => !GPU_SECTIONS.includes(x));
  if (unknown.length > 0) throw new Error(`scratchgpt: bench:gpu: unknown section(s) ${unknown.join(', ')} (expected ${GPU_SECTIONS.join(', ')})`);
  const want = (section: GpuSection) => !options.sections || options.sections.includes(section);
  const progress = (what: string) => log(`[${(budget.elapsedMs() / 1000).toFixed(0)} s] ${what}…`);
  log(`GPU benchmark on ${gpu.adapterName} (${gpu.backend}, ${gpu.featureLevel}); budget ${budgetS} s${quick ? ', quick' : ''}`);

  progress('matmul');
  const matmul: MatmulSection = want('matmul') ? await matmulSection(gpu, budget, { sizes: p.matmulSizes, peakTflops: peak.tflops, tfjs, log }) : { validation: {}, cells: [] };

  const { rows, train } = await modelRows(gpu, p, budget, { want, tfjs, progress, log });
  const variantRows = train && want('variants') ? await variantSection(p, train, budget, progress) : [];

  let f16: GpuBenchReport['f16'];
  if (!want('f16')) f16 = { available: hasF16(), rows: [], note: 'not run (--sections)' };
  else if (!hasF16()) f16 = { available: false, rows: [], note: `no shader-f16 on ${gpu.adapterName}: f16 rows skipped` };
  else {
    progress('f16');
    const decode = { config: p.config, modelName: p.modelName, promptLength: p.promptLength, newTokens: p.newTokens };
    f16 = { available: true, rows: await f16Section(p.f16, budget, decode), note: 'decoding with an f16 KV cache, f16 weights (castWeights) and both, then op level' };
  }

  const report: GpuBenchReport = {
    date: new Date().toISOString(),
    quick,
    elapsedS: budget.elapsedMs() / 1000,
    budgetS,
    machine: { node: process.version, platform: process.platform, arch: process.arch, cpus: cpus().length, loadavg: loadavg() },
    adapter,
    features: [...gpu.features].sort(),
    limits: Object.fromEntries(KEY_LIMITS.map((k) => [k, Number(gpu.limits[k])])),
    peak,
    model: { name: p.modelName, config: p.config, parameters: GPTModel.countParameters(p.config) },
    matmul,
    rows,
    variantRows,
    f16,
    skipped: budget.skipped,
  };
  for (const line of markdown(report)) log(line);
  const path = options.jsonPath ?? 'bench-gpu.json';
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  log(`\nJSON: ${path}; live GPU memory at the end: ${(memory().liveBytes / 2 ** 20).toFixed(1)} MiB`);
  return report;
}

interface ModelRowsContext {
  want: (section: GpuSection) => boolean;
  tfjs: boolean;
  progress: (what: string) => void;
  log: (line: string) => void;
}

/**
 * The training row (ours, then TF.js from the same initial weights) and the decoding rows; also returns
 * the training measurement, whose B×T the variant rows reuse.
 */
async function modelRows(gpu: Gpu, p: Plan, budget: Budget, { want, tfjs, progress, log }: ModelRowsContext): Promise<{ rows: ModelRow[]; train: TrainMeasurement | null }> {
  const rows: ModelRow[] = [];
  const defaultKernels = kernelsNow();
  // The variant rows reuse the training shape that fitted.
  const trainWanted = (want('train') || want('variants')) && budget.allows(`train ${p.modelName}`);
  if (trainWanted) progress(`training ${p.modelName}`);
  const trained = trainWanted ? await trainFirstFitting(p.config, p.trainShapes, budget, { keepWeights: tfjs && want('train') }) : { result: null, failures: [] };
  const train = trained.result;
  const trainRow: ModelRow = {
    benchmark: `train ${p.modelName}`,
    shape: train ? `${train.batch}×${train.seq}` : '-',
    kernels: defaultKernels,
    scratchgpt: train?.tokensPerSecond ?? null,
    tfjs: null,
    dispatches: train?.dispatchesPerStep ?? null,
    optimizerDispatches: train?.optimizerDispatchesPerStep ?? null,
    note: [train ? `step ${train.stepMs.toFixed(0)} ms, first loss ${train.firstLoss.toFixed(4)}` : trainWanted ? 'did not run' : 'skipped (time budget)', ...trained.failures.map((f) => `failed ${f}`)].join('; '),
  };
  if (want('train')) rows.push(trainRow);
  if (want('train') && train && budget.allows(`train ${p.modelName}, mixed f16`, 3 * train.stepMs)) {
    // Mixed precision (autocast f16 products, f32 master weights) at the shape that fitted.
    progress(`training ${p.modelName}, mixed f16`);
    const mixed = await attempt(() => trainOurs(p.config, train.batch, train.seq, budget, { precision: 'f16' }));
    const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
    rows.push({
      benchmark: `train ${p.modelName}, mixed f16 (autocast)`,
      shape: trainRow.shape,
      kernels: defaultKernels,
      scratchgpt: typeof mixed === 'string' ? null : mixed.tokensPerSecond,
      tfjs: null,
      dispatches: typeof mixed === 'string' ? null : mixed.dispatchesPerStep,
      optimizerDispatches: typeof mixed === 'string' ? null : mixed.optimizerDispatchesPerStep,
      note:
        typeof mixed === 'string'
          ? mixed
          : `step ${mixed.stepMs.toFixed(0)} ms, first loss ${mixed.firstLoss.toFixed(4)} (f32 ${train.firstLoss.toFixed(4)}); step peak ${mb(mixed.peakStepBytes)} (f32 ${mb(train.peakStepBytes)})`,
    });
  }
  for (const batch of want('decode') ? [1, 8] : []) {
    const row = `decode batch ${batch}`;
    if (!budget.allows(row)) continue;
    progress(row);
    const d = await attempt(() => decodeOurs(p.config, batch, p.promptLength, p.newTokens));
    rows.push({
      benchmark: `decode ${p.modelName}, greedy, KV cache`,
      shape: `${batch}, ${p.promptLength}+${p.newTokens}`,
      kernels: defaultKernels,
      scratchgpt: typeof d === 'string' ? null : d.tokensPerSecond,
      tfjs: null,
      dispatches: typeof d === 'string' ? null : d.dispatchesPerStep,
      note: typeof d === 'string' ? d : `dispatches per step (${batch} token${batch > 1 ? 's' : ''})`,
    });
  }
  if (tfjs && train?.weights) {
    // TF.js's step is often several times ours: estimate 3 steps (warm-up + 2) at 5× before starting.
    const estimate = 15 * train.stepMs;
    if (budget.allows('tfjs training step', estimate)) {
      progress('TF.js training step');
      const theirs = await trainTfjs(gpu, p.config, train, budget.leftMs() > 2 * estimate ? 2 : 1);
      if (typeof theirs === 'string') trainRow.note += `; tfjs failed: ${theirs}`;
      else {
        trainRow.tfjs = theirs.tokensPerSecond;
        // Same initial weights and ids: the first losses must agree (as in bench/gpt.ts).
        const diff = Math.abs(theirs.firstLoss - train.firstLoss);
        trainRow.note += `; tfjs first loss ${theirs.firstLoss.toFixed(4)} (|Δ| ${diff.toExponential(1)})`;
        if (!(diff < 1e-3 * Math.max(1, Math.abs(train.firstLoss)))) log(`warning: first-step losses differ (ours ${train.firstLoss}, TF.js ${theirs.firstLoss})`);
      }
    }
    train.weights = null;
  }

  return { rows, train };
}

/** Training and batch-1 decoding with each forced combination of row reductions and attention kernel. */
async function variantSection(p: Plan, train: TrainMeasurement, budget: Budget, progress: (what: string) => void): Promise<ModelRow[]> {
  const rows: ModelRow[] = [];
  const reductions = hasSubgroups() ? [true, false] : [false];
  const attentions: AttentionVariant[] = ['flash', 'rows'];
  const current = { subgroups: reductionVariant() === 'subgroups', attention: attentionVariant(FLASH_BYTES) };
  for (const subgroups of reductions) {
    for (const attention of attentions) {
      if (subgroups === current.subgroups && attention === current.attention) continue; // the rows above
      const kernels = `${subgroups ? 'subgroups' : 'tree'} rows, ${attention} attention (forced)`;
      // A training step and a decode, each estimated from the default run.
      if (!budget.allows(`variants: ${kernels}`, 3 * train.stepMs)) continue;
      progress(`variants: ${kernels}`);
      setKernelVariants({ subgroups, attention });
      try {
        const t = await trainFirstFitting(p.config, [[train.batch, train.seq]], budget);
        rows.push({
          benchmark: `train ${p.modelName}`,
          shape: `${train.batch}×${train.seq}`,
          kernels,
          scratchgpt: t.result?.tokensPerSecond ?? null,
          tfjs: null,
          dispatches: t.result?.dispatchesPerStep ?? null,
          note: t.failures.join('; '),
        });
        const d = await attempt(() => decodeOurs(p.config, 1, p.promptLength, p.newTokens));
        rows.push({
          benchmark: `decode ${p.modelName}, greedy, KV cache`,
          shape: `1, ${p.promptLength}+${p.newTokens}`,
          kernels,
          scratchgpt: typeof d === 'string' ? null : d.tokensPerSecond,
          tfjs: null,
          dispatches: typeof d === 'string' ? null : d.dispatchesPerStep,
          note: typeof d === 'string' ? d : '',
        });
      } finally {
        setKernelVariants({});
      }
    }
  }
  return rows;
}
