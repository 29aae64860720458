/**
 * `pnpm bench`: performance benchmarks (Node, on the library's default adapter), each side by side with
 * TensorFlow.js's WebGPU backend on the same device: matmul, a transformer block and an MLP (forward +
 * backward), GPT training steps and generation.
 * - `pnpm bench -- --quick` skips the largest matmul, the GPT-2-width block/MLP and the 124M model;
 * - `pnpm bench -- --only=block,gpt` runs only the named benchmarks (matmul, block, gpt);
 * - `pnpm bench:kernels` (`--only=kernels`, not part of the default run) is the matmul kernel lab: every
 *   variant × shape validated against float64 then timed (bench/kernels/matmul.ts; `--variants=…`,
 *   `--shapes=…`, `--quick`).
 * - `pnpm bench:gpu` (`--only=gpu`, not part of the default run): the one-shot device benchmark for a real
 *   GPU, markdown tables + JSON (bench/gpu.ts; `--quick`, `--json=path`, `--peak-tflops=N`, `--budget-s=N`,
 *   `--no-tfjs`, `--require-gpu`, `--sections=…`).
 * - `--only=pytorch` (part of the default run where `/usr/bin/python3 -c 'import torch'` works): the book's
 *   GPT in PyTorch on the CPU, 2 threads, as a reference row (bench/pytorch_ref.py).
 * - `--only=instruct` (not part of the default run): an instruction fine-tuning step of a GPT-2 355M-shaped
 *   model with and without LoRA (bench/instruct.ts; `--batch=8`, `--steps=3`).
 * - `--only=guard` (not part of the default run): the cost of the training loop's non-finite guard on a
 *   training step, with and without clipping (bench/guard.ts; `--quick`).
 */
import { benchBlock } from './block';
import { benchGPT } from './gpt';
import { benchGpu, type GpuSection } from './gpu';
import { benchGuard } from './guard';
import { benchInstruct } from './instruct';
import { benchKernels } from './kernels/matmul';
import { benchMatmul } from './matmul';
import { benchPytorch } from './pytorch';

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const selected = (name: string) => !only || only.includes(name);
const list = (flag: string) => process.argv.find((a) => a.startsWith(`--${flag}=`))?.slice(flag.length + 3).split(',');

if (selected('matmul')) await benchMatmul(quick ? { sizes: [256, 512, 1024] } : {});
if (selected('block')) await benchBlock({ quick });
if (selected('gpt')) await benchGPT({ quick });
if (selected('pytorch')) await benchPytorch({ quick });
if (only?.includes('gpu')) {
  const peak = list('peak-tflops')?.[0];
  const budget = list('budget-s')?.[0];
  const ok = await benchGpu({
    quick,
    jsonPath: list('json')?.[0],
    peakTflops: peak === undefined ? undefined : Number(peak),
    budgetS: budget === undefined ? undefined : Number(budget),
    tfjs: !process.argv.includes('--no-tfjs'),
    requireGpu: process.argv.includes('--require-gpu'),
    sections: list('sections') as GpuSection[] | undefined,
  }).then(
    () => true,
    (err: Error) => {
      // Our own errors (e.g. --require-gpu on a CPU adapter) say what to check; others keep their stack.
      console.error(err.message.startsWith('scratchgpt:') ? err.message : err.stack);
      return false;
    },
  );
  if (!ok) process.exitCode = 1;
}
if (only?.includes('instruct')) await benchInstruct({ batch: Number(list('batch')?.[0] ?? 8), steps: Number(list('steps')?.[0] ?? 3) });
if (only?.includes('guard')) await benchGuard({ quick });
if (only?.includes('kernels')) await benchKernels({ quick, variants: list('variants'), shapes: list('shapes') });
