/** Instruction data, prompt formats, collate and the instruction loader (CPU only, no GPU). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decode, encode } from '@scratchgpt/gpt';
import {
  alpacaFormat,
  bookInstructionSplit,
  collateInstructions,
  formatExample,
  formatInput,
  InstructionDataset,
  InstructionLoader,
  parseInstructionData,
  phi3Format,
  promptFormat,
  type InstructionEntry,
} from '../src/index';

const json = readFileSync(new URL('../data/instruction-data.json', import.meta.url), 'utf8');
const data = parseInstructionData(json);

const spelling = { instruction: 'Identify the correct spelling of the following word.', input: 'Ocassion', output: "The correct spelling is 'Occasion.'" };
const antonym = { instruction: "What is an antonym of 'complicated'?", input: '', output: "An antonym of 'complicated' is 'simple'." };

describe('instruction data', () => {
  it("the shipped file: 1100 entries, the book's examples at 50 and 999", () => {
    expect(data.length).toBe(1100);
    expect(data[50]).toEqual(spelling);
    expect(data[999]).toEqual(antonym);
  });

  it("the book's split in file order: 935 train, 110 test, 55 validation", () => {
    const { train, test, val } = bookInstructionSplit(data);
    expect([train.length, test.length, val.length]).toEqual([935, 110, 55]);
    expect(train[0]).toBe(data[0]);
    expect(test[0]).toBe(data[935]);
    expect(val[0]).toBe(data[1045]);
    expect(val.at(-1)).toBe(data[1099]);
    // int() cuts: 7 entries → 5 / 0 / 2
    const small = bookInstructionSplit([1, 2, 3, 4, 5, 6, 7]);
    expect([small.train, small.test, small.val]).toEqual([[1, 2, 3, 4, 5], [], [6, 7]]);
    expect(() => bookInstructionSplit(data, { train: 0.9, test: 0.2 })).toThrow(/train \+ test ≤ 1/);
  });

  it('JSON Lines: blank lines skipped, missing input read as empty, extra keys kept', () => {
    const jsonl = '{"instruction":"a","input":"b","output":"c"}\n\n{"instruction":"d","output":"e","model_response":"f"}\n';
    expect(parseInstructionData(jsonl)).toEqual([
      { instruction: 'a', input: 'b', output: 'c' },
      { instruction: 'd', input: '', output: 'e', model_response: 'f' },
    ]);
    expect(parseInstructionData('  [{"instruction":"x","input":"","output":"y"}]')).toEqual([{ instruction: 'x', input: '', output: 'y' }]);
  });

  it('bad entries: errors name the entry index or the line', () => {
    expect(() => parseInstructionData('[{"instruction":"a","input":"","output":"b"},{"instruction":"a","input":""}]')).toThrow(
      "scratchgpt: instruction data entry 1: 'output' must be a string, got nothing",
    );
    expect(() => parseInstructionData('[{"instruction":3,"input":"","output":"b"}]')).toThrow("entry 0: 'instruction' must be a string, got a number");
    expect(() => parseInstructionData('[{"instruction":"a","input":null,"output":"b"}]')).toThrow("entry 0: 'input' must be a string, got a null");
    expect(() => parseInstructionData('[[1]]')).toThrow('entry 0: expected an object');
    expect(() => parseInstructionData('{"instruction":"a","output":"b"}\n{"instruction":"a","output":"b"\n')).toThrow(/^scratchgpt: instruction data line 2 is not valid JSON/);
    expect(() => parseInstructionData('{"instruction":"a","output":"b"}\n\n7\n')).toThrow('instruction data line 3: expected an object');
    expect(() => parseInstructionData('[1,')).toThrow(/^scratchgpt: instruction data is not valid JSON/);
    expect(() => parseInstructionData('{"a":1}', { format: 'json' })).toThrow('must be an array');
  });
});

describe('prompt formats', () => {
  it("Alpaca: the book's printed examples, with and without input", () => {
    // ch07.ipynb prints format_input(data[50]) + desired_response and the same for data[999]
    expect(formatExample(data[50])).toBe(
      "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nIdentify the correct spelling of the following word.\n\n### Input:\nOcassion\n\n### Response:\nThe correct spelling is 'Occasion.'",
    );
    expect(formatExample(data[999])).toBe(
      "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nWhat is an antonym of 'complicated'?\n\n### Response:\nAn antonym of 'complicated' is 'simple'.",
    );
    expect(formatInput(antonym)).toBe(alpacaFormat.prompt(antonym));
  });

  it("Phi-3: the book's exercise 7.1 strings", () => {
    // exercise-solutions.ipynb prints format_input(sample_data[0]) and [1]
    expect(formatInput(spelling, phi3Format)).toBe('<|user|>\nIdentify the correct spelling of the following word.\nOcassion');
    expect(formatInput(antonym, phi3Format)).toBe("<|user|>\nWhat is an antonym of 'complicated'?");
    expect(formatExample(antonym, phi3Format)).toBe("<|user|>\nWhat is an antonym of 'complicated'?\n<|assistant|>:\nAn antonym of 'complicated' is 'simple'.");
    expect(promptFormat('phi3')).toBe(phi3Format);
    expect(promptFormat(alpacaFormat)).toBe(alpacaFormat);
    expect(() => promptFormat('chatml' as 'phi3')).toThrow("unknown prompt format 'chatml' (known: alpaca, phi3)");
  });

  it('extracting the response from a generation, as the book does', () => {
    const prompt = alpacaFormat.prompt(antonym);
    expect(alpacaFormat.extractResponse(`${prompt}\n\n### Response:\n  The antonym is simple. \n`, prompt)).toBe('The antonym is simple.');
    const phi = phi3Format.prompt(antonym);
    expect(phi3Format.extractResponse(`${phi}\n<|assistant|>:\nSimple.`, phi)).toBe('Simple.');
  });
});

describe('collate', () => {
  it("the book's example", () => {
    const batch = collateInstructions([[0, 1, 2, 3, 4], [5, 6], [7, 8, 9]]);
    expect(batch.shape).toEqual([3, 5]);
    expect(Array.from(batch.inputs)).toEqual([0, 1, 2, 3, 4, 5, 6, 50256, 50256, 50256, 7, 8, 9, 50256, 50256]);
    expect(Array.from(batch.targets)).toEqual([1, 2, 3, 4, 50256, 6, 50256, -100, -100, -100, 8, 9, 50256, -100, -100]);
  });

  it('truncation and prompt masking', () => {
    const batch = collateInstructions([[0, 1, 2, 3, 4], [5, 6]], { allowedMaxLength: 3, promptLengths: [3, 1] });
    expect(batch.shape).toEqual([2, 3]);
    expect(Array.from(batch.inputs)).toEqual([0, 1, 2, 5, 6, 50256]);
    expect(Array.from(batch.targets)).toEqual([-100, -100, 3, 6, 50256, -100]);
  });

  it('bad input: clear errors', () => {
    expect(() => collateInstructions([])).toThrow('scratchgpt: collateInstructions needs at least one sequence');
    expect(() => collateInstructions([[], []])).toThrow('only empty sequences');
    expect(() => collateInstructions([[1, 2], [3, -4]])).toThrow('token id -4 at position 1 of sequence 1 is not a valid id');
    expect(() => collateInstructions([[1.5]])).toThrow('token id 1.5 at position 0 of sequence 0');
    expect(() => collateInstructions([[1]], { allowedMaxLength: 0 })).toThrow('allowedMaxLength must be an integer ≥ 1, got 0');
    expect(() => collateInstructions([[1]], { promptLengths: [1, 2] })).toThrow('got 2 prompt lengths for 1 sequences');
    expect(() => collateInstructions([[1]], { promptLengths: [-1] })).toThrow('prompt length of sequence 0 must be an integer ≥ 0');
  });
});

describe('InstructionDataset and InstructionLoader', () => {
  it("tokenises prompt + response; the book's exercise 7.2 batch (prompt masking) token for token", () => {
    // exercise-solutions.ipynb, exercise 7.2: three entries, one batch; it prints row 1 of inputs and targets
    const sample: InstructionEntry[] = [
      antonym,
      { instruction: 'Sort the following list in alphabetical order.', input: 'Zebra, Elephant, Crocodile', output: 'Crocodile, Elephant, Zebra' },
      { instruction: 'Arrange the given numbers in descending order.', input: '5, 12, 8, 3, 15', output: '15, 12, 8, 5, 3.' },
    ];
    const dataset = new InstructionDataset(sample);
    expect(Array.from(dataset.ids(1))).toEqual(encode(formatExample(sample[1])));
    expect(dataset.promptLength(1)).toBe(encode(formatInput(sample[1])).length);
    const [batch] = new InstructionLoader(dataset, { batchSize: 3, maskPrompt: true });
    expect(batch.shape).toEqual([3, 64]);
    const row = (a: Int32Array) => Array.from(a.subarray(64, 128));
    expect(row(batch.inputs)).toEqual([
      21106, 318, 281, 12064, 326, 8477, 257, 4876, 13, 19430, 257, 2882, 326, 20431, 32543, 262, 2581, 13, 198, 198, 21017, 46486, 25, 198, 42758, 262, 1708,
      1351, 287, 24830, 605, 1502, 13, 198, 198, 21017, 23412, 25, 198, 57, 37052, 11, 42651, 11, 9325, 19815, 576, 198, 198, 21017, 18261, 25, 198, 34, 12204,
      375, 576, 11, 42651, 11, 1168, 37052, 50256, 50256,
    ]);
    expect(row(batch.targets)).toEqual([
      ...Array(46).fill(-100), 198, 198, 21017, 18261, 25, 198, 34, 12204, 375, 576, 11, 42651, 11, 1168, 37052, 50256, -100, -100,
    ]);
    const kept = row(batch.targets).filter((t) => t !== -100);
    expect(decode(kept)).toBe('\n\n### Response:\nCrocodile, Elephant, Zebra<|endoftext|>');
  });

  it("the book's loaders: 116 shuffled training batches of 8 (dropLast), 7 validation and 14 test batches", () => {
    const { train, test, val } = bookInstructionSplit(data);
    const trainSet = new InstructionDataset(train);
    const loader = new InstructionLoader(trainSet, { batchSize: 8, shuffle: true, dropLast: true, allowedMaxLength: 1024 });
    expect(loader.numBatches).toBe(116);
    expect(new InstructionLoader(new InstructionDataset(val), { batchSize: 8 }).numBatches).toBe(7);
    expect(new InstructionLoader(new InstructionDataset(test), { batchSize: 8 }).numBatches).toBe(14);

    const epoch1 = [...loader];
    expect(epoch1.length).toBe(116);
    for (const b of epoch1) {
      const [B, T] = b.shape;
      expect(B).toBe(8);
      expect(b.inputs.length).toBe(B * T);
      expect(b.targets.length).toBe(B * T);
    }
    // each row is one entry's ids followed by pads; T is the batch's longest entry
    const order = loader.order(0);
    const first = epoch1[0];
    const lengths = order.slice(0, 8).map((i) => trainSet.ids(i).length);
    expect(first.shape[1]).toBe(Math.max(...lengths));
    expect(Array.from(first.inputs.subarray(0, lengths[0]))).toEqual(Array.from(trainSet.ids(order[0])));
    // a permutation, the same for the same seed, different each epoch
    expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 935 }, (_, i) => i));
    expect(new InstructionLoader(trainSet, { batchSize: 8, shuffle: true }).order(0)).toEqual(order);
    expect(loader.order(1)).not.toEqual(order);
    const epoch2 = [...loader];
    expect(Array.from(epoch2[0].inputs)).not.toEqual(Array.from(first.inputs));
    // no shuffle, no dropLast: file order, a last short batch
    const valBatches = [...new InstructionLoader(new InstructionDataset(val), { batchSize: 8 })];
    expect(valBatches.map((b) => b.shape[0])).toEqual([8, 8, 8, 8, 8, 8, 7]);
  });

  it('options are checked when the loader is made', () => {
    const dataset = new InstructionDataset([antonym]);
    expect(() => new InstructionLoader(dataset, { batchSize: 0 })).toThrow('batchSize must be a positive integer, got 0');
    expect(() => new InstructionLoader(dataset, { batchSize: 1, allowedMaxLength: 0 })).toThrow('allowedMaxLength must be an integer ≥ 1');
    expect(() => dataset.ids(1)).toThrow('dataset index 1 out of range [0, 1)');
    expect(() => new InstructionDataset([{ instruction: 'a <|endoftext|>', input: '', output: '' }])).toThrow(/^scratchgpt: instruction entry 0 could not be tokenized: scratchgpt: the text contains <\|endoftext\|>/);
  });
});
