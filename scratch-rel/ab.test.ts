import { it } from 'vitest';
it('A/B report copy within one process', async () => {
  const root = process.env.BENCH_ROOT!;
  const core = await import(`${root}/packages/core/src/node.ts`);
  const gpuerrors = await import(`${root}/packages/core/src/engine/gpuerrors.ts`);
  const gptPkg = await import(`${root}/packages/gpt/src/index.node.ts`);
  await core.init();
  const config = gptPkg.gptConfig({ vocabSize: 512, contextLength: 64, embDim: 64, nHeads: 4, nLayers: 2, dropRate: 0, qkvBias: false, tieWeights: false });
  const model = new gptPkg.GPTModel(config);
  const opt = new core.AdamW(model.parameters(), { lr: 1e-3 });
  const B = 4, T = 64;
  const r = core.seededRandom(1);
  const batch = { inputs: Int32Array.from({ length: B * T }, () => Math.floor(r() * 512)), targets: Int32Array.from({ length: B * T }, () => Math.floor(r() * 512)), shape: [B, T] as const };
  const { device } = core.gpu();
  const step = async (disarm: boolean) => {
    const t0 = performance.now();
    const loss = gptPkg.batchLoss(model, batch);
    loss.backward();
    opt.step();
    opt.zeroGrad();
    if (disarm) gpuerrors.takeArmedReports(device);
    await loss.item();
    loss.dispose();
    return performance.now() - t0;
  };
  for (let i = 0; i < 5; i++) await step(false);
  const diffs: number[] = []; const on: number[] = []; const off: number[] = [];
  for (let i = 0; i < Number(process.env.PAIRS ?? 30); i++) {
    const first = i % 2 === 0;
    const a = await step(!first), b = await step(first);
    const tOn = first ? b : a; const tOff = first ? a : b;
    on.push(tOn); off.push(tOff); diffs.push(tOn - tOff);
  }
  const med = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1];
  // readback alone: 1-element tensor, armed vs not
  const x = core.full([1], 1);
  const rd: number[] = []; const rdOn: number[] = []; const rdOff: number[] = [];
  for (let i = 0; i < 200; i++) {
    let t0 = performance.now(); gpuerrors.errorsResource(device, true); await x.toArray(); const tOn = performance.now() - t0;
    t0 = performance.now(); await x.toArray(); const tOff = performance.now() - t0;
    rd.push(tOn - tOff); rdOn.push(tOn); rdOff.push(tOff);
  }
  console.log(`AB step ms: with report copy median ${med(on).toFixed(2)}, without ${med(off).toFixed(2)}, paired diff median ${med(diffs).toFixed(2)}; readback ms: armed ${med(rdOn).toFixed(3)}, not ${med(rdOff).toFixed(3)}, paired diff median ${med(rd).toFixed(3)}`);
});
