import { test } from 'vitest';
import { init, fromArray, softmax, layerNorm, crossEntropy, sampleLogits, sync, scope, Tensor } from '../packages/core/src/node';
import { setKernelVariants } from '../packages/core/src/ops/variants';

function rnd(n: number, lo = -3, hi = 3) { const a = new Float32Array(n); let s = 1; for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; a[i] = lo + (hi - lo) * (s / 2 ** 32); } return a; }
async function time(fn: () => void, reps: number): Promise<number> {
  for (let i = 0; i < 2; i++) { scope(fn); await sync(); }
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); scope(fn); await sync(); ts.push(performance.now() - t0); }
  ts.sort((a, b) => a - b); return ts[Math.floor(ts.length / 2)];
}
test('bench', async () => {
  const g = await init();
  const variants = (process.env.VARIANTS ?? 'tree,subgroups').split(',');
  const x1 = fromArray(rnd(256 * 1024), [256, 1024]);
  const xl = fromArray(rnd(1024 * 768), [1024, 768]).requireGrad();
  const w = fromArray(rnd(768, 0.5, 1.5), [768]).requireGrad();
  const b = fromArray(rnd(768, -0.5, 0.5), [768]).requireGrad();
  const logits = fromArray(rnd(64 * 50257), [64, 50257]).requireGrad();
  const targets = fromArray(Int32Array.from({ length: 64 }, (_, i) => (i * 7919) % 50257), [64], 'i32');
  const l8 = fromArray(rnd(8 * 50257), [8, 50257]);
  const dyl = fromArray(rnd(1024*768), [1024, 768]);
  const small = fromArray(rnd(1000 * 11), [1000, 11]);
  const cases: [string, () => void][] = [
    ['softmax [256,1024] fwd', () => { softmax(x1); }],
    ['layerNorm [1024,768] fwd', () => { layerNorm(xl, w, b); }],
    ['layerNorm [1024,768] fwd+bwd', () => { const y = layerNorm(xl, w, b); (y as Tensor).backward(dyl); xl.zeroGrad(); w.zeroGrad(); b.zeroGrad(); }],
    ['crossEntropy [64,50257] fwd+bwd', () => { crossEntropy(logits, targets).backward(); logits.zeroGrad(); }],
    ['sample [8,50257] greedy', () => { sampleLogits(l8); }],
    ['sample [8,50257] T=1 topP=0.9', () => { sampleLogits(l8, { temperature: 1, topP: 0.9, seed: 3 }); }],
    ['sample [1000,11] T=1.3 topP=0.8', () => { sampleLogits(small, { temperature: 1.3, topP: 0.8, seed: 3 }); }],
  ];
  const rows: string[] = [];
  for (const [name, fn] of cases) {
    const cells: string[] = [];
    for (const v of variants) {
      setKernelVariants({ subgroups: v === 'subgroups' });
      cells.push((await time(fn, Number(process.env.REPS ?? 5))).toFixed(1));
    }
    rows.push(`| ${name} | ${cells.join(' | ')} |`);
    console.log(rows[rows.length - 1]);
  }
  console.log(`${g.adapterName} (${g.backend})\n| case | ${variants.join(' | ')} |\n` + rows.join('\n'));
}, 1200_000);
