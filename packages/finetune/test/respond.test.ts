/**
 * Responses of an instruction model against the book's rules, on a scripted model whose greedy
 * continuation is known token by token: it stops before `<|endoftext|>` (the book's `generate`
 * breaks before appending it), the text after the prompt has the response header removed and is
 * trimmed, and the records are `{…entry, model_response}` as the book writes them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init, type Tensor } from '@scratchgpt/core/node';
import { decode, encode, GPTModel, gptConfig } from '@scratchgpt/gpt';
import { alpacaFormat, generateResponse, generateResponses, responsesJson, type InstructionEntry } from '../src/index';

/**
 * A GPT whose greedy next token depends only on the last token: every block outputs zero (so the
 * residual stream is the token embedding), token `from[i]` embeds as the one-hot e_i, and the head
 * row of `next[i]` reads e_i with weight 10. After LayerNorm (bias e_0), e_i scores next[i] 30 and
 * every other token at most 6.7 (C = 10); a token outside the script embeds as zeros, and the bias
 * alone scores next[0] 10: the script starts again.
 */
function scriptedModel(script: number[]): GPTModel {
  const from = script.slice(0, -1);
  const C = 10;
  expect(new Set(from).size).toBe(from.length); // a bigram script cannot repeat a token
  expect(from.length).toBeLessThanOrEqual(C);
  const model = new GPTModel(gptConfig({ vocabSize: 50257, contextLength: 64, embDim: C, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: true, tieWeights: false }));
  const state = new Map<string, Tensor>();
  for (const [name, p] of model.namedParameters()) {
    const data = new Float32Array(p.size);
    if (name === 'final_norm.weight') data.fill(1);
    if (name === 'final_norm.bias') data[0] = 1;
    from.forEach((token, i) => {
      if (name === 'tok_emb.weight') data[token * C + i] = 1;
      if (name === 'out_head.weight') data[script[i + 1] * C + i] = 10;
    });
    state.set(name, fromArray(data, p.shape));
  }
  model.loadStateDict(state);
  for (const t of state.values()) t.dispose();
  return model;
}

const SCRIPT_TEXT = ['### Response:', ' The answer is 42.'];
const entry: InstructionEntry = { instruction: 'Answer now', input: '', output: 'The answer is 42.', id: 7 };
let model: GPTModel;
let continuation: number[];

beforeAll(async () => {
  await init();
  const prompt = encode(alpacaFormat.prompt(entry));
  // After the prompt's last token (" now"): the header, the answer, <|endoftext|>, then "Extra".
  continuation = [...SCRIPT_TEXT.flatMap((t) => encode(t)), 50256, ...encode('Extra')];
  model = scriptedModel([prompt[prompt.length - 1], ...continuation]);
});
afterAll(() => model.dispose());

/** The book's section 7.7 on the scripted model, literally: stop before the EOS, decode, slice, replace, strip. */
function bookResponse(promptText: string, maxNewTokens: number, marker = '### Response:'): string {
  const ids = encode(promptText);
  for (const next of continuation.slice(0, maxNewTokens)) {
    if (next === 50256) break;
    ids.push(next);
  }
  return decode(ids).slice(promptText.length).replaceAll(marker, '').trim();
}

describe('generateResponse', () => {
  it("stops before <|endoftext|>, removes '### Response:' and trims, exactly as the book", async () => {
    const seen: number[][] = [];
    const response = await generateResponse(model, entry, { decode: (ids) => (seen.push([...ids]), decode(ids)) });
    expect(response).toBe('The answer is 42.');
    expect(response).toBe(bookResponse(alpacaFormat.prompt(entry), 256));
    // Only the new tokens are decoded, without the stop token and with nothing after it.
    expect(seen).toEqual([continuation.slice(0, continuation.indexOf(50256))]);
  });

  it('maxNewTokens cuts the generation; eosId null does not stop at <|endoftext|>', async () => {
    expect(await generateResponse(model, entry, { maxNewTokens: 5 })).toBe('The answer');
    expect(await generateResponse(model, entry, { maxNewTokens: 5 })).toBe(bookResponse(alpacaFormat.prompt(entry), 5));
    const n = continuation.length;
    // "Extra" is not scripted: the script starts again with '###'.
    expect(await generateResponse(model, entry, { eosId: null, maxNewTokens: n + 1 })).toBe('The answer is 42.<|endoftext|>Extra###');
    await expect(generateResponse(model, entry, { maxNewTokens: 0 })).rejects.toThrow(/maxNewTokens must be a positive integer, got 0/);
  });

  it("the Phi-3 format removes its own marker, '<|assistant|>:', not the Alpaca one", async () => {
    const response = await generateResponse(model, entry, { format: 'phi3' });
    expect(response).toBe('### Response: The answer is 42.');
    expect(response).toBe(bookResponse('<|user|>\nAnswer now', 256, '<|assistant|>:'));
  });
});

describe('generateResponses and the responses file', () => {
  it("adds model_response to copies of the entries, reports progress, and writes the book's JSON", async () => {
    const entries = [entry, { ...entry, input: 'Quickly, please', id: 8 }];
    const frozen = JSON.stringify(entries);
    const progress: [number, number, string][] = [];
    const out = await generateResponses(model, entries, { maxNewTokens: 12, onProgress: (p) => void progress.push([p.done, p.total, p.response]) });
    expect(JSON.stringify(entries)).toBe(frozen);
    expect(out[0]).toEqual({ ...entry, model_response: 'The answer is 42.' });
    // The second prompt ends in "please", not scripted: the script starts from its first token.
    expect(out[1]).toEqual({ ...entries[1], model_response: bookResponse(alpacaFormat.prompt(entries[1]), 12) });
    expect(progress).toEqual([
      [1, 2, 'The answer is 42.'],
      [2, 2, 'The answer is 42.'],
    ]);
    const json = responsesJson(out);
    expect(json.startsWith('[\n    {\n        "instruction": "Answer now",\n        "input": "",\n        "output": "The answer is 42.",\n        "id": 7,\n        "model_response": "The answer is 42."\n    },')).toBe(true);
    expect(json.endsWith('\n]\n')).toBe(true);
    expect(JSON.parse(json)).toEqual(out);
    const keyed = await generateResponses(model, [entry], { key: 'gpt2_response', maxNewTokens: 3 });
    expect(Object.keys(keyed[0])).toEqual(['instruction', 'input', 'output', 'id', 'gpt2_response']);
    await expect(generateResponses(model, [entry], { key: 'output' })).rejects.toThrow(/cannot store responses under 'output'/);
  });
});
