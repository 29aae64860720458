/**
 * Prompt formats for instruction fine-tuning (the book's chapter 7): how an `{instruction, input,
 * output}` entry becomes the text a model trains on, the prompt it is given at inference, and how its
 * answer is cut out of the generated text. Formats are plain objects, so any other template plugs in.
 */

import { ScratchGPTError } from '@scratchgpt/core';

/** One instruction example (the book's `instruction-data.json` entries); extra keys are kept. */
export interface InstructionEntry {
  instruction: string;
  /** Optional context for the instruction; `''` when there is none. */
  input: string;
  /** The desired response. */
  output: string;
  [key: string]: unknown;
}

/** The fields of an entry an operation reads (`instruction` always; `output` for training texts and scoring). */
export type EntryFields = 'prompt' | 'example';

/**
 * Checks that `value` is an instruction entry for what is about to be done with it, naming it
 * (`where`, e.g. `entry 3`) and the field: an object whose `instruction` is a string, whose `input`
 * is a string or absent, and, for a training text (`'example'`), whose `output` is a string. Returns
 * it as an entry (an absent `input` reads as `''`; other keys kept).
 */
export function checkInstructionEntry(value: unknown, where: string, fields: EntryFields = 'example'): InstructionEntry {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ScratchGPTError('format', `scratchgpt: instruction ${where}: expected an object with instruction, input and output, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`);
  }
  const record = value as Record<string, unknown>;
  for (const key of fields === 'example' ? (['instruction', 'output'] as const) : (['instruction'] as const)) {
    if (typeof record[key] !== 'string') {
      const got = key in record && record[key] !== undefined ? `a ${record[key] === null ? 'null' : typeof record[key]}` : 'nothing';
      throw new ScratchGPTError('format', `scratchgpt: instruction ${where}: '${key}' must be a string, got ${got}`);
    }
  }
  if (record.input !== undefined && typeof record.input !== 'string') {
    throw new ScratchGPTError('format', `scratchgpt: instruction ${where}: 'input' must be a string, got a ${record.input === null ? 'null' : typeof record.input}`);
  }
  return { ...record, instruction: record.instruction as string, input: (record.input as string | undefined) ?? '', output: (record.output as string | undefined) ?? '' } as InstructionEntry;
}

/**
 * A prompt template. The training text of an entry is `prompt(entry) + response(entry)`; at
 * inference the model is given `prompt(entry)` and {@link PromptFormat.extractResponse} cleans up
 * what follows it.
 */
export interface PromptFormat {
  /** Short name (`'alpaca'`, `'phi3'`). */
  readonly name: string;
  /** The instruction part (the book's `format_input`). */
  prompt(entry: Pick<InstructionEntry, 'instruction' | 'input'>): string;
  /** The response part appended to the prompt for training (header + `output`). */
  response(entry: Pick<InstructionEntry, 'output'>): string;
  /**
   * The model's answer from the decoded generation `generated` (prompt included), as the book does:
   * drop the first `prompt.length` characters, remove the response header, trim whitespace.
   */
  extractResponse(generated: string, prompt: string): string;
}

const ALPACA_PREAMBLE =
  'Below is an instruction that describes a task. Write a response that appropriately completes the request.';

/**
 * The book's Alpaca-style template, exactly:
 * ```text
 * Below is an instruction that describes a task. Write a response that appropriately completes the request.
 *
 * ### Instruction:
 * {instruction}
 *
 * ### Input:          ← only when input is non-empty
 * {input}
 *
 * ### Response:
 * {output}
 * ```
 */
export const alpacaFormat: PromptFormat = Object.freeze({
  name: 'alpaca',
  prompt: (entry: Pick<InstructionEntry, 'instruction' | 'input'>) =>
    `${ALPACA_PREAMBLE}\n\n### Instruction:\n${entry.instruction}` + (entry.input ? `\n\n### Input:\n${entry.input}` : ''),
  response: (entry: Pick<InstructionEntry, 'output'>) => `\n\n### Response:\n${entry.output}`,
  extractResponse: (generated: string, prompt: string) => generated.slice(prompt.length).replaceAll('### Response:', '').trim(),
});

/**
 * The Phi-3-style template of the book's exercise 7.1, exactly: `"<|user|>\n{instruction}"`, then
 * `"\n{input}"` when the input is non-empty, and the response `"\n<|assistant|>:\n{output}"`. (GPT-2's
 * tokenizer has no such special tokens: `<|user|>` becomes 5 ordinary tokens.)
 */
export const phi3Format: PromptFormat = Object.freeze({
  name: 'phi3',
  prompt: (entry: Pick<InstructionEntry, 'instruction' | 'input'>) => `<|user|>\n${entry.instruction}` + (entry.input ? `\n${entry.input}` : ''),
  response: (entry: Pick<InstructionEntry, 'output'>) => `\n<|assistant|>:\n${entry.output}`,
  extractResponse: (generated: string, prompt: string) => generated.slice(prompt.length).replaceAll('<|assistant|>:', '').trim(),
});

/** The built-in formats by name. */
export const PROMPT_FORMATS: Readonly<Record<'alpaca' | 'phi3', PromptFormat>> = Object.freeze({ alpaca: alpacaFormat, phi3: phi3Format });

/** A built-in format by name, or the given format itself. */
export function promptFormat(format: keyof typeof PROMPT_FORMATS | PromptFormat): PromptFormat {
  if (typeof format !== 'string') return format;
  const found = (PROMPT_FORMATS as Record<string, PromptFormat | undefined>)[format];
  if (!found) throw new ScratchGPTError('value', `scratchgpt: unknown prompt format '${format}' (known: ${Object.keys(PROMPT_FORMATS).join(', ')})`);
  return found;
}

/**
 * The book's `format_input(entry)`: the prompt of `entry` (Alpaca by default).
 * @example
 * ```ts
 * formatInput({ instruction: 'Name the capital of France.', input: '' });
 * // 'Below is an instruction … request.\n\n### Instruction:\nName the capital of France.'
 * ```
 */
export function formatInput(entry: Pick<InstructionEntry, 'instruction' | 'input'>, format: PromptFormat = alpacaFormat): string {
  return format.prompt(checkInstructionEntry(entry, 'entry', 'prompt'));
}

/** The full training text of `entry`: prompt + response (the book's `InstructionDataset` text). */
export function formatExample(entry: Pick<InstructionEntry, 'instruction' | 'input' | 'output'>, format: PromptFormat = alpacaFormat): string {
  const checked = checkInstructionEntry(entry, 'entry');
  return format.prompt(checked) + format.response(checked);
}
