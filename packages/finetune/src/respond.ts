/**
 * Responses of an instruction-tuned model (the book's chapter 7, section 7.7): greedy generation from
 * each entry's prompt, stopping before `<|endoftext|>`, the answer cut out of the text the way the
 * book does, and the `{…entry, model_response}` records it saves as `instruction-data-with-response.json`.
 */
import { ScratchGPTError } from '@scratchgpt/core';
import { decode as gpt2Decode, encode as gpt2Encode, EOT_TOKEN, generate, type GPTModel } from '@scratchgpt/gpt';
import { checkInstructionEntry, promptFormat, type InstructionEntry, type PromptFormat } from './prompts';

/** How one response is generated and extracted. */
export interface ResponseOptions {
  /** Prompt template, by name or as a format (default the book's Alpaca). */
  format?: PromptFormat | 'alpaca' | 'phi3';
  /** New tokens at most (default 256, the book's). */
  maxNewTokens?: number;
  /** Generation stops when this id is chosen, which is not part of the response (default 50256; null: never stop early). */
  eosId?: number | null;
  /** Text → token ids (default GPT-2's BPE, `<|endoftext|>` allowed as in the book's `text_to_token_ids`). */
  encode?: (text: string) => ArrayLike<number>;
  /** Token ids → text (default GPT-2's BPE). */
  decode?: (ids: number[]) => string;
}

const bookEncode = (text: string): number[] => gpt2Encode(text, { allowedSpecial: 'all' });

function checkCount(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new ScratchGPTError('format', `scratchgpt: ${name} must be a positive integer, got ${v}`);
}

/**
 * The model's response to `entry`, as the book computes it: greedy generation from `format.prompt(entry)`
 * for up to `maxNewTokens` tokens, stopping before `eosId` (the book's `generate` breaks before appending
 * it), then `generated_text[len(input_text):].replace("### Response:", "").strip()` (the format's
 * `extractResponse`). The text is `prompt + decode(new ids)`: the same string as decoding prompt and
 * new ids together with GPT-2's byte-level BPE, and still right for tokenizers that do not round-trip
 * the prompt exactly (a subvocabulary with unknown tokens).
 * @example
 * ```ts
 * await generateResponse(model, { instruction: 'Name the capital of France.', input: '', output: '' });
 * // 'The capital of France is Paris.'
 * ```
 */
export async function generateResponse(model: GPTModel, entry: Pick<InstructionEntry, 'instruction' | 'input'>, options: ResponseOptions = {}): Promise<string> {
  const { maxNewTokens = 256, eosId = EOT_TOKEN, encode = bookEncode, decode = gpt2Decode } = options;
  const format = promptFormat(options.format ?? 'alpaca');
  checkCount('maxNewTokens', maxNewTokens);
  const prompt = format.prompt(checkInstructionEntry(entry, 'entry', 'prompt'));
  const promptIds = Array.from(encode(prompt));
  const ids = await generate(model, promptIds, { maxNewTokens, eosId: eosId ?? undefined, temperature: 0 });
  const generated = ids.slice(promptIds.length);
  // `generate` includes the stop token; the book's loop stops before it.
  if (eosId !== null && generated.length > 0 && generated[generated.length - 1] === eosId) generated.pop();
  return format.extractResponse(prompt + decode(generated), prompt);
}

/** Progress of {@link generateResponses}, after each entry. */
export interface ResponsesProgress {
  done: number;
  total: number;
  /** The response just generated. */
  response: string;
}

/** Options of {@link generateResponses}. */
export interface ResponsesOptions extends ResponseOptions {
  /** Key the response is stored under (default `model_response`, the book's). */
  key?: string;
  onProgress?: (progress: ResponsesProgress) => unknown;
}

/**
 * The book's loop over the test set: every entry with its response added under `key`
 * (`{…entry, model_response}`), generated one entry at a time as {@link generateResponse} does.
 * The entries themselves are not modified. Save the result with {@link responsesJson}.
 * @example
 * ```ts
 * const withResponses = await generateResponses(model, test, { onProgress: (p) => console.log(`${p.done}/${p.total}`) });
 * writeFileSync('instruction-data-with-response.json', responsesJson(withResponses));
 * ```
 */
export async function generateResponses(
  model: GPTModel,
  entries: readonly InstructionEntry[],
  options: ResponsesOptions = {},
): Promise<InstructionEntry[]> {
  const { key = 'model_response', onProgress, ...respond } = options;
  if (key === 'instruction' || key === 'input' || key === 'output') throw new ScratchGPTError('value', `scratchgpt: generateResponses cannot store responses under '${key}' (an entry field)`);
  entries.forEach((entry, i) => checkInstructionEntry(entry, `entry ${i}`, 'prompt')); // all of them before the first generation
  const out: InstructionEntry[] = [];
  for (const entry of entries) {
    const response = await generateResponse(model, entry, respond);
    out.push({ ...entry, [key]: response });
    await onProgress?.({ done: out.length, total: entries.length, response });
  }
  return out;
}

/**
 * Entries as the book writes `instruction-data-with-response.json` (`json.dump(test_data, file,
 * indent=4)`): a JSON array indented by 4 spaces, with a final newline. Non-ASCII text is kept as is
 * (Python escapes it as `\uXXXX`; both read back the same).
 */
export function responsesJson(entries: readonly InstructionEntry[]): string {
  return `${JSON.stringify(entries, null, 4)}\n`;
}
