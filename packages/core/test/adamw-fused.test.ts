/**
 * Fused AdamW (`fused: true`): parameters packed into flat buffers, gradients accumulated in place by
 * backward, one dispatch per binding-sized chunk. Checked bitwise against the unfused optimizer on
 * odd sizes, with real backward passes (skipped parameters, accumulation over two passes, zeroGrad),
 * several arenas and chunked parameters (small binding limit), state dicts, clipping, memory and the
 * dispatch count.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AdamW, add, clipGradNorm, commandCounts, fromArray, init, memory, mul, peakMemory, recordCopy, resetPeakMemory, scope, sum, type Tensor } from '../src/node';
import { arenaBindingBytes, setArenaBindingLimitForTests } from '../src/optim/arena';
import { randomData } from './helpers';

beforeAll(async () => {
  await init();
});

afterEach(() => {
  setArenaBindingLimitForTests(null);
});

const SHAPES = [[1], [7], [37], [1031], [3, 5], [300]];

function makeParams(seed: number): Tensor[] {
  return SHAPES.map((s, k) => fromArray(randomData(s.reduce((a, b) => a * b, 1), seed + k, -1, 1), s).requireGrad());
}

/** Coefficients of a linear loss Σ c·p: the gradient of parameter k at a step is `coef(step, k)`. */
function coef(step: number, k: number): Float32Array {
  const n = SHAPES[k].reduce((a, b) => a * b, 1);
  return randomData(n, 1000 + 17 * step + k, -3, 3);
}

/** One backward pass of Σ_k c_k·p_k over the parameters `which` (the others get no gradient). */
function backwardPass(params: Tensor[], step: number, which: (k: number) => boolean): void {
  scope(() => {
    let loss: Tensor | null = null;
    params.forEach((p, k) => {
      if (!which(k)) return;
      const term = sum(mul(p, fromArray(coef(step, k), SHAPES[k])));
      loss = loss ? add(loss, term) : term;
    });
    loss!.backward();
  });
}

/** A schedule of backward passes: parameter 2 skips step 1, step 2 accumulates two passes. */
function train(opt: AdamW, params: Tensor[], steps: number): void {
  for (let step = 0; step < steps; step++) {
    backwardPass(params, step, (k) => !(step === 1 && k === 2));
    if (step === 2) backwardPass(params, step + 100, () => true);
    opt.step();
    opt.zeroGrad();
  }
}

async function bits(t: Tensor): Promise<Uint32Array> {
  return new Uint32Array((await t.toArray()).buffer);
}

async function expectSameState(a: AdamW, b: AdamW): Promise<void> {
  expect(a.steps).toEqual(b.steps);
  const sa = a.stateDict().tensors;
  const sb = b.stateDict().tensors;
  for (let k = 0; k < a.params.length; k++) {
    expect(await bits(a.params[k]), `param ${k}`).toEqual(await bits(b.params[k]));
    for (const key of [`${k}.exp_avg`, `${k}.exp_avg_sq`]) expect(await bits(sa.get(key)!), key).toEqual(await bits(sb.get(key)!));
  }
}

function disposeAll(opt: AdamW, params: Tensor[]): void {
  opt.dispose();
  for (const p of params) {
    p.zeroGrad();
    p.dispose();
  }
}

describe('fused AdamW', () => {
  it('is bitwise the unfused optimizer (odd sizes, skipped parameter, accumulation, weight decay)', async () => {
    const base = memory();
    const a = makeParams(1);
    const b = makeParams(1);
    const options = { lr: 3e-2, weightDecay: 0.1, betas: [0.8, 0.95] as [number, number], eps: 1e-6 };
    const fused = new AdamW(a, { ...options, fused: true });
    const plain = new AdamW(b, options);
    expect([fused.fused, plain.fused]).toEqual([true, false]);
    train(fused, a, 4);
    train(plain, b, 4);
    expect(fused.steps).toEqual([4, 4, 3, 4, 4, 4]);
    await expectSameState(fused, plain);
    // zeroGrad empties the gradients; a step without any then changes nothing and counts nothing.
    expect(a.every((p) => p.grad === null)).toBe(true);
    const before = await bits(a[3]);
    fused.step();
    expect(await bits(a[3])).toEqual(before);
    expect(fused.steps).toEqual([4, 4, 3, 4, 4, 4]);
    disposeAll(fused, a);
    disposeAll(plain, b);
    expect(memory().liveTensors).toBe(base.liveTensors);
    expect(memory().liveBytes).toBe(base.liveBytes);
  });

  it('splits into several arenas and chunks a parameter larger than a binding, one dispatch per chunk', async () => {
    setArenaBindingLimitForTests(1024); // 256 elements: 1031 and 300 are chunked, the rest share arenas
    expect(arenaBindingBytes()).toBe(1024);
    const a = makeParams(5);
    const b = makeParams(5);
    const fused = new AdamW(a, { lr: 1e-2, fused: true });
    const plain = new AdamW(b, { lr: 1e-2 });
    // Arenas: [1, 7, 37] (3·64 elements), [3, 5], 1031 (5 chunks), 300 (2 chunks): 9 chunks.
    backwardPass(a, 0, () => true);
    const before = commandCounts().dispatches;
    fused.step();
    const dispatches = commandCounts().dispatches - before;
    console.log(`fused AdamW step over ${a.length} parameters in 9 binding-sized chunks: ${dispatches} dispatches`);
    expect(dispatches).toBe(9);
    fused.zeroGrad();
    train(fused, a, 3);
    backwardPass(b, 0, () => true);
    plain.step();
    plain.zeroGrad();
    train(plain, b, 3);
    await expectSameState(fused, plain);
    disposeAll(fused, a);
    disposeAll(plain, b);
  });

  it('takes gradients assigned by hand, and keeps a gradient when disposed', async () => {
    const a = makeParams(9);
    const b = makeParams(9);
    const fused = new AdamW(a, { fused: true });
    const plain = new AdamW(b);
    for (const [ps, opt] of [[a, fused], [b, plain]] as const) {
      ps.forEach((p, k) => (p.grad = k === 1 ? null : fromArray(coef(0, k), SHAPES[k])));
      opt.step();
    }
    await expectSameState(fused, plain);
    // A parameter with a gradient in the flat buffer keeps it when the optimizer goes.
    for (const p of a) p.zeroGrad();
    backwardPass(a, 1, (k) => k === 0);
    fused.dispose();
    expect(Array.from(await a[0].grad!.toArray())).toEqual(Array.from(coef(1, 0)));
    for (const p of a) {
      p.zeroGrad();
      p.dispose();
    }
    disposeAll(plain, b);
  });

  it('state dict round trip: a fused optimizer resumes from unfused state and back', async () => {
    const a = makeParams(3);
    const b = makeParams(3);
    const first = new AdamW(a, { lr: 1e-2, fused: true });
    const reference = new AdamW(b, { lr: 1e-2 });
    train(first, a, 2);
    train(reference, b, 2);
    // Saved views of the flat buffers load into an unfused optimizer, whose state loads into a fused one.
    const c = makeParams(3);
    const unfused = new AdamW(c, { lr: 1e-2 });
    unfused.loadStateDict(first.stateDict());
    const d = makeParams(3);
    const refused = new AdamW(d, { lr: 1e-2, fused: true });
    refused.loadStateDict(unfused.stateDict());
    refused.loadStateDict(refused.stateDict()); // its own state: a no-op
    // Bring the parameters along (module state dicts copy the same way).
    for (let k = 0; k < a.length; k++) recordCopy(a[k].buffer, a[k].byteOffset, d[k].buffer, d[k].byteOffset, a[k].byteLength);
    train(refused, d, 2);
    train(reference, b, 2);
    await expectSameState(refused, reference);
    for (const [opt, ps] of [[first, a], [reference, b], [unfused, c], [refused, d]] as const) disposeAll(opt, ps);
  });

  it('clipGradNorm on gradients in the flat buffer matches the unfused path (whole buffer, or per gradient)', async () => {
    for (const skip of [-1, 4]) {
      const a = makeParams(4);
      const b = makeParams(4);
      const fused = new AdamW(a, { fused: true });
      const plain = new AdamW(b);
      backwardPass(a, 0, (k) => k !== skip);
      backwardPass(b, 0, (k) => k !== skip);
      const before = commandCounts().dispatches;
      const na = clipGradNorm(a, 1.5);
      const dispatches = commandCounts().dispatches - before;
      // Every parameter has its gradient: sumsq, clip_factor, clip_grads over the one flat buffer.
      if (skip < 0) expect(dispatches).toBe(3);
      else expect(dispatches).toBe(2 * (a.length - 1) + 1);
      const nb = clipGradNorm(b, 1.5);
      expect(Math.abs((await na.item()) - (await nb.item()))).toBeLessThan(1e-5 * (await nb.item()));
      for (let k = 0; k < a.length; k++) {
        if (k === skip) {
          expect(a[k].grad).toBeNull();
          continue;
        }
        const ga = await a[k].grad!.toArray();
        const gb = await b[k].grad!.toArray();
        for (let i = 0; i < ga.length; i++) expect(Math.abs(ga[i] - gb[i])).toBeLessThanOrEqual(1e-6 * Math.abs(gb[i]) + 1e-12);
      }
      na.dispose();
      nb.dispose();
      disposeAll(fused, a);
      disposeAll(plain, b);
    }
  });

  it('a training loop does not grow memory', async () => {
    const a = makeParams(6);
    const opt = new AdamW(a, { fused: true });
    const round = () => {
      backwardPass(a, 0, () => true);
      scope(() => {
        clipGradNorm(a, 1);
      });
      opt.step();
      opt.zeroGrad();
    };
    round();
    await a[0].toArray();
    const steady = memory();
    for (let i = 0; i < 5; i++) round();
    await a[0].toArray();
    expect(memory().liveBytes).toBe(steady.liveBytes);
    expect(memory().liveTensors).toBe(steady.liveTensors);
    disposeAll(opt, a);
  });

  it('backward holds gradients once: each lands in its slot as it arrives (peak ≤ unfused + one gradient)', async () => {
    const n = 1 << 16;
    const peakOfBackward = async (fused: boolean): Promise<number> => {
      const params = [0, 1, 2, 3].map((k) => fromArray(randomData(n, 40 + k, -1, 1), [n]).requireGrad());
      const coefs = [0, 1, 2, 3].map((k) => fromArray(randomData(n, 50 + k, -1, 1), [n]));
      const opt = new AdamW(params, { fused });
      await params[0].toArray();
      resetPeakMemory();
      scope(() => {
        const terms = params.map((p, k) => sum(mul(p, coefs[k])));
        terms.reduce((a, b) => add(a, b)).backward();
      });
      await params[0].toArray();
      const peak = peakMemory();
      expect(params.every((p) => p.grad !== null)).toBe(true);
      disposeAll(opt, params);
      for (const c of coefs) c.dispose();
      return peak;
    };
    const plain = await peakOfBackward(false);
    const fused = await peakOfBackward(true);
    // The flat gradient buffer is allocated up front; without landing as they arrive, the four
    // gradients would also exist aside at the end of the walk (plain + 4n·4 bytes).
    expect(fused).toBeLessThanOrEqual(plain + n * 4 + 4096);
  });

  it('refuses parameters it cannot move, with a clear error; auto falls back', () => {
    const a = makeParams(7);
    const view = a[2].reshape([37, 1]);
    expect(() => new AdamW(a, { fused: true })).toThrow(/AdamW fused: parameter '2' shares its GPU storage/);
    const auto = new AdamW(a, { fused: 'auto' });
    expect(auto.fused).toBe(false);
    auto.dispose();
    view.dispose();
    const first = new AdamW(a, { fused: 'auto' });
    expect(first.fused).toBe(true);
    expect(() => new AdamW(a, { fused: true })).toThrow(/parameter '0' already belongs to another fused optimizer/);
    first.dispose();
    const second = new AdamW(a, { fused: true }); // the first one let go
    disposeAll(second, a);
  });
});
