/**
 * `pnpm bench`: performance benchmarks (Node, on the library's default adapter), each side by side with
 * TensorFlow.js's WebGPU backend on the same device. `pnpm bench -- --quick` skips the 124M model.
 */
import { benchGPT } from './gpt';
import { benchMatmul } from './matmul';

const quick = process.argv.includes('--quick');
await benchMatmul(quick ? { sizes: [256, 512, 1024] } : {});
await benchGPT({ quick });
