/**
 * The `scratchgpt` command-line tool.
 *   scratchgpt finetune classify --data FILE [options]  fine-tune a classifier on a labelled file
 *   scratchgpt finetune spam [options]  fine-tune a spam classifier (the book's chapter 6, a preset of classify)
 *   scratchgpt finetune instruct [options]  instruction fine-tuning (the book's chapter 7)
 *   scratchgpt classify --model FILE [TEXT ...]  label texts with a saved classifier
 *   scratchgpt generate --model FILE_OR_DIR [PROMPT]  text from a checkpoint, an instruct-model/ or GPT-2 weights
 *   scratchgpt judge FILE [options]  score model responses with a judge LLM (Ollama / OpenAI-compatible)
 *   scratchgpt pretrain [options]   pretrain a small GPT on the-verdict.txt (or --text FILE)
 *   scratchgpt demo [options]       adapter in use + a matmul checked against a CPU reference
 */
import { parseArgs } from 'node:util';
import { runClassify } from './classify';
import { runDemo } from './demo';
import { runFinetune } from './finetune';
import { runGenerate } from './generate';
import { runInstruct } from './instruct';
import { runJudge } from './judge';
import { parseLoRAOption } from './lora-option';
import { runPretrain } from './pretrain';

const USAGE = `usage: scratchgpt <command> [options]

commands:
  finetune classify --data FILE  fine-tune a classifier on your labelled texts (two classes or more): prints the
            per-class counts, losses, per-epoch accuracies, the final table beside the majority-class baseline,
            the test confusion matrix and per-class/macro precision, recall and F1; writes the classifier and plots
            --data FILE     CSV or TSV with a header, a JSON array of objects, or JSON Lines (UTF-8)
            --delimiter D   CSV field separator (default: from the extension; 'tab' for a tab)
            --text-column C --label-column C   (default: text|sentence|message|content, label|class|category|target)
            --labels a,b,c  the classes and their order (a row with another label is an error); default: found, sorted
            --split T,V     stratified train/validation fractions, the rest tests (default 0.7,0.1; seeded)
            --val FILE      --test FILE   validation / test rows from their own files instead
            --balance B     none (default) | undersample (every class to the smallest)
            the recipe options of finetune spam below (--weights, --trainable, --pooling, --lora, --epochs, ...);
            --out default classifier.safetensors, --plot default classifier-
  finetune spam  the same on the SMS Spam Collection (the book's balanced split 1045/149/300, its recipe with
            --weights), plus the verdicts for the book's two sample texts
            --weights P     GPT-2 safetensors file or URL: the book's recipe (last block + final norm + head,
                            last-token pooling, 5 epochs, batch 8, lr 5e-5); default: a small built-in GPT
                            trained end to end (mean pooling, 3 epochs, batch 16, lr 3e-3; a few minutes on CPU)
            --trainable T   book | all | head | N (the last N blocks)
            --pooling P     last | last-non-pad | first | mean
            --epochs N      --batch-size N      --lr X      --seed N (default 123)
            --max-length N  tokens per text (default: built-in 64, GPT-2 the longest training text)
            --out FILE      classifier file (default spam-classifier.safetensors)
            --plot P        SVG plots: a directory, or a file-name prefix (default spam- → spam-loss.svg, spam-accuracy.svg)
            --limit N       use at most N texts of each split (quick runs)
            --data FILE     another SMS Spam Collection TSV (label<TAB>text, UTF-8)
            --lora R,A      train LoRA adapters only (rank R, alpha A; the book: 16,16), merged into the saved classifier
            --pretrain      built-in model: pretrain it first as a language model on the SMS texts outside the
                            val/test splits (labels unused; 2 epochs, ~30 s on CPU); default with --lora only
            --no-pretrain   never pretrain (LoRA on the random built-in trunk)
  finetune instruct  instruction fine-tuning on the book's 1100 instructions (split 935/55/110), a response to
            the first validation entry after each epoch, responses for the test set
            --weights P     GPT-2 safetensors file or URL: the book's recipe (gpt2-medium in the book; 2 epochs,
                            batch 8, lr 5e-5); default: a small built-in GPT over the training texts'
                            subvocabulary, trained from scratch (C=64, L=2, 2 epochs, batch 8, lr 2e-3)
            --lora R,A      train LoRA adapters only (rank R, alpha A), merged into the saved model
            --epochs N      --batch-size N      --lr X      --seed N (default 123)
            --format F      alpaca | phi3 (default alpaca)
            --mask-instruction  mask the prompt tokens in the targets (the book's exercise 7.2)
            --max-length N  cut training texts to N tokens (default: the context length)
            --max-new-tokens N  per test response (default 256, the book's; built-in 64)
            --emb N  --layers N  --heads N   shape of the built-in model
            --limit N       use at most N entries of each split (quick runs)
            --data FILE     other instruction data (JSON array or JSON Lines of {instruction, input, output})
            --out DIR       model.safetensors + config.json (+ vocabulary.json, lora-adapters.safetensors),
                            instruction-data-with-response.json, loss.svg (default instruct-model)
            --plot FILE     the SVG loss plot (default DIR/loss.svg)
  classify --model FILE [TEXT ...]  label texts with a classifier saved by finetune classify/spam: each text's
            label and every class's probability; texts from the arguments, --input, or stdin (one per line)
            --input FILE    CSV/TSV/JSON/JSONL of texts (--text-column C; default text|sentence|message|content)
            --output FILE   write predictions.csv (text, label, p_<class>...) or predictions.jsonl
            --batch-size N  texts per forward pass (default 32)
  generate --model FILE_OR_DIR [PROMPT]  stream text from a pretrain --out checkpoint, an instruct-model/
            directory (with --instruction/--input: its prompt format, stopping at its end token) or GPT-2
            weights (a safetensors file or URL)
            --instruction T --input T   an instruction (and input) formatted as in training (--format alpaca|phi3)
            --max-new-tokens N (default 50)   --temperature X (default 0: greedy)   --top-k N   --top-p P   --seed N
  judge FILE  score the responses in FILE (instruction-data-with-response.json) with the book's judge prompt;
            prints the average score and the replies that did not parse
            --url U         server (default http://localhost:11434 for ollama, https://api.openai.com for openai)
            --model M       judge model (default llama3 for ollama, gpt-4-turbo for openai)
            --api A         ollama (/api/chat, streamed) | openai (/v1/chat/completions; key from OPENAI_API_KEY)
            --key K         entry key of the responses (default model_response)
            --format F      alpaca | phi3: the format_input part of the judge prompt (default alpaca)
            --timeout MS    wait for the server's next bytes (default 60000)
            --retries N     further attempts after a failed request (default 2)
  pretrain  pretrain a small GPT on the book's the-verdict.txt, print losses and samples
            --text FILE     train on this text instead
            --epochs N      (default 10)         --lr X          peak learning rate (default 1e-3)
            --emb N         width (default 96)    --layers N      blocks (default 2)
            --heads N       (default 4)           --context N     sequence length (default 64)
            --batch N       (default 4)           --seed N        (default 123)
            --out FILE      write a safetensors checkpoint
            --plot FILE     write an SVG loss plot
  demo      print the WebGPU adapter in use and run a checked matmul
            --size N        matrix size (default 256)

  --backend B   auto | default | vulkan | opengles | lavapipe | swiftshader | d3d12 | metal (or env SCRATCHGPT_BACKEND)
`;

const OPTIONS = {
  size: { type: 'string' },
  backend: { type: 'string' },
  text: { type: 'string' },
  epochs: { type: 'string' },
  lr: { type: 'string' },
  emb: { type: 'string' },
  layers: { type: 'string' },
  heads: { type: 'string' },
  context: { type: 'string' },
  batch: { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string' },
  plot: { type: 'string' },
  weights: { type: 'string' },
  trainable: { type: 'string' },
  pooling: { type: 'string' },
  'batch-size': { type: 'string' },
  'max-length': { type: 'string' },
  limit: { type: 'string' },
  data: { type: 'string' },
  delimiter: { type: 'string' },
  'text-column': { type: 'string' },
  'label-column': { type: 'string' },
  labels: { type: 'string' },
  split: { type: 'string' },
  val: { type: 'string' },
  test: { type: 'string' },
  balance: { type: 'string' },
  lora: { type: 'string' },
  pretrain: { type: 'boolean' },
  'no-pretrain': { type: 'boolean' },
  format: { type: 'string' },
  'mask-instruction': { type: 'boolean' },
  'max-new-tokens': { type: 'string' },
  url: { type: 'string' },
  input: { type: 'string' },
  output: { type: 'string' },
  instruction: { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  model: { type: 'string' },
  api: { type: 'string' },
  key: { type: 'string' },
  timeout: { type: 'string' },
  retries: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function num(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`scratchgpt: --${name} must be a positive number, got '${value}'`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command ? 0 : 1;
  }
  const { values: v, positionals } = parseArgs({ args: rest, options: OPTIONS, allowPositionals: ['finetune', 'judge', 'classify', 'generate'].includes(command) });
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const optional = (value: string | undefined, name: string) => (value === undefined ? undefined : num(value, 0, name));
  switch (command) {
    case 'demo':
      return runDemo({ size: num(v.size, 256, 'size'), backend: v.backend });
    case 'finetune': {
      const task = positionals[0];
      if (positionals.length !== 1 || (task !== 'spam' && task !== 'instruct' && task !== 'classify')) {
        process.stderr.write(`scratchgpt: finetune needs a task: 'classify' (your labelled file), 'spam' or 'instruct' (scratchgpt finetune classify --data FILE)\n`);
        return 1;
      }
      if (task !== 'classify') {
        for (const name of ['delimiter', 'text-column', 'label-column', 'labels', 'split', 'val', 'test', 'balance'] as const) {
          if (v[name] !== undefined) throw new Error(`scratchgpt: --${name} is an option of finetune classify, not of finetune ${task}`);
        }
      }
      const limit = optional(v.limit, 'limit');
      const maxLength = optional(v['max-length'], 'max-length');
      const batchSize = optional(v['batch-size'], 'batch-size');
      const epochs = optional(v.epochs, 'epochs');
      const maxNewTokens = optional(v['max-new-tokens'], 'max-new-tokens');
      for (const [name, value] of [['limit', limit], ['max-length', maxLength], ['batch-size', batchSize], ['epochs', epochs], ['max-new-tokens', maxNewTokens]] as const) {
        if (value !== undefined && !Number.isInteger(value)) throw new Error(`scratchgpt: --${name} must be a positive integer, got '${value}'`);
      }
      if (task === 'instruct') {
        const shape = { embDim: optional(v.emb, 'emb'), layers: optional(v.layers, 'layers'), heads: optional(v.heads, 'heads') };
        return runInstruct({
          weights: v.weights,
          lora: parseLoRAOption(v.lora),
          epochs,
          batchSize,
          lr: optional(v.lr, 'lr'),
          format: v.format,
          maskInstruction: v['mask-instruction'] === true,
          maxLength,
          maxNewTokens,
          ...shape,
          limit,
          out: v.out ?? 'instruct-model',
          plot: v.plot,
          data: v.data,
          seed: num(v.seed, 123, 'seed'),
          backend: v.backend,
        });
      }
      return runFinetune({
        task,
        lora: parseLoRAOption(v.lora),
        pretrain: v['no-pretrain'] ? false : v.pretrain,
        weights: v.weights,
        trainable: v.trainable,
        pooling: v.pooling,
        epochs,
        batchSize,
        lr: optional(v.lr, 'lr'),
        seed: num(v.seed, 123, 'seed'),
        out: v.out ?? (task === 'spam' ? 'spam-classifier.safetensors' : 'classifier.safetensors'),
        plot: v.plot ?? (task === 'spam' ? 'spam-' : 'classifier-'),
        limit,
        maxLength,
        data: v.data,
        delimiter: v.delimiter === '\\t' || v.delimiter === 'tab' ? '\t' : v.delimiter,
        textColumn: v['text-column'],
        labelColumn: v['label-column'],
        labels: v.labels,
        split: v.split,
        val: v.val,
        test: v.test,
        balance: v.balance,
        backend: v.backend,
      });
    }
    case 'classify': {
      if (v.model === undefined) throw new Error('scratchgpt: classify needs --model FILE (a classifier saved by finetune classify or finetune spam)');
      const batchSize = optional(v['batch-size'], 'batch-size');
      if (batchSize !== undefined && !Number.isInteger(batchSize)) throw new Error(`scratchgpt: --batch-size must be a positive integer, got '${v['batch-size']}'`);
      return runClassify({
        model: v.model,
        texts: positionals,
        input: v.input,
        textColumn: v['text-column'],
        delimiter: v.delimiter === '\\t' || v.delimiter === 'tab' ? '\t' : v.delimiter,
        output: v.output,
        batchSize,
        backend: v.backend,
      });
    }
    case 'generate': {
      if (v.model === undefined) throw new Error('scratchgpt: generate needs --model FILE_OR_DIR (a checkpoint, an instruct-model/ directory or GPT-2 weights)');
      if (positionals.length > 1) throw new Error(`scratchgpt: generate takes one PROMPT (quote it), got ${positionals.length} arguments`);
      const temperature = v.temperature === undefined ? 0 : Number(v.temperature);
      if (!(temperature >= 0 && Number.isFinite(temperature))) throw new Error(`scratchgpt: --temperature must be a number ≥ 0, got '${v.temperature}'`);
      const maxNewTokens = num(v['max-new-tokens'], 50, 'max-new-tokens');
      const topK = optional(v['top-k'], 'top-k');
      for (const [name, value] of [['max-new-tokens', maxNewTokens], ['top-k', topK]] as const) {
        if (value !== undefined && !Number.isInteger(value)) throw new Error(`scratchgpt: --${name} must be a positive integer, got '${value}'`);
      }
      const topP = v['top-p'] === undefined ? undefined : Number(v['top-p']);
      if (topP !== undefined && !(topP > 0 && topP <= 1)) throw new Error(`scratchgpt: --top-p must be in (0, 1], got '${v['top-p']}'`);
      return runGenerate({
        model: v.model,
        prompt: positionals[0],
        instruction: v.instruction,
        input: v.input,
        format: v.format,
        maxNewTokens,
        temperature,
        topK,
        topP,
        seed: v.seed === undefined ? undefined : num(v.seed, 0, 'seed'),
        backend: v.backend,
      });
    }
    case 'judge': {
      if (positionals.length !== 1) {
        process.stderr.write(`scratchgpt: judge needs one responses file (scratchgpt judge instruction-data-with-response.json)\n`);
        return 1;
      }
      const retries = v.retries === undefined ? undefined : Number(v.retries);
      if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0)) throw new Error(`scratchgpt: --retries must be an integer ≥ 0, got '${v.retries}'`);
      return runJudge({
        file: positionals[0],
        api: v.api,
        url: v.url,
        model: v.model,
        key: v.key,
        format: v.format,
        timeoutMs: optional(v.timeout, 'timeout'),
        retries,
      });
    }
    case 'pretrain':
      return runPretrain({
        text: v.text,
        epochs: num(v.epochs, 10, 'epochs'),
        lr: num(v.lr, 1e-3, 'lr'),
        embDim: num(v.emb, 96, 'emb'),
        layers: num(v.layers, 2, 'layers'),
        heads: num(v.heads, 4, 'heads'),
        context: num(v.context, 64, 'context'),
        batch: num(v.batch, 4, 'batch'),
        seed: num(v.seed, 123, 'seed'),
        out: v.out,
        plot: v.plot,
        backend: v.backend,
      });
    default:
      process.stderr.write(`scratchgpt: unknown command '${command}'\n${USAGE}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  },
);
