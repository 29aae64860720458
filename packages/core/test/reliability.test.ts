/**
 * Reliability regressions of issue 10 in the core (items 2, 3, 10, 13): bad token ids and non-finite
 * logits are errors (found on the GPU, thrown at the next readback, no extra readback), integer
 * uploads never wrap, GPU out-of-memory is reported with the allocation's size, and interleaved
 * async scopes are named. Device loss (item 11) has a file of its own: reliability-device-loss.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  add,
  checkTokenIds,
  crossEntropy,
  embedding,
  fromArray,
  full,
  gpu,
  init,
  memory,
  mul,
  pendingCommands,
  sampleLogits,
  scope,
  setLog,
  sync,
  Tensor,
  type LogLevel,
} from '../src/node';

beforeAll(async () => {
  await init();
});

afterEach(() => {
  setLog('warn');
});

describe('token ids (item 3)', () => {
  it('fromArray refuses integers that would wrap or truncate', async () => {
    expect(() => fromArray([2 ** 31], [1], { dtype: 'i32' })).toThrow(/fromArray: value at index 0: 2147483648 is out of range for i32 \[-2147483648, 2147483647\]/);
    expect(() => fromArray([0, -1], [2], { dtype: 'u32' })).toThrow(/fromArray: value at index 1: -1 is out of range for u32 \[0, 4294967295\]/);
    expect(() => fromArray(Uint32Array.from([1, 0xffffffff]), [2], { dtype: 'i32' })).toThrow(/value at index 1: 4294967295 is out of range for i32/);
    expect(() => fromArray([1.5], [1], { dtype: 'i32' })).toThrow(/value at index 0: 1.5 is not an integer \(dtype i32\)/);
    expect(() => full([2], 2 ** 31, { dtype: 'i32' })).toThrow(/full: 2147483648 is out of range for i32/);
    expect(() => full([2], -1, { dtype: 'u32' })).toThrow(/full: -1 is out of range for u32/);
    // The extremes are accepted and round-trip exactly.
    expect(Array.from(await fromArray([-(2 ** 31), 2 ** 31 - 1], [2], { dtype: 'i32' }).toArray())).toEqual([-(2 ** 31), 2 ** 31 - 1]);
    expect(Array.from(await fromArray([0, 2 ** 32 - 1], [2], { dtype: 'u32' }).toArray())).toEqual([0, 2 ** 32 - 1]);
  });

  it('checkTokenIds names the id, its row and column, and allows the ignore index', () => {
    expect(() => checkTokenIds([1, 2, 3, 512], 512, { shape: [2, 2] })).toThrow(/token id 512 at position 3 \(row 1, column 1\) is out of range for vocabulary size 512/);
    expect(() => checkTokenIds([1, -100, 3], 512, { what: 'target id', ignoreIndex: -100 })).not.toThrow();
    expect(() => checkTokenIds([1, -1, 3], 512, { what: 'target id', ignoreIndex: -100 })).toThrow(/target id -1 at position 1/);
  });

  it('the embedding reports an out-of-range id at the next readback, without a readback of its own', async () => {
    const table = fromArray(Float32Array.from({ length: 15 }, (_, i) => i), [5, 3]);
    const ids = fromArray([[0, 4, 1], [7, 2, -3]].flat(), [2, 3], { dtype: 'i32' });
    const rows = embedding(ids, table);
    expect(pendingCommands(), 'the check is recorded, not submitted').toBeGreaterThan(0);
    // Any readback carries the report: here one of an unrelated tensor.
    const other = full([1], 2);
    await expect(other.toArray()).rejects.toThrow(/embedding: token id 7 at position 3 of the ids is out of range for vocabulary size 5 \(2 out-of-range ids in all\)/);
    // Reported once: later readbacks succeed, and good ids report nothing.
    expect(Array.from(await other.toArray())).toEqual([2]);
    const good = embedding(fromArray([4, 0], [2], { dtype: 'i32' }), table);
    expect(Array.from(await good.toArray())).toEqual([12, 13, 14, 0, 1, 2]);
    expect(Array.from((await rows.toArray()).slice(9, 12)), 'the bad row reads as zeros').toEqual([0, 0, 0]);
  });

  it('crossEntropy reports a target outside [0, V) (PyTorch raises); -100 is still ignored', async () => {
    const logits = fromArray(Float32Array.from({ length: 15 }, (_, i) => Math.sin(i)), [3, 5]);
    const bad = crossEntropy(logits, fromArray([1, -100, 5], [3], { dtype: 'i32' }));
    await expect(bad.item()).rejects.toThrow(/crossEntropy: target 5 at row 2 is out of range for 5 classes/);
    const negative = crossEntropy(logits, fromArray([1, -1, 2], [3], { dtype: 'i32' }));
    await expect(negative.item()).rejects.toThrow(/crossEntropy: target -1 at row 1 is out of range/);
    const ok = crossEntropy(logits, fromArray([1, -100, 4], [3], { dtype: 'i32' }));
    expect(Number.isFinite(await ok.item())).toBe(true);
    const custom = crossEntropy(logits, fromArray([1, 3, 4], [3], { dtype: 'i32' }), { ignoreIndex: 3 });
    expect(Number.isFinite(await custom.item())).toBe(true);
  });
});

describe('non-finite logits (item 2, generation part)', () => {
  it('sampleLogits reports a row with NaN or +Infinity instead of returning −1 or garbage', async () => {
    const v = 37;
    const row = (f: (i: number) => number) => Float32Array.from({ length: v }, (_, i) => f(i));
    const finite = row((i) => Math.cos(i));
    for (const [label, poisoned] of [
      ['NaN', row((i) => (i === 11 ? NaN : Math.cos(i)))],
      ['all NaN', row(() => NaN)],
      ['+Infinity', row((i) => (i === 3 ? Infinity : Math.cos(i)))],
      ['only -Infinity', row(() => -Infinity)],
    ] as const) {
      const logits = fromArray([...finite, ...poisoned], [2, v]);
      for (const options of [{}, { temperature: 1, seed: 3 }, { temperature: 0.8, topK: 5, topP: 0.9, seed: 4 }]) {
        await expect(sampleLogits(logits, options).toArray(), `${label} ${JSON.stringify(options)}`).rejects.toThrow(
          /sampleLogits: row 1 of the logits \(vocabulary 37\) holds NaN or \+Infinity, or no value above -Infinity.*non-finite/,
        );
      }
    }
    // −Infinity masks some tokens (legitimate): sampling still works and never picks them.
    const masked = fromArray(row((i) => (i % 2 === 0 ? -Infinity : Math.cos(i))), [1, v]);
    const [greedy] = await sampleLogits(masked).toArray();
    expect(greedy % 2).toBe(1);
    const [drawn] = await sampleLogits(masked, { temperature: 1, seed: 9 }).toArray();
    expect(drawn % 2).toBe(1);
  });
});

/** Address-space size of this process in bytes (Linux). */
function addressSpace(): number {
  const match = /VmSize:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error('no VmSize in /proc/self/status');
  return Number(match[1]) * 1024;
}

/** Sets this process's soft address-space limit (`unlimited` or bytes), keeping the hard limit. */
function limitAddressSpace(soft: number | 'unlimited'): void {
  const result = spawnSync('prlimit', ['--pid', String(process.pid), `--as=${soft}:`], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`prlimit failed: ${result.stderr || result.error}`);
}

describe('GPU out of memory (item 10)', () => {
  it('is reported at the next readback with the allocation size and what is live, and the failed buffer is never reused', async () => {
    const baseline = memory();
    const keepAlive = full([1000], 1);
    const { adapterName, limits } = gpu();
    const software = /llvmpipe|swiftshader|lavapipe/i.test(adapterName);
    const size = limits.maxBufferSize;
    const huge: Tensor[] = [];
    if (software) {
      // The adapter's memory is this process's: cap its address space for the one allocation, so
      // the buffer really cannot be created (GL_OUT_OF_MEMORY / VK_ERROR_OUT_OF_HOST_MEMORY), fast
      // and without touching the machine's memory.
      limitAddressSpace(addressSpace() + 256 * 1024 * 1024);
      try {
        huge.push(Tensor.empty([size / 4], 'f32'));
      } finally {
        limitAddressSpace('unlimited');
      }
    } else {
      // A hardware adapter: allocate buffers of the maximum size until one fails (bounded).
      for (let i = 0; i < 512 && huge.length === i; i++) {
        huge.push(Tensor.empty([size / 4], 'f32'));
        const failed = await sync().then(
          () => false,
          (err: Error) => {
            expect(err.message).toMatch(/GPU out of memory/);
            return true;
          },
        );
        if (failed) break;
      }
    }
    const bytes = String(size);
    if (software) {
      await expect(keepAlive.toArray()).rejects.toThrow(
        new RegExp(`^scratchgpt: GPU out of memory: allocating a buffer of [\\d.]+ GiB \\(${bytes} bytes\\) failed \\(allocated by [^)]*reliability\\.test\\.ts[^;]*\\); live when it was requested: \\d+ tensors in \\d+ buffers`),
      );
    }
    // Afterwards everything works, and the failed buffer is destroyed on dispose, not pooled.
    for (const t of huge) t.dispose();
    expect(Array.from(await keepAlive.toArray()).slice(0, 2)).toEqual([1, 1]);
    keepAlive.dispose();
    expect(memory().liveBytes).toBe(baseline.liveBytes);
    expect(memory().pooledBytes).toBeLessThan(size);
  });
});

describe('GPU out of memory at the allocation (issue 18 #9)', () => {
  it('the first GPU operation after WebGPU reports the failure throws it, naming the size and the caller that allocated', async () => {
    const { adapterName, limits } = gpu();
    // The software adapters' memory is this process's: a capped address space makes the allocation fail.
    expect(adapterName).toMatch(/llvmpipe|swiftshader|lavapipe/i);
    const keepAlive = full([64], 2);
    await sync();
    const size = limits.maxBufferSize;
    let huge: Tensor | null = null;
    function allocateActivations(): Tensor {
      return Tensor.empty([size / 4], 'f32');
    }
    limitAddressSpace(addressSpace() + 256 * 1024 * 1024);
    try {
      huge = allocateActivations();
    } finally {
      limitAddressSpace('unlimited');
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // WebGPU's error scope settles
    let thrown: Error | null = null;
    try {
      add(keepAlive, keepAlive).dispose(); // recorded synchronously: no readback involved
    } catch (err) {
      thrown = err as Error;
    }
    expect(thrown?.message).toMatch(new RegExp(`^scratchgpt: GPU out of memory: allocating a buffer of [\\d.]+ GiB \\(${size} bytes\\) failed \\(allocated by .*allocateActivations`));
    // Afterwards everything works again.
    huge.dispose();
    const sum = add(keepAlive, keepAlive);
    expect(Array.from(await sum.toArray()).slice(0, 2)).toEqual([4, 4]);
    sum.dispose();
    keepAlive.dispose();
  });
});

describe('async scopes that interleave (item 13)', () => {
  const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 1));
  function gate(): { open: () => void; wait: Promise<void> } {
    let open!: () => void;
    const wait = new Promise<void>((resolve) => (open = resolve));
    return { open, wait };
  }
  function captureWarnings(): string[] {
    const warnings: string[] = [];
    setLog((level: LogLevel, message: string) => {
      if (level === 'warn') warnings.push(message);
    });
    return warnings;
  }

  it('a scope that ends while a later one is still open keeps its result alive, with a warning', async () => {
    const warnings = captureWarnings();
    const x = fromArray([1, 2, 3]);
    const b = gate();
    const first = scope(async () => {
      await tick();
      return add(x, x); // created while the second scope is the innermost
    });
    const second = scope(async () => {
      await b.wait;
      return mul(x, x);
    });
    const doubled = await first; // ends before the scope opened after it
    b.open();
    const squared = await second;
    expect(Array.from(await doubled.toArray())).toEqual([2, 4, 6]);
    expect(Array.from(await squared.toArray())).toEqual([1, 4, 9]);
    expect(warnings.join('\n')).toMatch(/an async scope\(\) ended while a scope\(\) opened after it was still open: concurrent async scopes interleaved across await.*Await scopes one after another/);
    for (const t of [x, doubled, squared]) t.dispose();
  });

  it('a tensor freed by another async scope says why when it is used', async () => {
    captureWarnings();
    const x = fromArray([1, 2, 3]);
    const created = gate();
    const otherEnds = gate();
    const use = gate();
    const first = scope(async () => {
      await created.wait;
      const t = add(x, x); // tracked by the second scope, the innermost now
      await use.wait;
      return mul(t, x);
    });
    const second = scope(async () => {
      await otherEnds.wait;
      return null;
    });
    created.open();
    await tick();
    otherEnds.open();
    await second; // frees `t`
    use.open();
    await expect(first).rejects.toThrow(/used after dispose\(\) — it was freed when the async scope\(\) that was innermost at its creation ended.*if async scopes run concurrently.*await scopes one after another/);
    x.dispose();
  });

  it('sequential async scopes still work without a warning', async () => {
    const warnings = captureWarnings();
    const x = fromArray([1, 2]);
    const a = await scope(async () => {
      await tick();
      return add(x, x);
    });
    const b = await scope(async () => {
      await tick();
      return scope(async () => mul(a, x));
    });
    expect(Array.from(await b.toArray())).toEqual([2, 8]);
    expect(warnings).toEqual([]);
    for (const t of [x, a, b]) t.dispose();
  });
});
