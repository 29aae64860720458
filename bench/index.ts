/**
 * `pnpm bench`: performance benchmarks (Node, on the library's default adapter), each side by side with
 * TensorFlow.js's WebGPU backend on the same device: matmul, a transformer block and an MLP (forward +
 * backward), GPT training steps and generation.
 * - `pnpm bench -- --quick` skips the largest matmul, the GPT-2-width block/MLP and the 124M model;
 * - `pnpm bench -- --only=block,gpt` runs only the named benchmarks (matmul, block, gpt).
 */
import { benchBlock } from './block';
import { benchGPT } from './gpt';
import { benchMatmul } from './matmul';

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const selected = (name: string) => !only || only.includes(name);

if (selected('matmul')) await benchMatmul(quick ? { sizes: [256, 512, 1024] } : {});
if (selected('block')) await benchBlock({ quick });
if (selected('gpt')) await benchGPT({ quick });
