import { beforeAll, describe, expect, it } from 'vitest';
import {
  Dropout,
  Embedding,
  fromArray,
  GELU,
  init,
  LayerNorm,
  Linear,
  mean,
  memory,
  Module,
  ModuleList,
  mul,
  mulScalar,
  noGrad,
  ReLU,
  scope,
  Sequential,
  sub,
  sum,
  type Tensor,
} from '../src/node';
import { layerNormRef, matmulRef } from '../src/testing';
import { expectClose, randomData, randomTensor } from './helpers';

beforeAll(async () => {
  await init();
});

class Attention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  constructor(c: number, seed: number) {
    super();
    this.qkv = this.module('qkv', new Linear(c, 3 * c, { seed }));
    this.proj = this.module('proj', new Linear(3 * c, c, { seed: seed + 10 }));
  }
  override forward(x: Tensor): Tensor {
    return scope(() => this.proj.forward(this.qkv.forward(x)));
  }
}

class Block extends Module {
  readonly ln: LayerNorm;
  readonly attn: Attention;
  readonly drop: Dropout;
  constructor(c: number, seed: number) {
    super();
    this.ln = this.module('ln', new LayerNorm(c));
    this.attn = this.module('attn', new Attention(c, seed));
    this.drop = this.module('drop', new Dropout(0.5));
  }
  override forward(x: Tensor): Tensor {
    return scope(() => this.drop.forward(this.attn.forward(this.ln.forward(x))));
  }
}

class Tower extends Module {
  readonly scale: Tensor;
  readonly blocks: ModuleList<Block>;
  constructor(c: number, n: number, seed = 1) {
    super();
    this.scale = this.param('scale', fromArray(new Float32Array(c).fill(1)));
    this.blocks = this.module('blocks', new ModuleList(Array.from({ length: n }, (_, i) => new Block(c, seed + 100 * i))));
  }
  override forward(x: Tensor): Tensor {
    return scope(() => {
      let h = mul(x, this.scale);
      for (const block of this.blocks) h = block.forward(h);
      return h;
    });
  }
}

async function values(t: Tensor): Promise<number[]> {
  return Array.from(await t.toArray());
}

/** Runs `m.forward(x)` without a graph, reads the output back and frees it. */
async function run(m: Module, x: Tensor): Promise<number[]> {
  const y = noGrad(() => m.forward(x));
  const out = await values(y);
  y.dispose();
  return out;
}

describe('Module: registration and names', () => {
  it('Sequential(Linear(3,5), GELU, Linear(5,2)) names and counts', () => {
    const model = new Sequential(new Linear(3, 5), new GELU(), new Linear(5, 2));
    expect(model.namedParameters().map(([n, t]) => [n, t.shape])).toEqual([
      ['0.weight', [5, 3]],
      ['0.bias', [5]],
      ['2.weight', [2, 5]],
      ['2.bias', [2]],
    ]);
    expect(model.numParameters()).toBe(3 * 5 + 5 + 5 * 2 + 2);
    expect(model.parameters().every((t) => t.requiresGrad && t.isLeaf)).toBe(true);
    expect(model.namedChildren().map(([n]) => n)).toEqual(['0', '1', '2']);
    model.dispose();
  });

  it('nested modules and ModuleList give dotted names in registration order', () => {
    const model = new Tower(4, 2);
    const names = model.namedParameters().map(([n]) => n);
    const block = (i: number) => [
      `blocks.${i}.ln.weight`,
      `blocks.${i}.ln.bias`,
      `blocks.${i}.attn.qkv.weight`,
      `blocks.${i}.attn.qkv.bias`,
      `blocks.${i}.attn.proj.weight`,
      `blocks.${i}.attn.proj.bias`,
    ];
    expect(names).toEqual(['scale', ...block(0), ...block(1)]);
    expect([...model.stateDict().keys()]).toEqual(names);
    expect(model.blocks.length).toBe(2);
    expect(model.blocks.at(-1)).toBe(model.blocks.at(1));
    expect(() => model.blocks.at(2)).toThrow(/index 2 is out of range \(length 2\)/);
    expect(() => model.blocks.forward()).toThrow(/ModuleList has no forward/);
    expect(model.namedModules().map(([n]) => n)).toContain('blocks.1.attn.qkv');
    expect(model.numParameters()).toBe(4 + 2 * (4 + 4 + 4 * 12 + 12 + 12 * 4 + 4));
    model.dispose();
  });

  it('rejects duplicate and dotted names, and non-leaf or non-f32 parameters', () => {
    class Bad extends Module {
      constructor(kind: 'dup' | 'dot' | 'op' | 'int') {
        super();
        const t = fromArray([1, 2]);
        if (kind === 'dup') {
          this.param('w', t);
          this.module('w', new GELU());
        } else if (kind === 'dot') this.param('a.b', t);
        else if (kind === 'op') this.param('w', mulScalar(t.requireGrad(), 2));
        else this.param('w', fromArray([1], [1], { dtype: 'i32' }));
      }
      override forward(x: Tensor): Tensor {
        return x;
      }
    }
    expect(() => new Bad('dup')).toThrow(/Bad: 'w' is already registered/);
    expect(() => new Bad('dot')).toThrow(/Bad: invalid name 'a.b'/);
    expect(() => new Bad('op')).toThrow(/parameter 'w' is the output of an op/);
    expect(() => new Bad('int')).toThrow(/parameter 'w' must be f32, got i32/);
  });

  it('tied parameters are listed once', () => {
    class Tied extends Module {
      readonly a: Linear;
      readonly w: Tensor;
      constructor() {
        super();
        this.a = this.module('a', new Linear(2, 3));
        this.w = this.param('head', this.a.weight);
      }
      override forward(x: Tensor): Tensor {
        return x;
      }
    }
    const m = new Tied();
    expect(m.namedParameters().map(([n]) => n)).toEqual(['head', 'a.bias']);
    expect(m.numParameters()).toBe(9);
    m.dispose();
  });

  it('parameters survive scopes; dispose() frees them', () => {
    const before = memory().liveTensors;
    const model = scope(() => new Sequential(new Linear(3, 4), new ReLU(), new LayerNorm(4)));
    expect(memory().liveTensors).toBe(before + 4);
    expect(model.parameters().some((t) => t.isDisposed)).toBe(false);
    model.dispose();
    expect(memory().liveTensors).toBe(before);
    expect(model.parameters().every((t) => t.isDisposed)).toBe(true);
  });
});

describe('Module: state dict', () => {
  it('round trip into a fresh model gives identical outputs (parameter tensors kept)', async () => {
    const before = memory().liveTensors;
    const a = new Tower(6, 2, 1).eval();
    const b = new Tower(6, 2, 77).eval();
    const { t: x } = randomTensor([2, 3, 6], 5);
    const ya = await run(a, x);
    const yb0 = await run(b, x);
    expect(yb0).not.toEqual(ya);
    const paramsBefore = b.parameters();
    const result = b.loadStateDict(a.stateDict());
    expect(result).toEqual({ missing: [], unexpected: [] });
    expect(b.parameters()).toEqual(paramsBefore);
    expect(b.parameters().every((t, i) => t === paramsBefore[i])).toBe(true);
    expect(await run(b, x)).toEqual(ya);
    // the copies are independent of the source
    a.dispose();
    expect(await run(b, x)).toEqual(ya);
    // a plain record works too
    const c = new Tower(6, 2, 3).eval();
    c.loadStateDict(Object.fromEntries(b.stateDict()));
    expect(await run(c, x)).toEqual(ya);
    for (const [name, t] of c.stateDict()) expect(await values(t), name).toEqual(await values(b.stateDict().get(name)!));
    b.dispose();
    c.dispose();
    x.dispose();
    expect(memory().liveTensors).toBe(before);
  });

  it('strict loading reports missing, unexpected and wrong-shaped keys in one error', () => {
    const model = new Sequential(new Linear(3, 5), new GELU(), new Linear(5, 2));
    const dict = new Map(model.stateDict());
    const wrong = fromArray(new Float32Array(6), [2, 3]);
    const extra = fromArray([1]);
    dict.delete('0.bias');
    dict.set('2.weight', wrong);
    dict.set('3.weight', extra);
    let message = '';
    try {
      model.loadStateDict(dict);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('Sequential.loadStateDict failed');
    expect(message).toContain('missing keys: 0.bias');
    expect(message).toContain('unexpected keys: 3.weight');
    expect(message).toContain('2.weight: expected [2, 5] f32, got [2, 3] f32');
    // non-strict: key mismatches are returned, shapes still checked
    expect(() => model.loadStateDict(dict, { strict: false })).toThrow(/shape mismatches: 2\.weight: expected \[2, 5\]/);
    expect(() => model.loadStateDict(dict, { strict: false })).not.toThrow(/missing/);
    dict.delete('2.weight');
    expect(model.loadStateDict(dict, { strict: false })).toEqual({ missing: ['0.bias', '2.weight'], unexpected: ['3.weight'] });
    const ints = new Map(model.stateDict());
    const idx = fromArray([1, 2], [2], { dtype: 'i32' });
    ints.set('2.bias', idx);
    expect(() => model.loadStateDict(ints)).toThrow(/2\.bias: expected \[2\] f32, got \[2\] i32/);
    for (const t of [wrong, extra, idx]) t.dispose();
    model.dispose();
  });

  it('non-strict loading copies the keys that match', async () => {
    const a = new Linear(4, 3, { seed: 1 });
    const b = new Linear(4, 3, { seed: 2 });
    const biasBefore = await values(b.bias!);
    expect(b.loadStateDict({ weight: a.weight }, { strict: false })).toEqual({ missing: ['bias'], unexpected: [] });
    expect(await values(b.weight)).toEqual(await values(a.weight));
    expect(await values(b.bias!)).toEqual(biasBefore);
    a.dispose();
    b.dispose();
  });
});

describe('Module: modes and freezing', () => {
  it('train()/eval() recurse and toggle Dropout', async () => {
    const model = new Sequential(new Linear(8, 8, { seed: 3 }), new Sequential(new Dropout(0.5)));
    const inner = model.layers[1] as Sequential;
    const drop = inner.layers[0];
    expect(drop.training).toBe(true);
    const x = fromArray(randomData(64 * 8, 2, 0.5, 1.5), [64, 8]);
    const lin = await run(model.layers[0], x);
    model.eval();
    expect([model.training, inner.training, drop.training]).toEqual([false, false, false]);
    expect(await run(model, x)).toEqual(lin);
    model.train();
    expect(drop.training).toBe(true);
    const dropped = await run(model, x);
    const zeros = dropped.filter((v, i) => v === 0 && lin[i] !== 0).length;
    expect(zeros).toBeGreaterThan(64 * 8 * 0.3);
    expect(zeros).toBeLessThan(64 * 8 * 0.7);
    dropped.forEach((v, i) => {
      if (v !== 0) expect(v).toBeCloseTo(2 * lin[i], 5);
    });
    model.train(false);
    expect(drop.training).toBe(false);
    model.dispose();
    x.dispose();
  });

  it('frozen parameters get no gradient; numParameters counts trainable ones', async () => {
    const model = new Sequential(new Linear(3, 5, { seed: 1 }), new GELU(), new Linear(5, 2, { seed: 2 }));
    const [first, , last] = model.layers as [Linear, Module, Linear];
    first.requiresGrad(false);
    last.bias!.requiresGrad = false;
    expect(model.numParameters({ trainableOnly: true })).toBe(5 * 2);
    expect(model.numParameters()).toBe(32);
    const { t: x } = randomTensor([4, 3], 1);
    const loss = scope(() => sum(model.forward(x)));
    loss.backward();
    expect(first.weight.grad).toBeNull();
    expect(first.bias!.grad).toBeNull();
    expect(last.bias!.grad).toBeNull();
    expect(last.weight.grad).not.toBeNull();
    model.zeroGrad();
    expect(last.weight.grad).toBeNull();
    model.requiresGrad(true);
    expect(model.numParameters({ trainableOnly: true })).toBe(32);
    loss.dispose();
    x.dispose();
    model.dispose();
  });
});

describe('layers vs float64 references', () => {
  it('Linear forward and backward', async () => {
    for (const [shape, inF, outF, bias] of [
      [[1, 1], 1, 1, true],
      [[2, 3, 7], 7, 5, true],
      [[13, 17], 17, 3, false],
    ] as [number[], number, number, boolean][]) {
      const layer = new Linear(inF, outF, { bias, seed: 11 });
      const w = await layer.weight.toArray();
      const b = bias ? await layer.bias!.toArray() : new Float32Array(outF);
      const { t: x, data: xd } = randomTensor(shape, 4);
      x.requireGrad();
      const y = layer.forward(x);
      expect(y.shape).toEqual([...shape.slice(0, -1), outF]);
      const rows = xd.length / inF;
      const mm = matmulRef(xd, [rows, inF], w, [outF, inF], { transB: true }).data;
      const expected = mm.map((v, i) => v + b[i % outF]);
      expectClose(await y.toArray(), expected, { rtol: 1e-5, atol: 1e-6, label: `Linear ${shape} forward` });
      // backward: dx = g·W, dW = gᵀ·x, db = Σ g over rows
      const gd = randomData(rows * outF, 8);
      const g = fromArray(gd, y.shape);
      y.backward(g);
      g.dispose();
      const dx = matmulRef(gd, [rows, outF], w, [outF, inF]).data;
      const dw = matmulRef(gd, [rows, outF], xd, [rows, inF], { transA: true }).data;
      const db = new Float64Array(outF);
      gd.forEach((v, i) => (db[i % outF] += v));
      expectClose(await x.grad!.toArray(), dx, { rtol: 1e-4, atol: 1e-5, label: 'dx' });
      expectClose(await layer.weight.grad!.toArray(), dw, { rtol: 1e-4, atol: 1e-5, label: 'dW' });
      if (bias) expectClose(await layer.bias!.grad!.toArray(), db, { rtol: 1e-4, atol: 1e-5, label: 'db' });
      x.zeroGrad();
      x.dispose();
      y.dispose();
      layer.dispose();
    }
    const layer = new Linear(4, 2);
    const flat = fromArray([1, 2, 3, 4], [4]);
    const narrow = fromArray([1, 2, 3], [1, 3]);
    expect(() => layer.forward(flat)).toThrow(/Linear\(4, 2\) expects input \[\.\.\., 4\] .*got \[4\]/);
    expect(() => layer.forward(narrow)).toThrow(/got \[1, 3\]/);
    for (const t of [flat, narrow]) t.dispose();
    layer.dispose();
  });

  it('Linear init is uniform(±1/√in), seeded', async () => {
    const a = new Linear(64, 50, { seed: 5 });
    const b = new Linear(64, 50, { seed: 5 });
    const w = Array.from(await a.weight.toArray());
    const bound = 1 / 8;
    expect(w.every((v) => Math.abs(v) <= bound)).toBe(true);
    expect(Math.max(...w)).toBeGreaterThan(0.9 * bound);
    expect(Math.min(...w)).toBeLessThan(-0.9 * bound);
    expect(Math.abs(w.reduce((s, v) => s + v, 0) / w.length)).toBeLessThan(0.01);
    expect(Array.from(await b.weight.toArray())).toEqual(w);
    expect((await a.bias!.toArray()).every((v) => Math.abs(v) <= bound)).toBe(true);
    expect(Array.from(await a.bias!.toArray())).not.toEqual(w.slice(0, 50));
    a.dispose();
    b.dispose();
  });

  it('LayerNorm module matches layerNormRef and names its parameters weight/bias', async () => {
    const ln = new LayerNorm(37, { eps: 1e-3 });
    expect(ln.namedParameters().map(([n]) => n)).toEqual(['weight', 'bias']);
    expect(Array.from(await ln.weight.toArray())).toEqual(new Array(37).fill(1));
    expect(Array.from(await ln.bias.toArray())).toEqual(new Array(37).fill(0));
    const { t: x, data } = randomTensor([3, 37], 6, -2, 2);
    const y = ln.forward(x);
    expectClose(await y.toArray(), layerNormRef(data, 37, undefined, undefined, 1e-3).y, { rtol: 1e-4, atol: 1e-5 });
    x.dispose();
    y.dispose();
    ln.dispose();
  });

  it('Embedding looks up rows of a normal(0, 1) weight', async () => {
    const emb = new Embedding(50, 16, { seed: 3 });
    expect(emb.namedParameters().map(([n, t]) => [n, t.shape])).toEqual([['weight', [50, 16]]]);
    const w = Array.from(await emb.weight.toArray());
    const m = w.reduce((s, v) => s + v, 0) / w.length;
    const sd = Math.sqrt(w.reduce((s, v) => s + (v - m) ** 2, 0) / w.length);
    expect(Math.abs(m)).toBeLessThan(0.15);
    expect(Math.abs(sd - 1)).toBeLessThan(0.1);
    const ids = [0, 49, 7, 7, 13, 1];
    const idt = fromArray(ids, [2, 3], { dtype: 'i32' });
    const y = emb.forward(idt);
    expect(y.shape).toEqual([2, 3, 16]);
    expect(Array.from(await y.toArray())).toEqual(ids.flatMap((i) => w.slice(i * 16, (i + 1) * 16)));
    // d/dweight Σ y·g: row i gets the sum of g over the positions holding id i (7 twice).
    const gd = randomData(6 * 16, 12);
    const g = fromArray(gd, y.shape);
    y.backward(g);
    const expected = new Float64Array(50 * 16);
    ids.forEach((id, pos) => {
      for (let j = 0; j < 16; j++) expected[id * 16 + j] += gd[pos * 16 + j];
    });
    expectClose(await emb.weight.grad!.toArray(), expected, { rtol: 1e-6, atol: 1e-7, label: 'Embedding dweight' });
    g.dispose();
    idt.dispose();
    y.dispose();
    emb.dispose();
  });
});

describe('training', () => {
  it('a tiny MLP fits XOR-like data with plain SGD', async () => {
    // Four 2-D points, targets XOR(a, b); MSE loss; SGD via loadStateDict under noGrad.
    const model = new Sequential(new Linear(2, 16, { seed: 21 }), new GELU(), new Linear(16, 1, { seed: 22 }));
    const x = fromArray([0, 0, 0, 1, 1, 0, 1, 1], [4, 2]);
    const target = fromArray([0, 1, 1, 0], [4, 1]);
    const baseline = memory().liveTensors;
    const lossOf = () =>
      scope(() => {
        const d = sub(model.forward(x), target);
        return mean(mul(d, d));
      });
    // Losses only read (no backward) are computed without a graph, so nothing is saved for one.
    const first = noGrad(lossOf);
    const initial = await first.item();
    first.dispose();
    const lr = 0.5;
    let last = initial;
    for (let step = 0; step < 400; step++) {
      const loss = lossOf();
      loss.backward();
      noGrad(() =>
        scope(() => {
          const updated = new Map(model.namedParameters().map(([n, p]) => [n, sub(p, mulScalar(p.grad!, lr))]));
          model.loadStateDict(updated);
        }),
      );
      model.zeroGrad();
      if (step % 100 === 99) last = await loss.item();
      loss.dispose();
    }
    const final = noGrad(lossOf);
    last = await final.item();
    final.dispose();
    expect(initial).toBeGreaterThan(0.1);
    expect(last).toBeLessThan(1e-3);
    // nothing leaked: only the parameters (and x/target) are alive
    expect(memory().liveTensors).toBe(baseline);
    const pred = noGrad(() => model.forward(x));
    expectClose(await pred.toArray(), [0, 1, 1, 0], { atol: 0.1, rtol: 0 });
    pred.dispose();
    model.dispose();
    x.dispose();
    target.dispose();
  });
});
