import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSafetensors, readFileBytes, serializeSafetensors, writeFileAtomic } from '../src/index.node';

function handMade(header: object, data: Uint8Array): Uint8Array {
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  json = Uint8Array.from([...json, ...new Array(pad).fill(0x20)]);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('serialises exactly per the spec (sorted keys, contiguous offsets, space padding)', () => {
    const a = Float32Array.from([1.5, -2]);
    const b = Int32Array.from([7, 8, 9]);
    const bytes = serializeSafetensors({ b: { dtype: 'I32', shape: [3], data: b }, a: { dtype: 'F32', shape: [1, 2], data: a } }, { note: 'x' });
    const expected = handMade(
      { __metadata__: { note: 'x' }, a: { dtype: 'F32', shape: [1, 2], data_offsets: [0, 8] }, b: { dtype: 'I32', shape: [3], data_offsets: [8, 20] } },
      Uint8Array.from([...new Uint8Array(a.buffer), ...new Uint8Array(b.buffer)]),
    );
    expect(Array.from(bytes)).toEqual(Array.from(expected));
    const parsed = parseSafetensors(bytes);
    expect(parsed.metadata).toEqual({ note: 'x' });
    expect(Array.from(parsed.tensors.get('a')!.data)).toEqual([1.5, -2]);
    expect(parsed.tensors.get('b')!.shape).toEqual([3]);
    expect(Array.from(parsed.tensors.get('b')!.data)).toEqual([7, 8, 9]);
  });
  it('writes the header bytes the format prescribes, written out by hand', () => {
    const bytes = serializeSafetensors({ w: { dtype: 'F32', shape: [2], data: Float32Array.from([1, 2]) } });
    const header = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'; // 54 bytes → 2 spaces of padding to 56
    const expected = [56, 0, 0, 0, 0, 0, 0, 0, ...Array.from(header, (c) => c.charCodeAt(0)), 0x20, 0x20, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40];
    expect(Array.from(bytes)).toEqual(expected);
  });
  it('widens F16/BF16/F64 and narrows I64', () => {
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3555]).buffer); // 1, -2, ~0.333
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0x4049]).buffer); // 1, ~3.14
    const f64 = new Uint8Array(new Float64Array([0.1]).buffer);
    const i64 = new Uint8Array(new BigInt64Array([-5n, 50256n]).buffer);
    const data = Uint8Array.from([...f16, ...bf16, ...f64, ...i64]);
    const file = parseSafetensors(handMade({
      h: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
      bf: { dtype: 'BF16', shape: [2], data_offsets: [6, 10] },
      d: { dtype: 'F64', shape: [1], data_offsets: [10, 18] },
      i: { dtype: 'I64', shape: [2], data_offsets: [18, 34] },
    }, data));
    expect(Array.from(file.tensors.get('h')!.data).map((x) => +x.toFixed(4))).toEqual([1, -2, 0.3333]);
    expect(Array.from(file.tensors.get('bf')!.data).map((x) => +x.toFixed(2))).toEqual([1, 3.14]);
    expect(file.tensors.get('d')!.data[0]).toBeCloseTo(0.1, 7);
    expect(Array.from(file.tensors.get('i')!.data)).toEqual([-5, 50256]);
  });
  it('rejects corrupt files with errors naming the problem', () => {
    expect(() => parseSafetensors(new Uint8Array(4))).toThrow(/not a safetensors file: only 4 bytes/);
    const absurd = new Uint8Array(16);
    new DataView(absurd.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => parseSafetensors(absurd)).toThrow(/not a safetensors file: header length/);
    const notJson = handMade({}, new Uint8Array(0));
    notJson[8] = 0x7a;
    expect(() => parseSafetensors(notJson)).toThrow(/not valid JSON/);
    expect(() => parseSafetensors(handMade({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)))).toThrow(/'w': data \[0, 16\) lies past the end/);
    expect(() => parseSafetensors(handMade({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)))).toThrow(/'w': shape \[3\] of F32 needs 12 bytes/);
    expect(() => parseSafetensors(handMade({ w: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)))).toThrow(/'w': unsupported dtype Q4/);
    expect(() =>
      parseSafetensors(handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8))),
    ).toThrow(/'a' and 'b' overlap/);
  });
});

describe('the PyTorch golden fixture (fixtures/make_golden.py)', () => {
  it('holds every book parameter, its gradient, and the recorded inputs/outputs with the right shapes', () => {
    const file = parseSafetensors(new Uint8Array(readFileSync(new URL('./fixtures/golden.safetensors', import.meta.url))));
    const { config: c } = JSON.parse(readFileSync(new URL('./fixtures/golden.json', import.meta.url), 'utf8')) as {
      config: { vocab_size: number; context_length: number; emb_dim: number; n_heads: number; n_layers: number; qkv_bias: boolean };
    };
    const [V, N, C] = [c.vocab_size, c.context_length, c.emb_dim];
    const params: Record<string, number[]> = { 'tok_emb.weight': [V, C], 'pos_emb.weight': [N, C], 'final_norm.scale': [C], 'final_norm.shift': [C], 'out_head.weight': [V, C] };
    for (let l = 0; l < c.n_layers; l++) {
      const b = `trf_blocks.${l}`;
      for (const w of ['W_query', 'W_key', 'W_value', 'out_proj']) {
        params[`${b}.att.${w}.weight`] = [C, C];
        if (c.qkv_bias || w === 'out_proj') params[`${b}.att.${w}.bias`] = [C];
      }
      Object.assign(params, { [`${b}.ff.layers.0.weight`]: [4 * C, C], [`${b}.ff.layers.0.bias`]: [4 * C], [`${b}.ff.layers.2.weight`]: [C, 4 * C], [`${b}.ff.layers.2.bias`]: [C] });
      for (const n of ['norm1', 'norm2']) Object.assign(params, { [`${b}.${n}.scale`]: [C], [`${b}.${n}.shift`]: [C] });
    }
    const expected: Record<string, [string, number[]]> = {
      input_ids: ['I32', [2, 12]], target_ids: ['I32', [2, 12]], logits: ['F32', [2, 12, V]], loss: ['F32', [1]],
      adamw_losses: ['F32', [5]], gen_prompt: ['I32', [4]], gen_tokens: ['I32', [20]],
    };
    for (const [name, shape] of Object.entries(params)) {
      expected[name] = ['F32', shape];
      expected[`grad.${name}`] = ['F32', shape];
    }
    expect([...file.tensors.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [name, [dtype, shape]] of Object.entries(expected)) {
      expect([file.tensors.get(name)!.dtype, file.tensors.get(name)!.shape], name).toEqual([dtype, shape]);
    }
    const ids = file.tensors.get('input_ids')!.data;
    const targets = file.tensors.get('target_ids')!.data;
    expect(Array.from(ids).every((t) => t >= 0 && t < V)).toBe(true);
    for (let b = 0; b < 2; b++) expect(Array.from(ids.subarray(b * 12 + 1, b * 12 + 12))).toEqual(Array.from(targets.subarray(b * 12, b * 12 + 11)));
    expect(file.tensors.get('loss')!.data[0]).toBe(file.tensors.get('adamw_losses')!.data[0]); // first AdamW loss is before any step
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file, and a failure midway keeps the old one with no temp file left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-atomic-'));
    const path = join(dir, 'ckpt.safetensors');
    writeFileSync(path, 'old');
    await writeFileAtomic(path, new TextEncoder().encode('new'));
    expect(readFileSync(path, 'utf8')).toBe('new');
    await expect(
      writeFileAtomic(path, () => {
        throw new Error('crash while serialising');
      }),
    ).rejects.toThrow(/crash while serialising/);
    expect(readFileSync(path, 'utf8')).toBe('new');
    await expect(writeFileAtomic(join(dir, 'missing-dir', 'x'), new Uint8Array(1))).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['ckpt.safetensors']);
    expect(new TextDecoder().decode(await readFileBytes(path))).toBe('new');
  });
  it('removes its temp file when the final rename fails (the temp was already written and synced)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-atomic-'));
    const target = join(dir, 'occupied');
    mkdirSync(target); // renaming a file over a directory fails (EISDIR)
    writeFileSync(join(target, 'keep'), 'kept');
    await expect(writeFileAtomic(target, new Uint8Array(64))).rejects.toThrow(/EISDIR|ENOTEMPTY|EEXIST|EPERM/);
    expect(readdirSync(dir)).toEqual(['occupied']);
    expect(readFileSync(join(target, 'keep'), 'utf8')).toBe('kept');
  });
});
