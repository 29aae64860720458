/**
 * `pnpm bench -- --only=guard` (not part of the default run): what the training loop's non-finite guard
 * costs (`nonFinite: 'error'`, the default): a training step of a GPT with the fused AdamW the loop uses,
 * without the guard, with it checking every gradient (no clipping: one extra read of the flat gradient
 * buffers), and with clipping (`maxGradNorm`, where the guard checks only the norm), interleaved so that
 * the machine's load hits all three alike. Medians of `reps` steps after a warm-up step, tokens/s.
 */
import { AdamW, clipGradNorm, init, manualSeed, StepGuard, sync, trimPool } from '../packages/core/src/node';
import { batchLoss, GPTModel, gptConfig, type GPTConfig } from '../packages/gpt/src/index';
import { ids } from './gpt';
import { median, table } from './run';

type Mode = 'plain' | 'guard' | 'clip' | 'clip+guard';
const MODES: Mode[] = ['plain', 'guard', 'clip', 'clip+guard'];

async function stepTimes(config: GPTConfig, B: number, T: number, reps: number): Promise<Record<Mode, number>> {
  manualSeed(1);
  const model = new GPTModel(config);
  const opt = new AdamW(model.namedParameters(), { lr: 1e-4, weightDecay: 0.1, fused: true });
  const guard = new StepGuard();
  const batch = { inputs: ids(B * T, config.vocabSize, 1), targets: ids(B * T, config.vocabSize, 2), shape: [B, T] as const };
  let n = 0;
  const step = async (mode: Mode) => {
    const loss = batchLoss(model, batch);
    loss.backward();
    n++;
    const norm = mode.startsWith('clip') ? clipGradNorm(opt.params, 1) : null;
    if (mode === 'guard') guard.checkGradients(opt.params, n);
    if (mode === 'clip+guard') guard.check([norm!], n);
    opt.step(mode.endsWith('guard') ? guard : undefined);
    opt.zeroGrad();
    await loss.item(); // the whole step (the queue runs in order)
    loss.dispose();
    norm?.dispose();
  };
  const times: Record<Mode, number[]> = { plain: [], guard: [], clip: [], 'clip+guard': [] };
  try {
    for (const mode of MODES) await step(mode); // warm-up: every pipeline compiled
    for (let r = 0; r < reps; r++) {
      for (const mode of MODES) {
        const t0 = performance.now();
        await step(mode);
        times[mode].push(performance.now() - t0);
      }
    }
    if ((await guard.read()) !== null) throw new Error('bench/guard: a step was marked non-finite');
    return Object.fromEntries(MODES.map((m) => [m, (B * T) / (median(times[m]) / 1000)])) as Record<Mode, number>;
  } finally {
    guard.dispose();
    opt.dispose();
    model.dispose();
    await sync();
    trimPool();
  }
}

export async function benchGuard({ quick = false }: { quick?: boolean } = {}): Promise<void> {
  const gpu = await init();
  console.log(`\n# Non-finite guard cost (${gpu.adapterName}, ${gpu.backend})\n`);
  const rows: string[][] = [];
  const configs: [string, GPTConfig, number, number, number][] = [
    ['GPT 29M (C=256, L=4)', gptConfig('gpt2-small', { embDim: 256, nLayers: 4, nHeads: 4, contextLength: 128, dropRate: 0 }), 4, 128, quick ? 3 : 7],
  ];
  if (!quick) configs.push(['GPT-2 124M config', gptConfig('gpt2-small', { dropRate: 0 }), 1, 64, 5]);
  for (const [name, config, B, T, reps] of configs) {
    const t = await stepTimes(config, B, T, reps);
    const pct = (a: number, b: number) => `${(100 * (b / a - 1)).toFixed(1)} %`;
    rows.push([name, `${B}×${T}`, t.plain.toFixed(1), t.guard.toFixed(1), pct(t.plain, t.guard), t.clip.toFixed(1), t['clip+guard'].toFixed(1), pct(t.clip, t['clip+guard'])]);
  }
  console.log(table(['model', 'batch', 'tok/s', 'guarded', 'Δ', 'clipped', 'clipped + guarded', 'Δ'], rows));
}
