/**
 * A subset of GPT-2's vocabulary for small models: the output head and the softmax of a model with
 * GPT-2's 50257 tokens dominate its cost when the model is small (at C = 64 with two blocks, the head
 * is 3.2M of 3.3M multiply-adds per token), while a corpus such as the book's 1100 instructions uses ~3,400
 * distinct tokens. A `Subvocabulary` renumbers those tokens 0…n−1 (in GPT-2 order) and gives every
 * other token one "unknown" id n, so a model with `vocabSize = size` trains on GPT-2-tokenized text
 * and its output decodes back to text.
 */
import { ScratchGPTError } from '@scratchgpt/core';
import { decode as gpt2Decode, encode as gpt2Encode, EOT_TOKEN, VOCAB_SIZE } from '@scratchgpt/gpt';

/** Options of {@link Subvocabulary.fromTexts}. */
export interface SubvocabularyOptions {
  /** Text → GPT-2 ids (default GPT-2's BPE with `<|endoftext|>` allowed). */
  encode?: (text: string) => ArrayLike<number>;
  /** GPT-2 ids included whether or not the texts use them (default `[50256]`, `<|endoftext|>`). */
  include?: readonly number[];
}

/** What an unknown id decodes to (U+FFFD, the replacement character). */
const UNKNOWN_TEXT = '\uFFFD';

/**
 * GPT-2 token ids renumbered to a dense range, plus one id for every token outside it.
 * @example
 * ```ts
 * const vocab = Subvocabulary.fromTexts(train.map((e) => formatExample(e)));
 * const model = new GPTModel(gptConfig({ ...small, vocabSize: vocab.size }));
 * const dataset = new InstructionDataset(train, { tokenize: (t) => vocab.encode(t) });
 * const loader = new InstructionLoader(dataset, { batchSize: 8, padTokenId: vocab.id(50256) });
 * ```
 */
export class Subvocabulary {
  /** The GPT-2 id of each subset id 0…n−1, ascending. */
  readonly gpt2Ids: Int32Array;
  private readonly index = new Map<number, number>();

  /** From the GPT-2 ids to keep (any order; duplicates are an error). */
  constructor(gpt2Ids: ArrayLike<number>) {
    const sorted = Array.from(gpt2Ids).sort((a, b) => a - b);
    sorted.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= VOCAB_SIZE) throw new ScratchGPTError('value', `scratchgpt: subvocabulary id ${id} is not a GPT-2 token id (0…${VOCAB_SIZE - 1})`);
      if (i > 0 && sorted[i - 1] === id) throw new ScratchGPTError('value', `scratchgpt: subvocabulary lists GPT-2 id ${id} twice`);
      this.index.set(id, i);
    });
    this.gpt2Ids = Int32Array.from(sorted);
  }

  /** Every GPT-2 id the texts use, plus `include`. */
  static fromTexts(texts: Iterable<string>, { encode = (t) => gpt2Encode(t, { allowedSpecial: 'all' }), include = [EOT_TOKEN] }: SubvocabularyOptions = {}): Subvocabulary {
    const ids = new Set<number>(include);
    for (const text of texts) for (const id of Array.from(encode(text))) ids.add(id);
    return new Subvocabulary([...ids]);
  }

  /** Ids in use: the kept tokens plus the unknown id (the `vocabSize` of a model over this subset). */
  get size(): number {
    return this.gpt2Ids.length + 1;
  }

  /** The id of every token outside the subset. */
  get unknownId(): number {
    return this.gpt2Ids.length;
  }

  /** The subset id of GPT-2 id `gpt2Id` ({@link unknownId} when it is not kept). */
  id(gpt2Id: number): number {
    return this.index.get(gpt2Id) ?? this.unknownId;
  }

  /** GPT-2 ids → subset ids. */
  fromGPT2(ids: ArrayLike<number>): number[] {
    return Array.from(ids, (id) => this.id(id));
  }

  /** Subset ids → GPT-2 ids; the unknown id becomes -1. */
  toGPT2(ids: ArrayLike<number>): number[] {
    return Array.from(ids, (id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= this.size) throw new ScratchGPTError('range', `scratchgpt: subvocabulary id ${id} at position ${i} is out of range for its size ${this.size}`);
      return id === this.unknownId ? -1 : this.gpt2Ids[id];
    });
  }

  /** Text → subset ids (GPT-2's BPE; tokens outside the subset become the unknown id). */
  encode(text: string): number[] {
    return this.fromGPT2(gpt2Encode(text, { allowedSpecial: 'all' }));
  }

  /** Subset ids → text; an unknown id reads as U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    const full = this.toGPT2(ids);
    const parts: string[] = [];
    let run: number[] = [];
    for (const id of full) {
      if (id >= 0) {
        run.push(id);
        continue;
      }
      parts.push(gpt2Decode(run), UNKNOWN_TEXT);
      run = [];
    }
    parts.push(gpt2Decode(run));
    return parts.join('');
  }
}
