/**
 * Instruction fine-tuning step of a GPT-2 355M-shaped model (the book's chapter 7: gpt2-medium, qkv
 * bias on, dropout 0, separate output head as the book's `GPTModel` has after `load_weights_into_gpt`),
 * random weights, on the book's first training batches (batch 8, `custom_collate_fn`), with and
 * without LoRA (rank 16, alpha 16 on every Linear, the book's appendix E): seconds per step (forward +
 * backward + AdamW) and memory. `node dist/bench.js --only=instruct [--batch=N] [--steps=N]`.
 *
 * Memory: `peakMemory()`, the most bytes live tensors held at once during the variant's steps (weights,
 * optimizer state, activations, gradients). The process's peak resident set is reported too (on a
 * software adapter GPU buffers live in system memory).
 */
import { readFileSync } from 'node:fs';
import { AdamW, init, manualSeed, peakMemory, resetPeakMemory, sync, trimPool } from '../packages/core/src/node';
import { GPTModel, gptConfig } from '../packages/gpt/src/index';
import { applyLoRA, bookInstructionSplit, instructionLoss, InstructionDataset, InstructionLoader, parseInstructionData } from '../packages/finetune/src/index';
import { table } from './run';

export interface InstructBenchOptions {
  /** Rows per batch (default 8, the book's). */
  batch?: number;
  /** Steps per variant; the first is a warm-up (pipeline compilation) and not timed (default 3). */
  steps?: number;
}

const MiB = 2 ** 20;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;

export async function benchInstruct({ batch = 8, steps = 3 }: InstructBenchOptions = {}): Promise<void> {
  const gpu = await init();
  console.log(`\n## Instruction fine-tuning step, GPT-2 355M shape (gpt2-medium config, qkv bias, untied head), random weights — ${gpu.adapterName}`);
  const data = parseInstructionData(readFileSync(new URL('../packages/finetune/data/instruction-data.json', import.meta.url), 'utf8'));
  const loader = new InstructionLoader(new InstructionDataset(bookInstructionSplit(data).train), { batchSize: batch, shuffle: true, dropLast: true, seed: 123, allowedMaxLength: 1024 });
  const batches = [...loader.batches(0)].slice(0, steps);
  const config = gptConfig('gpt2-medium', { qkvBias: true, dropRate: 0, tieWeights: false });
  const rows: string[][] = [];
  for (const lora of [true, false]) {
    manualSeed(123);
    const model = new GPTModel(config);
    if (lora) applyLoRA(model, { rank: 16, alpha: 16, seed: 123 });
    const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad);
    const trainableCount = trainable.reduce((n, [, p]) => n + p.size, 0);
    const opt = new AdamW(trainable, { lr: 5e-5, weightDecay: 0.1 });
    const times: number[] = [];
    let loss = NaN;
    let peak = 0;
    resetPeakMemory();
    try {
      for (const [i, b] of batches.entries()) {
        await sync();
        const t0 = performance.now();
        const value = instructionLoss(model, b);
        value.backward();
        opt.step();
        opt.zeroGrad();
        loss = await value.item(); // waits for the whole step (the queue runs in order)
        value.dispose();
        const seconds = (performance.now() - t0) / 1000;
        if (i > 0) times.push(seconds);
        console.log(`${lora ? 'LoRA' : 'full'} step ${i + 1}: ${b.shape[0]}×${b.shape[1]} tokens, loss ${loss.toFixed(4)}, ${seconds.toFixed(1)} s${i === 0 ? ' (warm-up)' : ''}`);
      }
    } finally {
      peak = peakMemory();
      opt.dispose();
      model.dispose();
      trimPool();
    }
    const mean = times.reduce((a, t) => a + t, 0) / Math.max(1, times.length);
    rows.push([
      lora ? 'LoRA r=16 α=16' : 'full fine-tuning',
      trainableCount.toLocaleString('en-US'),
      mean.toFixed(1),
      mib(peak),
      mib(process.resourceUsage().maxRSS * 1024),
    ]);
  }
  console.log(
    `\n${table(['variant', 'trainable', `s/step (mean of ${steps - 1})`, 'peak live on the GPU', 'process max RSS (cumulative)'], rows)}`,
  );
}
