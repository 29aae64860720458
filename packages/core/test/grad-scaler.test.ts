/**
 * GradScaler (dynamic loss scaling, PyTorch's GradScaler semantics): the unscale kernel against a
 * float64 reference with Inf/−Inf/NaN at the first, middle and last element of odd sizes (and across
 * binding-sized chunks); training with a power-of-two scale bitwise equal to training without it
 * (SGD, AdamW, fused AdamW); skipped steps leave parameters and optimizer state untouched; the
 * backoff/growth rule; errors; the disabled pass-through; state dicts; memory.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  add,
  AdamW,
  clipGradNorm,
  commandCounts,
  fromArray,
  GradScaler,
  init,
  mean,
  memory,
  mul,
  scope,
  SGD,
  sum,
  tanh,
  type Optimizer,
  type Tensor,
} from '../src/node';
import { setArenaBindingLimitForTests } from '../src/optim/arena';
import { expectError, randomData } from './helpers';

beforeAll(async () => {
  await init();
});

afterEach(() => {
  setArenaBindingLimitForTests(null);
});

async function bits(t: Tensor): Promise<Uint32Array> {
  return new Uint32Array((await t.toArray()).buffer);
}

function disposeAll(opt: Optimizer, params: Tensor[]): void {
  opt.dispose();
  for (const p of params) {
    p.zeroGrad();
    p.dispose();
  }
}

describe('GradScaler unscale kernel', () => {
  const SIZES = [1, 7, 37, 1031];

  /** Unscales gradients `grads` (one parameter each) with `scale`; returns the gradients after and whether it stepped. */
  async function unscaleOnce(grads: Float32Array[], scale: number): Promise<{ after: Float32Array[]; stepped: boolean; dispatches: number }> {
    const params = grads.map((g) => fromArray(new Float32Array(g.length), [g.length]).requireGrad());
    params.forEach((p, k) => (p.grad = fromArray(grads[k], [grads[k].length])));
    const opt = new SGD(params, { lr: 0 });
    const scaler = new GradScaler({ initScale: scale });
    const before = commandCounts().dispatches;
    scaler.unscale(opt);
    const dispatches = commandCounts().dispatches - before;
    const after = await Promise.all(params.map(async (p) => new Float32Array(await p.grad!.toArray())));
    const stepped = await scaler.step(opt);
    scaler.update();
    scaler.dispose();
    disposeAll(opt, params);
    return { after, stepped, dispatches };
  }

  /** float64 reference: g · fround(1/scale), rounded to f32 (Inf stays Inf, NaN stays NaN). */
  const reference = (g: Float32Array, scale: number) => Array.from(g, (x) => Math.fround(x * Math.fround(1 / scale)));

  it('multiplies by fround(1/scale) exactly (odd sizes, chunks across bindings) and flags no finite gradient', async () => {
    setArenaBindingLimitForTests(1024); // 256 elements per chunk: 1031 takes 5 dispatches
    const grads = SIZES.map((n, k) => randomData(n, 10 + k, -5e4, 5e4));
    for (const scale of [3000, 1024]) {
      const { after, stepped, dispatches } = await unscaleOnce(grads, scale);
      expect(dispatches).toBe(1 + 1 + 1 + 5);
      expect(stepped).toBe(true);
      after.forEach((a, k) => expect(Array.from(a), `size ${SIZES[k]} scale ${scale}`).toEqual(reference(grads[k], scale)));
    }
  });

  it('flags Inf, −Inf and NaN at the first, middle and last element of every size', async () => {
    setArenaBindingLimitForTests(1024);
    const values = [Infinity, -Infinity, NaN];
    for (const [k, n] of SIZES.entries()) {
      for (const [j, at] of [0, Math.floor(n / 2), n - 1].entries()) {
        const value = values[(k + j) % 3];
        const grads = SIZES.map((m, i) => randomData(m, 20 + i, -1, 1));
        grads[k][at] = value;
        const { after, stepped } = await unscaleOnce(grads, 512);
        expect(stepped, `${value} at ${at} of size ${n}`).toBe(false);
        expect(Array.from(after[k]), `size ${n}`).toEqual(reference(grads[k], 512));
      }
    }
    // Size 1 with each value.
    for (const value of values) {
      const { stepped, after } = await unscaleOnce([Float32Array.of(value)], 2);
      expect(stepped).toBe(false);
      expect(after[0][0]).toEqual(value);
    }
  });
});

/** Parameters of the toy model: sizes 37, 1, 7, 1031. */
const SHAPES = [[37], [1], [7], [1031]];

function makeParams(seed: number): Tensor[] {
  return SHAPES.map((s, k) => fromArray(randomData(s[0], seed + k, -1, 1), s).requireGrad());
}

/**
 * One backward pass of mean(tanh(a·x + b)·y) + Σ c·k + mean(tanh(d)·z) at `step` (inputs seeded by the
 * step; `bad` replaces element `at` of k, making c's gradient and the loss non-finite), scaled by `scaler`.
 */
function backwardPass(params: Tensor[], step: number, scaler: GradScaler | null, bad?: { at: number; value: number }): void {
  const [a, b, c, d] = params;
  const k = randomData(7, 300 + step, -2, 2);
  if (bad) k[bad.at] = bad.value;
  scope(() => {
    const x = fromArray(randomData(37, 100 + step, -2, 2), [37]);
    const y = fromArray(randomData(37, 200 + step, -1, 1), [37]);
    const z = fromArray(randomData(1031, 400 + step, -1, 1), [1031]);
    const loss = add(add(mean(mul(tanh(add(mul(a, x), b)), y)), sum(mul(c, fromArray(k, [7])))), mean(mul(tanh(d), z)));
    (scaler ? scaler.scale(loss) : loss).backward();
  });
}

/** `steps` training steps; with a scaler, returns whether each stepped. */
async function train(opt: Optimizer, params: Tensor[], scaler: GradScaler | null, steps: number, bad?: Map<number, { at: number; value: number }>): Promise<boolean[]> {
  const stepped: boolean[] = [];
  for (let step = 0; step < steps; step++) {
    backwardPass(params, step, scaler, bad?.get(step));
    if (scaler) {
      stepped.push(await scaler.step(opt));
      scaler.update();
    } else opt.step();
    opt.zeroGrad();
  }
  return stepped;
}

/** Parameters, state tensors and (AdamW) step counts, as bits. */
async function snapshot(opt: Optimizer, params: Tensor[]): Promise<{ params: Uint32Array[]; state: Record<string, Uint32Array>; steps: number[] | null }> {
  const state: Record<string, Uint32Array> = {};
  for (const [key, t] of opt.stateDict().tensors) state[key] = await bits(t);
  return { params: await Promise.all(params.map(bits)), state, steps: opt instanceof AdamW ? [...opt.steps] : null };
}

const OPTIMIZERS: [string, (params: Tensor[]) => Optimizer][] = [
  ['SGD (momentum, weight decay)', (p) => new SGD(p, { lr: 0.05, momentum: 0.9, weightDecay: 0.01 })],
  ['AdamW', (p) => new AdamW(p, { lr: 1e-2, weightDecay: 0.1 })],
  ['fused AdamW', (p) => new AdamW(p, { lr: 1e-2, weightDecay: 0.1, fused: true })],
];

describe('GradScaler training', () => {
  for (const [label, make] of OPTIMIZERS) {
    it(`${label}: a power-of-two scale trains bitwise as without the scaler`, async () => {
      if (label === 'fused AdamW') setArenaBindingLimitForTests(1024); // two arenas, the second in 5 chunks
      const base = memory();
      const a = makeParams(1);
      const b = makeParams(1);
      const scaled = make(a);
      const plain = make(b);
      const scaler = new GradScaler({ initScale: 1024 });
      expect(await train(scaled, a, scaler, 3)).toEqual([true, true, true]);
      await train(plain, b, null, 3);
      expect(scaler.getScale()).toBe(1024);
      expect(await snapshot(scaled, a)).toEqual(await snapshot(plain, b));
      scaler.dispose();
      disposeAll(scaled, a);
      disposeAll(plain, b);
      expect(memory().liveTensors).toBe(base.liveTensors);
      expect(memory().liveBytes).toBe(base.liveBytes);
    });
  }

  for (const [label, make] of OPTIMIZERS.slice(1)) {
    it(`${label}: a non-finite gradient skips the step (parameters and state untouched) and halves the scale`, async () => {
      const a = makeParams(2);
      const b = makeParams(2);
      const scaled = make(a);
      const plain = make(b);
      const scaler = new GradScaler({ initScale: 1024 });
      await train(scaled, a, scaler, 2);
      const before = await snapshot(scaled, a);
      // Step 2's gradient of c has an Inf (and the loss is Inf): skipped.
      backwardPass(a, 2, scaler, { at: 3, value: Infinity });
      expect(await scaler.step(scaled)).toBe(false);
      scaler.update();
      scaled.zeroGrad();
      expect(scaler.getScale()).toBe(512);
      expect(await snapshot(scaled, a)).toEqual(before);
      // The run continues as if step 2 never happened (512 is a power of two too: still exact).
      for (let step = 3; step < 5; step++) {
        backwardPass(a, step, scaler);
        expect(await scaler.step(scaled)).toBe(true);
        scaler.update();
        scaled.zeroGrad();
      }
      await train(plain, b, null, 2);
      for (let step = 3; step < 5; step++) {
        backwardPass(b, step, null);
        plain.step();
        plain.zeroGrad();
      }
      expect(await snapshot(scaled, a)).toEqual(await snapshot(plain, b));
      scaler.dispose();
      disposeAll(scaled, a);
      disposeAll(plain, b);
    });
  }

  it('unscale before step gives the true gradients to clipping (fused: one dispatch per flat buffer)', async () => {
    const a = makeParams(3);
    const b = makeParams(3);
    const scaled = new AdamW(a, { fused: true });
    const plain = new AdamW(b, { fused: true });
    const scaler = new GradScaler({ initScale: 2 ** 20 });
    backwardPass(a, 0, scaler);
    const before = commandCounts().dispatches;
    scaler.unscale(scaled);
    expect(commandCounts().dispatches - before).toBe(1); // one arena
    const normA = clipGradNorm(a, 0.5);
    expect(await scaler.step(scaled)).toBe(true);
    scaler.update();
    backwardPass(b, 0, null);
    const normB = clipGradNorm(b, 0.5);
    plain.step();
    expect(await bits(normA)).toEqual(await bits(normB));
    expect(await snapshot(scaled, a)).toEqual(await snapshot(plain, b));
    normA.dispose();
    normB.dispose();
    scaler.dispose();
    disposeAll(scaled, a);
    disposeAll(plain, b);
  });

  it('a training loop does not grow memory', async () => {
    const a = makeParams(4);
    const opt = new AdamW(a, { fused: true });
    const scaler = new GradScaler({ initScale: 256, growthInterval: 3 });
    const bad = new Map([[4, { at: 0, value: NaN }]]);
    await train(opt, a, scaler, 1);
    const steady = memory();
    const stepped = await train(opt, a, scaler, 10, bad);
    expect(stepped.filter((s) => !s)).toHaveLength(1);
    expect(memory().liveBytes).toBe(steady.liveBytes);
    expect(memory().liveTensors).toBe(steady.liveTensors);
    scaler.dispose();
    disposeAll(opt, a);
  });
});

describe('GradScaler scale updates, errors and state', () => {
  /** An SGD with lr 0 over one parameter, and a way to give it a gradient (finite or not). */
  function tiny(): { opt: SGD; p: Tensor; grad: (finite: boolean) => void; dispose: () => void } {
    const p = fromArray([1, 2, 3], [3]).requireGrad();
    const opt = new SGD([p], { lr: 0 });
    return {
      opt,
      p,
      grad: (finite) => {
        p.zeroGrad();
        p.grad = fromArray([0.5, finite ? 1 : Infinity, -2], [3]);
      },
      dispose: () => disposeAll(opt, [p]),
    };
  }

  it('backs off on overflow, grows after growthInterval clean steps, and update(newScale) sets the scale', async () => {
    const t = tiny();
    const scaler = new GradScaler({ initScale: 1024, growthInterval: 3 });
    const iteration = async (finite: boolean) => {
      t.grad(finite);
      const stepped = await scaler.step(t.opt);
      scaler.update();
      return stepped;
    };
    const trace: [boolean, number, number][] = [];
    for (const finite of [true, true, true, false, true, true]) {
      trace.push([await iteration(finite), scaler.getScale(), scaler.stateDict().growthTracker]);
    }
    expect(trace).toEqual([
      [true, 1024, 1],
      [true, 1024, 2],
      [true, 2048, 0],
      [false, 1024, 0],
      [true, 1024, 1],
      [true, 1024, 2],
    ]);
    scaler.update(100); // no inf check needed; the tracker is kept
    expect(scaler.getScale()).toBe(100);
    expect(scaler.stateDict().growthTracker).toBe(2);
    expect(await iteration(true)).toBe(true);
    expect(scaler.getScale()).toBe(200);
    scaler.update(0.1);
    expect(scaler.getScale()).toBe(Math.fround(0.1)); // an f32, like PyTorch's scale tensor
    // Growth stops short of f32 overflow (the tracker still resets).
    scaler.update(2 ** 127);
    for (let i = 0; i < 3; i++) await iteration(true);
    expect(scaler.getScale()).toBe(2 ** 127);
    expect(scaler.stateDict().growthTracker).toBe(0);
    scaler.dispose();
    t.dispose();
  });

  it('rejects bad options, naming the option', () => {
    for (const initScale of [0, -1, NaN, Infinity, 1e39, 1e-50]) expectError(() => new GradScaler({ initScale }), 'value', /initScale/);
    for (const growthFactor of [1, 0.5, Infinity, NaN]) expectError(() => new GradScaler({ growthFactor }), 'value', /growthFactor/);
    for (const backoffFactor of [0, 1, -0.5, 2, NaN]) expectError(() => new GradScaler({ backoffFactor }), 'value', /backoffFactor/);
    for (const growthInterval of [0, -3, 1.5, NaN, Infinity]) expectError(() => new GradScaler({ growthInterval }), 'value', /growthInterval/);
    expectError(() => new GradScaler({ enabled: 'yes' as unknown as boolean }), 'value', /enabled/);
    expect(new GradScaler().getScale()).toBe(65536);
  });

  it('rejects calls out of order', async () => {
    const t = tiny();
    const scaler = new GradScaler();
    expectError(() => scaler.update(), 'state', /no inf checks were recorded/);
    t.grad(true);
    scaler.unscale(t.opt);
    expectError(() => scaler.unscale(t.opt), 'state', /already been called/);
    expectError(() => scaler.update(), 'state', /unscaled but not stepped/);
    expect(await scaler.step(t.opt)).toBe(true);
    await expect(scaler.step(t.opt)).rejects.toThrow(/step\(\) has already been called/);
    expectError(() => scaler.unscale(t.opt), 'state', /after step\(\)/);
    scaler.update();
    expectError(() => scaler.update(), 'state', /no inf checks were recorded/);
    expectError(() => scaler.update(-1), 'value', /newScale/);
    // After update the next iteration starts afresh.
    t.grad(true);
    expect(await scaler.step(t.opt)).toBe(true);
    scaler.update();
    scaler.dispose();
    expectError(() => scaler.unscale(t.opt), 'disposed', /after dispose/);
    t.dispose();
  });

  it('disabled: a pass-through (scale 1, a view of the loss, step always steps)', async () => {
    const t = tiny();
    const scaler = new GradScaler({ enabled: false, initScale: 8 });
    expect(scaler.getScale()).toBe(1);
    const loss = scope(() => sum(mul(t.p, t.p)));
    const view = scaler.scale(loss);
    expect(Array.from(await view.toArray())).toEqual([14]);
    view.backward();
    expect(Array.from(await t.p.grad!.toArray())).toEqual([2, 4, 6]);
    view.dispose();
    loss.dispose();
    t.grad(false);
    scaler.unscale(t.opt); // nothing
    expect(Array.from(await t.p.grad!.toArray())).toEqual([0.5, Infinity, -2]);
    expect(await scaler.step(t.opt)).toBe(true);
    expect(await scaler.step(t.opt)).toBe(true);
    scaler.update();
    expect(scaler.getScale()).toBe(1);
    scaler.dispose();
    t.dispose();
  });

  it('scale(loss) is loss × scale, recorded for autograd', async () => {
    const t = tiny();
    const scaler = new GradScaler({ initScale: 3 });
    const scaled = scope(() => scaler.scale(sum(mul(t.p, t.p))));
    expect(Array.from(await scaled.toArray())).toEqual([42]);
    scaled.backward();
    expect(Array.from(await t.p.grad!.toArray())).toEqual([6, 12, 18]);
    expect(await scaler.step(t.opt)).toBe(true);
    expect(Array.from(await t.p.grad!.toArray())).toEqual([2, 4, 6].map((g) => Math.fround(g * 3 * Math.fround(1 / 3))));
    scaled.dispose();
    scaler.dispose();
    t.dispose();
  });

  it('stateDict round-trips through JSON; loadStateDict validates before changing anything', async () => {
    const t = tiny();
    const scaler = new GradScaler({ initScale: 4096, growthFactor: 4, backoffFactor: 0.25, growthInterval: 5 });
    for (const finite of [true, true, false, true]) {
      t.grad(finite);
      await scaler.step(t.opt);
      scaler.update();
    }
    const saved = JSON.parse(JSON.stringify(scaler.stateDict()));
    expect(saved).toEqual({ scale: 1024, growthFactor: 4, backoffFactor: 0.25, growthInterval: 5, growthTracker: 1 });
    const restored = new GradScaler();
    restored.loadStateDict(saved);
    expect(restored.stateDict()).toEqual(saved);
    expect(restored.getScale()).toBe(1024);
    const good = restored.stateDict();
    expectError(() => restored.loadStateDict({ ...saved, growthTracker: 5 }), 'value', /growthTracker/);
    expectError(() => restored.loadStateDict({ ...saved, scale: 0 }), 'value', /scale/);
    expectError(() => restored.loadStateDict({ ...saved, backoffFactor: 1 }), 'value', /backoffFactor/);
    expectError(() => restored.loadStateDict({ ...saved, growthInterval: undefined as unknown as number }), 'value', /growthInterval/);
    expectError(() => restored.loadStateDict(null as never), 'format', /object/);
    expect(restored.stateDict()).toEqual(good);
    scaler.dispose();
    restored.dispose();
    t.dispose();
  });
});
