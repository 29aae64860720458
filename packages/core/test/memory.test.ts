import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, add, clipGradNorm, fromArray, GELU, init, keep, Linear, memory, mean, Module, mul, noGrad, peakMemory, resetPeakMemory, randn, scope, Sequential, sub, sync, zeros, type Tensor } from '../src/node';

beforeAll(async () => {
  await init();
});

describe('peakMemory', () => {
  it('is the high-water mark of live bytes: it sees a temporary that memory() before and after cannot', () => {
    resetPeakMemory();
    const start = memory().liveBytes;
    expect(peakMemory()).toBe(start);
    const n = 1031; // 4124 bytes → one 4352-byte buffer (256-byte granules)
    scope(() => {
      const a = zeros([n]);
      const b = add(a, a);
      void b;
    });
    expect(memory().liveBytes).toBe(start);
    expect(peakMemory()).toBe(start + 2 * 4352);
    resetPeakMemory();
    expect(peakMemory()).toBe(start);
  });
});

describe('scopes', () => {
  it('free everything created inside except the returned value, also across await', async () => {
    const before = memory();
    const kept = await scope(async () => {
      const a = randn([100], { seed: 1 });
      const b = add(a, a);
      await b.toArray(); // an await in the middle
      const c = mul(b, b);
      return { c, list: [sub(c, a)] };
    });
    expect(memory().liveTensors).toBe(before.liveTensors + 2);
    const nested = scope(() => {
      const inner = scope(() => randn([3]));
      const ignored = randn([4]);
      void ignored;
      return inner;
    });
    expect(memory().liveTensors).toBe(before.liveTensors + 3);
    const survivor = scope(() => keep(randn([5])));
    for (const t of [kept.c, kept.list[0], nested, survivor]) t.dispose();
    expect(memory().liveTensors).toBe(before.liveTensors);
    expect(memory().liveBytes).toBe(before.liveBytes);
  });
  it('disposes on throw and use-after-dispose names the tensor', async () => {
    const before = memory().liveTensors;
    let leaked: ReturnType<typeof randn> | null = null;
    expect(() =>
      scope(() => {
        leaked = randn([7, 3]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(memory().liveTensors).toBe(before);
    await expect(leaked!.toArray()).rejects.toThrow(/tensor of shape \[7, 3\] \(f32\) was used after dispose\(\)/);
    expect(() => add(leaked!, leaked!)).toThrow(/was used after dispose/);
  });
});

describe('training loop memory', () => {
  it('200 AdamW steps of a small MLP do not grow GPU memory', async () => {
    const model = new Sequential(new Linear(4, 32, { seed: 1 }), new GELU(), new Linear(32, 32, { seed: 3 }), new GELU(), new Linear(32, 1, { seed: 5 }));
    const opt = new AdamW(model.namedParameters(), { lr: 1e-2, weightDecay: 0 });
    // y = x0·x1 − x2 + 0.5·x3
    const xs = Array.from({ length: 64 * 4 }, (_, i) => Math.sin(i * 1.7));
    const ys = Array.from({ length: 64 }, (_, i) => xs[i * 4] * xs[i * 4 + 1] - xs[i * 4 + 2] + 0.5 * xs[i * 4 + 3]);
    const x = fromArray(xs, [64, 4]);
    const y = fromArray(ys, [64, 1]);
    const step = () => {
      const loss = scope(() => {
        const d = sub(model.forward(x), y);
        const l = mean(mul(d, d));
        l.backward();
        clipGradNorm(model.parameters(), 5);
        opt.step();
        return l;
      });
      opt.zeroGrad();
      return loss;
    };
    const first = step();
    const initialLoss = await first.item();
    first.dispose();
    await sync();
    const base = memory();
    let last = 0;
    for (let i = 0; i < 200; i++) {
      const loss = step();
      if (i === 199) last = await loss.item();
      loss.dispose();
    }
    await sync();
    const after = memory();
    console.log(`200 MLP steps: loss ${initialLoss.toFixed(4)} → ${last.toFixed(5)}; live tensors ${base.liveTensors} → ${after.liveTensors}, live bytes ${base.liveBytes} → ${after.liveBytes}, pooled buffers ${after.pooledBuffers}`);
    expect(after.liveTensors).toBe(base.liveTensors);
    expect(after.liveBuffers).toBe(base.liveBuffers);
    expect(after.liveBytes).toBe(base.liveBytes);
    expect(last).toBeLessThan(initialLoss / 20);
    expect(last).toBeLessThan(0.01);
  });
});

describe('module forwards run in scopes', () => {
  const mlp = () => new Sequential(new Linear(5, 16, { seed: 1 }), new GELU(), new Linear(16, 16, { seed: 2 }), new GELU(), new Linear(16, 3, { seed: 3 }));

  it('a forward keeps only its output (no graph) and frees everything else', async () => {
    const model = mlp();
    const x = randn([4, 7, 5], { seed: 4 });
    const base = memory();
    const y = noGrad(() => model.forward(x));
    expect(memory().liveTensors).toBe(base.liveTensors + 1);
    y.dispose();
    expect(memory().liveBytes).toBe(base.liveBytes);
    model.dispose();
    x.dispose();
  });

  it('a forward with gradients on, never backpropagated, leaves nothing live after the caller\'s scope', async () => {
    const model = mlp();
    const x = randn([4, 7, 5], { seed: 4 });
    await sync();
    const base = memory();
    scope(() => {
      const y = model.forward(x);
      expect(y.requiresGrad).toBe(true);
      expect(y.gradNode).not.toBeNull();
    });
    expect(memory().liveTensors).toBe(base.liveTensors);
    expect(memory().liveBytes).toBe(base.liveBytes);
    // The same forward, backpropagated, still reaches every parameter through the freed intermediates.
    scope(() => mean(model.forward(x)).backward());
    expect(model.parameters().every((p) => p.grad !== null)).toBe(true);
    model.zeroGrad();
    expect(memory().liveTensors).toBe(base.liveTensors);
    model.dispose();
    x.dispose();
  });

  it('an empty Sequential returns a new handle, never its input', () => {
    const x = fromArray([1, 2, 3]);
    const y = new Sequential().forward(x);
    expect(y).not.toBe(x);
    y.dispose();
    expect(x.isDisposed).toBe(false);
    x.dispose();
  });

  it('buffer(): kept out of scopes, not a parameter, replaced on re-registration, freed by dispose()', () => {
    class Counter extends Module {
      count: Tensor;
      constructor() {
        super();
        this.count = this.buffer('count', zeros([1]));
      }
      override forward(x: Tensor): Tensor {
        // The new count outlives the forward because it is registered.
        this.count = this.buffer('count', add(this.count, fromArray([1])));
        return add(x, this.count);
      }
    }
    const before = memory().liveTensors;
    const counter = scope(() => new Counter());
    const first = counter.count;
    expect(first.isDisposed).toBe(false);
    expect(counter.parameters()).toEqual([]);
    expect(counter.namedBuffers().map(([name]) => name)).toEqual(['count']);
    const input = fromArray([10]);
    const y = noGrad(() => counter.forward(input));
    expect(first.isDisposed).toBe(true);
    expect(counter.count.isDisposed).toBe(false);
    expect(new Sequential(counter).namedBuffers().map(([name]) => name)).toEqual(['0.count']);
    for (const t of [y, input]) t.dispose();
    counter.dispose();
    expect(counter.count.isDisposed).toBe(true);
    expect(memory().liveTensors).toBe(before);
  });
});
