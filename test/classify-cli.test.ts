/**
 * Your data, your labels (issue 19), end to end in child processes: `scratchgpt finetune classify` on the
 * three-class fixture (test/fixtures/three-class.csv, made from the repository's own data by
 * make_three_class.mjs), `scratchgpt classify` applying the saved classifier to a CSV, arguments and stdin,
 * `scratchgpt generate` from a checkpoint, a GPT-2 file and an instruct-model directory, and the hostile
 * inputs of each with the errors they get. Figures are asserted, not only the output's format.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, manualSeed } from '@scratchgpt/core/node';
import { formatExample, formatInput, readLabelledFile, Subvocabulary } from '@scratchgpt/finetune';
import { decode, encode, generate, GPTModel, gptConfig, saveCheckpoint, saveGPT2 } from '@scratchgpt/gpt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleCli, ROOT, type BundledCli } from './cli-bundle';

const FIXTURE = join(ROOT, 'test/fixtures/three-class.csv');
let cli: BundledCli;
let dir: string;
afterAll(() => cli?.dispose());

beforeAll(async () => {
  cli = await bundleCli();
  dir = mkdtempSync(join(tmpdir(), 'sg-classify-cli-'));
});

/** The figures of the final table: accuracy and majority rows. */
function table(stdout: string): { train: number; val: number; test: number; majority: number[] } {
  const m = /accuracy {3}train {5}val {7}test\n {11}(\d+\.\d\d)% +(\d+\.\d\d)% +(\d+\.\d\d)%\nmajority +(\d+\.\d\d)% +(\d+\.\d\d)% +(\d+\.\d\d)%/.exec(stdout);
  expect(m, stdout).not.toBeNull();
  const n = m!.slice(1).map(Number);
  return { train: n[0], val: n[1], test: n[2], majority: n.slice(3) };
}

describe('scratchgpt finetune classify, then scratchgpt classify', () => {
  it('fine-tunes a three-class classifier on a CSV and applies it to a CSV, to arguments and to stdin', async () => {
    const args = ['finetune', 'classify', '--data', FIXTURE, '--epochs', '12', '--max-length', '32', '--out', 'three.safetensors', '--plot', 'three-'];
    const run = await cli.run(args, dir);
    expect(run.code, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toBe(0);
    const out = run.stdout;
    expect(out).toContain(`data: ${FIXTURE} (csv): 180 rows, text column 'message', label column 'category'; 3 classes: ham 60, instruction 60, spam 60`);
    expect(out).toMatch(/data: 126 train \/ 18 val \/ 36 test texts, 32 tokens per row/);
    expect(out).toMatch(/class {10}train {4}val {3}test\nham {15}42 {6}6 {5}12\ninstruction {7}42 {6}6 {5}12\nspam {14}42 {6}6 {5}12/);
    // Figures: well above always predicting one class (33.33 % here), every class learnt.
    const t = table(out);
    expect(t.majority).toEqual([33.33, 33.33, 33.33]);
    // The bag-of-words yardstick on the same splits (its fit is checked against scikit-learn elsewhere).
    const bow = /\nbag of words (\d+\.\d\d)% +(\d+\.\d\d)% +(\d+\.\d\d)% +\(TF-IDF word 1–2-grams \+ logistic regression, ([\d,]+) terms\)/.exec(out);
    expect(bow, out).not.toBeNull();
    expect(Number(bow![1])).toBe(100);
    expect(Number(bow![3])).toBeGreaterThanOrEqual(85);
    expect(t.train).toBeGreaterThanOrEqual(90);
    expect(t.test).toBeGreaterThanOrEqual(85);
    const macro = /macro +precision [\d.]+%, recall [\d.]+%, F1 (\d\.\d{4})/.exec(out);
    expect(Number(macro![1])).toBeGreaterThanOrEqual(0.85);
    const matrix = /true ham +(\d+) +(\d+) +(\d+)\ntrue instruction +(\d+) +(\d+) +(\d+)\ntrue spam +(\d+) +(\d+) +(\d+)/.exec(out);
    const m = matrix!.slice(1).map(Number);
    expect(m.reduce((a, b) => a + b, 0)).toBe(36);
    for (let c = 0; c < 3; c++) expect(m[4 * c], `class ${c} right`).toBeGreaterThanOrEqual(9);
    const header = readFileSync(join(dir, 'three.safetensors'));
    const meta = JSON.parse(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString()).__metadata__;
    expect(meta).toMatchObject({ format: 'scratchgpt-classifier-v1', labels: '["ham","instruction","spam"]', maxLength: '32' });
    expect(readFileSync(join(dir, 'three-accuracy.svg'), 'utf8')).toMatch(/^<svg[\s\S]*validation accuracy/);

    // The saved classifier on the whole file: one row per text, one probability column per class.
    const preds = await cli.run(['classify', '--model', 'three.safetensors', '--input', FIXTURE, '--output', 'preds.csv'], dir);
    expect(preds.code, preds.stderr).toBe(0);
    expect(preds.stdout).toMatch(/classifier: three\.safetensors: 3 classes \(ham, instruction, spam\), mean pooling, 32 tokens per text/);
    const predicted = readLabelledFile(readFileSync(join(dir, 'preds.csv'), 'utf8'), { name: 'preds.csv' });
    expect(predicted.columns).toEqual(['text', 'label', 'p_ham', 'p_instruction', 'p_spam']);
    const truth = readLabelledFile(readFileSync(FIXTURE, 'utf8')).rows;
    expect(predicted.rows.map((r) => r.text)).toEqual(truth.map((r) => r.text));
    const right = predicted.rows.filter((r, i) => r.label === truth[i].label).length;
    expect(right / truth.length).toBeGreaterThanOrEqual(0.9); // mostly rows it trained on
    const probs = readFileSync(join(dir, 'preds.csv'), 'utf8').trim().split('\n')[1].split(',').slice(-3).map(Number);
    expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    // Arguments and stdin; the same text gets the same answer either way.
    const argsRun = await cli.run(['classify', '--model', 'three.safetensors', 'Translate the following sentence into Spanish.', 'WINNER! Call now to claim your free prize'], dir);
    expect(argsRun.code, argsRun.stderr).toBe(0);
    const rows = argsRun.stdout.split('\n').filter((l) => l.endsWith('"'));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^instruction /);
    const piped = await cli.run(['classify', '--model', 'three.safetensors'], dir, 'Translate the following sentence into Spanish.\n\n');
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout.split('\n').filter((l) => l.endsWith('"'))).toEqual([rows[0]]);
  });

  it('takes validation and test rows from files of their own, balances by undersampling, and warns of a class missing from a split', async () => {
    const lines = readFileSync(FIXTURE, 'utf8').split('\r\n').filter(Boolean);
    // Records start with an id (instructions with an input span two lines): regroup them first.
    const records: string[] = [];
    for (const line of lines.slice(1)) (/^\d+,/.test(line) ? records.push(line) : (records[records.length - 1] += `\r\n${line}`));
    const header = lines[0];
    const csv = (rows: string[]) => `${header}\r\n${rows.join('\r\n')}\r\n`;
    writeFileSync(join(dir, 'train.csv'), csv(records.slice(0, 150)));
    writeFileSync(join(dir, 'val.csv'), csv(records.slice(150, 165).filter((r) => !r.endsWith(',spam'))));
    writeFileSync(join(dir, 'test.csv'), csv(records.slice(165)));
    const files = await cli.run(['finetune', 'classify', '--data', 'train.csv', '--val', 'val.csv', '--test', 'test.csv', '--epochs', '1', '--max-length', '16', '--out', 'files.safetensors'], dir);
    expect(files.code, files.stderr).toBe(0);
    expect(files.stdout).toMatch(/data: 150 train \/ 10 val \/ 15 test texts/);
    expect(files.stdout).toMatch(/warning: the validation split has no row of 'spam': its accuracy and per-class figures do not cover that class/);
    // An unbalanced file, undersampled: every class down to the smallest's 20 rows.
    const unbalanced = records.filter((r, i) => !r.endsWith(',ham') || i < 60);
    writeFileSync(join(dir, 'unbalanced.csv'), csv(unbalanced));
    const balanced = await cli.run(['finetune', 'classify', '--data', 'unbalanced.csv', '--balance', 'undersample', '--epochs', '1', '--max-length', '16', '--out', 'bal.safetensors', '--plot', 'bal-'], dir);
    expect(balanced.code, balanced.stderr).toBe(0);
    expect(balanced.stdout).toMatch(/3 classes: ham 20, instruction 60, spam 60/);
    expect(balanced.stdout).toMatch(/balanced by undersampling: 60 rows \(20 per class\)/);
    expect(balanced.stdout).toMatch(/majority +33\.33% +33\.33% +33\.33%/);
  });

  it('refuses hostile inputs with clear errors, before the device starts', async () => {
    const write = (name: string, text: string | Buffer) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const cases: [string, string[], RegExp][] = [
      ['missing column', ['--data', write('nocol.csv', 'body,kind\nhi,a\nho,b\n')], /nocol\.csv line 1: no text column among the usual names .*the columns are 'body', 'kind': name it with --text-column/],
      ['unknown label', ['--data', FIXTURE, '--labels', 'ham,spam'], /three-class\.csv line 4: unknown label 'instruction' \(expected one of 'ham', 'spam'\)/],
      ['one-class data', ['--data', write('one.csv', 'text,label\na,x\nb,x\nc,x\n')], /the training split has rows of one class only \(x: \d+\): a classifier needs rows of at least two classes|class|one class/],
      ['empty text', ['--data', write('empty.csv', 'text,label\na,x\n,y\n')], /empty\.csv line 3: empty text/],
      ['ragged CSV row', ['--data', write('ragged.csv', 'text,label\na,x\nb,y,z\n')], /ragged\.csv line 3: expected 2 fields like the header, found 3/],
      ['non-UTF-8 file', ['--data', write('latin1.csv', Buffer.from([...Buffer.from('text,label\ncaf'), 0xe9, ...Buffer.from(',x\n')]))], /latin1\.csv is not UTF-8: invalid byte sequence at byte offset 14 \(line 2\)/],
      ['a class too small for every split', ['--data', write('small.csv', `text,label\n${Array.from({ length: 20 }, (_, i) => `a${i},a`).join('\n')}\nb1,b\nb2,b\n`)], /class 'b' has 2 rows: too few to appear in the training, validation and test splits/],
      ['a bad split', ['--data', FIXTURE, '--split', '0.9,0.2'], /--split must be 'train,val' fractions/],
    ];
    for (const [what, extra, message] of cases) {
      const r = await cli.run(['finetune', 'classify', ...extra], dir);
      expect(r.code, `${what}: ${r.stdout}`).toBe(1);
      expect(r.stderr, what).toMatch(message);
      expect(r.stdout, `${what}: the device did not start`).not.toMatch(/^adapter:/m);
    }
    // One class only: an error, never a "classifier" of one class.
    const single = await cli.run(['finetune', 'classify', '--data', write('single.csv', `text,label\n${Array.from({ length: 12 }, (_, i) => `t${i},x`).join('\n')}\n`)], dir);
    expect(single.code).toBe(1);
    expect(single.stderr).toMatch(/one class only \(x: \d+\)|rows of one class only/);
  });

  it('classify refuses files that are not a classifier, a damaged one, and missing texts', async () => {
    await init();
    manualSeed(5);
    const gpt = new GPTModel(gptConfig({ vocabSize: 50257, contextLength: 16, embDim: 8, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: true, tieWeights: true }));
    await saveGPT2(join(dir, 'gpt2'), gpt);
    gpt.dispose();
    const weights = await cli.run(['classify', '--model', join(dir, 'gpt2', 'model.safetensors'), 'hello'], dir);
    expect(weights.code).toBe(1);
    expect(weights.stderr).toMatch(/model\.safetensors: not a classifier: GPT-2 weights \(a language model\); fine-tune a classifier from them/);
    const good = readFileSync(join(dir, 'three.safetensors'));
    writeFileSync(join(dir, 'cut.safetensors'), good.subarray(0, Math.floor(good.length / 2)));
    const cut = await cli.run(['classify', '--model', 'cut.safetensors', 'hello'], dir);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/cut\.safetensors: not a safetensors file|cut\.safetensors: .*(past the end|does not fit)/);
    // Another configuration than its tensors: the metadata says two layers, the weights hold one.
    const headerLength = Number(good.readBigUInt64LE(0));
    const header = JSON.parse(good.subarray(8, 8 + headerLength).toString());
    header.__metadata__.config = header.__metadata__.config.replace('"nLayers":1', '"nLayers":2');
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const lengthBytes = Buffer.alloc(8);
    lengthBytes.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(join(dir, 'other.safetensors'), Buffer.concat([lengthBytes, Buffer.from(json), good.subarray(8 + headerLength)]));
    const other = await cli.run(['classify', '--model', 'other.safetensors', 'hello'], dir);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/other\.safetensors: damaged classifier file: tensor 'trf_blocks\.1\.[\w.]+' is missing/);
    const none = await cli.run(['classify', '--model', 'three.safetensors'], dir);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/classify read no text from stdin|classify needs texts/);
    const badOut = await cli.run(['classify', '--model', 'three.safetensors', '--output', 'p.txt', 'x'], dir);
    expect(badOut.stderr).toMatch(/--output must end in \.csv or \.jsonl, got 'p\.txt'/);
  });
});

describe('scratchgpt generate', () => {
  it('streams the same greedy tokens as the library from a checkpoint and from GPT-2 weights', async () => {
    await init();
    manualSeed(9);
    const model = new GPTModel(gptConfig({ vocabSize: 50257, contextLength: 32, embDim: 16, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: true, tieWeights: true }));
    await saveCheckpoint(join(dir, 'ckpt.safetensors'), model);
    await saveGPT2(join(dir, 'tiny-gpt2'), model);
    const prompt = 'Every effort moves you';
    const expected = decode(await generate(model, encode(prompt), { maxNewTokens: 6 }));
    model.dispose();
    for (const source of ['ckpt.safetensors', join(dir, 'tiny-gpt2', 'model.safetensors')]) {
      const r = await cli.run(['generate', '--model', source, '--max-new-tokens', '6', prompt], dir);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${expected}\n`); // stdout is the text only; the adapter goes to stderr
      expect(r.stderr).toMatch(/model: .*4 prompt tokens, up to 6 new \(greedy\)/);
    }
    const sampled = await cli.run(['generate', '--model', 'ckpt.safetensors', '--max-new-tokens', '6', '--temperature', '0.8', '--top-k', '20', '--seed', '3', prompt], dir);
    const again = await cli.run(['generate', '--model', 'ckpt.safetensors', '--max-new-tokens', '6', '--temperature', '0.8', '--top-k', '20', '--seed', '3', prompt], dir);
    expect(sampled.code, sampled.stderr).toBe(0);
    expect(sampled.stdout).toBe(again.stdout); // seeded
    const clf = await cli.run(['generate', '--model', 'three.safetensors', 'x'], dir);
    expect(clf.stderr).toMatch(/three\.safetensors is a classifier, which labels texts rather than continuing them: use `scratchgpt classify/);
  });

  it('formats an instruction as an instruct-model/ directory was trained (its subvocabulary, format and end token)', async () => {
    await init();
    manualSeed(11);
    const entries = [{ instruction: 'Name the capital of France.', input: '', output: 'The capital of France is Paris.' }];
    const vocab = Subvocabulary.fromTexts(entries.map((e) => formatExample(e)));
    const model = new GPTModel(gptConfig({ vocabSize: vocab.size, contextLength: 64, embDim: 16, nHeads: 2, nLayers: 1, dropRate: 0, qkvBias: false, tieWeights: false }));
    const out = join(dir, 'instruct-model');
    await saveGPT2(out, model);
    writeFileSync(join(out, 'vocabulary.json'), JSON.stringify({ gpt2Ids: Array.from(vocab.gpt2Ids), unknownId: vocab.unknownId }));
    writeFileSync(join(out, 'training.json'), JSON.stringify({ format: 'alpaca', maskInstruction: false }));
    // The reference: greedy ids from the library, the end token dropped, decoded, the response header removed.
    const promptIds = vocab.encode(formatInput(entries[0]));
    const eos = vocab.id(50256);
    const generated = (await generate(model, promptIds, { maxNewTokens: 8, eosId: eos })).slice(promptIds.length);
    if (generated.at(-1) === eos) generated.pop();
    const text = vocab.decode(generated).trimStart();
    const expected = (text.startsWith('### Response:') ? text.slice('### Response:'.length) : text).trimStart();
    model.dispose();
    const r = await cli.run(['generate', '--model', out, '--instruction', entries[0].instruction, '--max-new-tokens', '8'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/subvocabulary of \d+ tokens\); alpaca prompt/);
    expect(r.stdout).toBe(`${expected}\n`);
    const both = await cli.run(['generate', '--model', out, '--instruction', 'x', 'a prompt'], dir);
    expect(both.stderr).toMatch(/generate takes a PROMPT or --instruction\/--input, not both/);
  });
});
