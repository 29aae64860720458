/**
 * The book's LoRA trainable-parameter counts, counted on the real module trees (GPU buffers of the
 * full size: ~500 MB for 124M, ~1.6 GB for 355M).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { init, manualSeed, memory } from '@scratchgpt/core/node';
import { GPTModel, gptConfig, loadGPT2 } from '@scratchgpt/gpt';
import { applyLoRA, GPTClassifier } from '../src/index';

beforeAll(async () => {
  await init();
});

describe('LoRA on GPT-2: trainable parameters as in the book', () => {
  it('124M spam classifier, rank 16, alpha 16: 2,666,528 (appendix E)', () => {
    const start = memory().liveBytes;
    manualSeed(0);
    const model = GPTClassifier.fromGPT(new GPTModel(gptConfig('gpt2-small', { qkvBias: true, dropRate: 0 })), { numClasses: 2, labels: ['ham', 'spam'] });
    const paths = applyLoRA(model, { rank: 16, alpha: 16 });
    expect(paths.length).toBe(12 * 6 + 1); // q, k, v, out_proj, ff×2 per block, and the 2-class head
    expect(paths.at(-1)).toBe('out_head');
    expect(model.numParameters({ trainableOnly: true })).toBe(2_666_528);
    expect(model.numParameters()).toBe(124_441_346 + 2_666_528);
    model.dispose();
    expect(memory().liveBytes).toBe(start);
  });

  it('355M instruction model (qkv bias on), rank 16, alpha 16: 7,898,384 (exercise 7.4)', () => {
    const start = memory().liveBytes;
    manualSeed(0);
    const model = new GPTModel(gptConfig('gpt2-medium', { qkvBias: true, dropRate: 0 }));
    const paths = applyLoRA(model, { rank: 16, alpha: 16 });
    expect(paths.length).toBe(24 * 6 + 1); // … and the LM head (1024 → 50257), an untied Linear
    expect(model.numParameters({ trainableOnly: true })).toBe(7_898_384);
    model.dispose();
    expect(memory().liveBytes).toBe(start);
  });
});

/**
 * A GPT-2-shaped file in the Hugging Face layout, every weight a BF16 zero (half the bytes of F32;
 * the counts depend on the shapes only): what OpenAI's `gpt2-medium` model.safetensors holds, by name
 * and shape, with the head tied to `wte`.
 */
function hfGPT2File(C: number, L: number, V = 50257, ctx = 1024): Uint8Array {
  const shapes: [string, number[]][] = [['wte.weight', [V, C]], ['wpe.weight', [ctx, C]], ['ln_f.weight', [C]], ['ln_f.bias', [C]]];
  for (let i = 0; i < L; i++) {
    const h = `h.${i}.`;
    shapes.push(
      [`${h}ln_1.weight`, [C]], [`${h}ln_1.bias`, [C]], [`${h}attn.c_attn.weight`, [C, 3 * C]], [`${h}attn.c_attn.bias`, [3 * C]],
      [`${h}attn.c_proj.weight`, [C, C]], [`${h}attn.c_proj.bias`, [C]], [`${h}ln_2.weight`, [C]], [`${h}ln_2.bias`, [C]],
      [`${h}mlp.c_fc.weight`, [C, 4 * C]], [`${h}mlp.c_fc.bias`, [4 * C]], [`${h}mlp.c_proj.weight`, [4 * C, C]], [`${h}mlp.c_proj.bias`, [C]],
    );
  }
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape] of shapes) {
    const bytes = 2 * shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const file = new Uint8Array(8 + json.length + offset); // the data: zeros
  new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
  file.set(new TextEncoder().encode(json), 8);
  return file;
}

describe("GPT-2 355M loaded as the book's chapter 7 loads it (issue 18 #11)", () => {
  it('untieHead: 406,286,336 parameters to fine-tune fully, 7,898,384 with LoRA rank 16 on every Linear', async () => {
    const start = memory().liveBytes;
    const file = hfGPT2File(1024, 24);
    const model = await loadGPT2(file, { untieHead: true }); // 1024 wide, 24 layers: OpenAI's gpt2-medium, 16 heads
    expect(model.config).toMatchObject({ embDim: 1024, nLayers: 24, nHeads: 16, qkvBias: true, tieWeights: false });
    expect(model.numParameters({ trainableOnly: true })).toBe(406_286_336);
    const paths = applyLoRA(model, { rank: 16, alpha: 16 });
    expect(paths.at(-1)).toBe('out_head');
    expect(model.numParameters({ trainableOnly: true })).toBe(7_898_384);
    model.dispose();
    expect(memory().liveBytes).toBe(start);
  });
});
