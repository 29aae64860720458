/**
 * `pnpm bench`: performance benchmarks (Node, on the library's default adapter), each side by side with
 * TensorFlow.js's WebGPU backend on the same device: matmul, a transformer block and an MLP (forward +
 * backward), GPT training steps and generation.
 * - `pnpm bench -- --quick` skips the largest matmul, the GPT-2-width block/MLP and the 124M model;
 * - `pnpm bench -- --only=block,gpt` runs only the named benchmarks (matmul, block, gpt);
 * - `pnpm bench:kernels` (`--only=kernels`, not part of the default run) is the matmul kernel lab: every
 *   variant × shape validated against float64 then timed (bench/kernels/matmul.ts; `--variants=…`,
 *   `--shapes=…`, `--quick`).
 * - `--only=instruct` (not part of the default run): an instruction fine-tuning step of a GPT-2 355M-shaped
 *   model with and without LoRA (bench/instruct.ts; `--batch=8`, `--steps=3`).
 */
import { benchBlock } from './block';
import { benchGPT } from './gpt';
import { benchInstruct } from './instruct';
import { benchKernels } from './kernels/matmul';
import { benchMatmul } from './matmul';

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const selected = (name: string) => !only || only.includes(name);
const list = (flag: string) => process.argv.find((a) => a.startsWith(`--${flag}=`))?.slice(flag.length + 3).split(',');

if (selected('matmul')) await benchMatmul(quick ? { sizes: [256, 512, 1024] } : {});
if (selected('block')) await benchBlock({ quick });
if (selected('gpt')) await benchGPT({ quick });
if (only?.includes('instruct')) await benchInstruct({ batch: Number(list('batch')?.[0] ?? 8), steps: Number(list('steps')?.[0] ?? 3) });
if (only?.includes('kernels')) await benchKernels({ quick, variants: list('variants'), shapes: list('shapes') });
