import { it } from 'vitest';
it('step timing', async () => {
  const root = process.env.BENCH_ROOT!;
  const core = await import(`${root}/packages/core/src/node.ts`);
  const gptPkg = await import(`${root}/packages/gpt/src/index.node.ts`);
  await core.init();
  const config = gptPkg.gptConfig({ vocabSize: 512, contextLength: 64, embDim: 64, nHeads: 4, nLayers: 2, dropRate: 0, qkvBias: false, tieWeights: false });
  const model = new gptPkg.GPTModel(config);
  const opt = new core.AdamW(model.parameters(), { lr: 1e-3 });
  const B = 4, T = 64;
  const r = core.seededRandom(1);
  const batch = { inputs: Int32Array.from({ length: B * T }, () => Math.floor(r() * 512)), targets: Int32Array.from({ length: B * T }, () => Math.floor(r() * 512)), shape: [B, T] as const };
  const step = async () => {
    const loss = gptPkg.batchLoss(model, batch);
    loss.backward();
    opt.step();
    opt.zeroGrad();
    const v = await loss.item();
    loss.dispose();
    return v;
  };
  for (let i = 0; i < 5; i++) await step();
  const dev = core.gpu().device;
  const orig = dev.createBuffer.bind(dev);
  let created = 0;
  dev.createBuffer = (d: GPUBufferDescriptor) => { created++; return orig(d); };
  for (let i = 0; i < 5; i++) await step();
  dev.createBuffer = orig;
  console.log(`BUFFERS created per step after warm-up: ${created / 5}`);
  const times: number[] = [];
  for (let i = 0; i < Number(process.env.STEPS ?? 40); i++) { const t0 = performance.now(); await step(); times.push(performance.now() - t0); }
  times.sort((a, b) => a - b);
  // createBuffer micro-cost: with and without an error scope
  const { device } = core.gpu();
  const N = 2000;
  let t0 = performance.now();
  for (let i = 0; i < N; i++) device.createBuffer({ size: 256, usage: 0x80 }).destroy();
  const plain = (performance.now() - t0) / N;
  t0 = performance.now();
  for (let i = 0; i < N; i++) { device.pushErrorScope('out-of-memory'); const b = device.createBuffer({ size: 256, usage: 0x80 }); device.popErrorScope().then(() => b.destroy()); }
  await core.sync();
  const scoped = (performance.now() - t0) / N;
  console.log(`BENCH ${root}: step median ${times[times.length >> 1].toFixed(2)} ms, p25 ${times[times.length >> 2].toFixed(2)}, p75 ${times[(3 * times.length) >> 2].toFixed(2)}; createBuffer ${(plain * 1000).toFixed(1)} us plain, ${(scoped * 1000).toFixed(1)} us with error scope; mem ${JSON.stringify(core.memory())}`);
});
