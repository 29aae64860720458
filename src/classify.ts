/**
 * `scratchgpt classify --model FILE [TEXT ...]`: predictions from a classifier saved by `finetune classify`
 * or `finetune spam`. Texts come from the arguments, from `--input FILE` (CSV/TSV/JSON/JSONL, the
 * `--text-column`), or from stdin (one per line); each gets its label and every class's probability,
 * printed or written to `--output FILE` (.csv or .jsonl, one column per class). Batched: `--batch-size`
 * texts per forward pass, with a progress bar on large inputs.
 */
import { stat, writeFile } from 'node:fs/promises';
import { classifyAll, loadClassifier, readTextsFile, type Classification } from '@scratchgpt/finetune';
import { decodeUtf8 } from '@scratchgpt/gpt';
import { initDevice, readTextFile } from './finetune-shared';
import { ProgressBar } from './progress';

export interface ClassifyCommandOptions {
  model: string;
  texts: string[];
  input?: string;
  textColumn?: string;
  delimiter?: string;
  output?: string;
  batchSize?: number;
  backend?: string;
}

/** Texts per progress update (and per `classifyAll` call) on large inputs. */
const CHUNK = 256;

async function stdinText(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return decodeUtf8(Buffer.concat(chunks), 'stdin');
}

/** A CSV field, quoted when it must be (RFC 4180). */
function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** Predictions as a CSV (text, label, then one probability column per class) or JSON Lines. */
function predictionsFile(path: string, texts: readonly string[], results: readonly Classification[], labels: readonly string[]): string {
  if (/\.jsonl$/i.test(path)) {
    return results.map((r, i) => `${JSON.stringify({ text: texts[i], label: r.label, probabilities: Object.fromEntries(labels.map((l, k) => [l, r.probabilities[k]])) })}\n`).join('');
  }
  if (!/\.csv$/i.test(path)) throw new Error(`scratchgpt: --output must end in .csv or .jsonl, got '${path}'`);
  const header = ['text', 'label', ...labels.map((l) => `p_${l}`)].map(csvField).join(',');
  const lines = results.map((r, i) => [csvField(texts[i]), csvField(r.label), ...r.probabilities.map((p) => p.toPrecision(6))].join(','));
  return `${[header, ...lines].join('\n')}\n`;
}

export async function runClassify(o: ClassifyCommandOptions): Promise<number> {
  if (o.output && !/\.(csv|jsonl)$/i.test(o.output)) throw new Error(`scratchgpt: --output must end in .csv or .jsonl, got '${o.output}'`);
  // The inputs first, then the file (cheap), then the device.
  let texts = o.texts;
  if (o.input !== undefined) {
    if (texts.length > 0) throw new Error('scratchgpt: classify takes texts as arguments or --input FILE, not both');
    texts = readTextsFile(await readTextFile(o.input, 'the input'), { name: o.input, textColumn: o.textColumn, delimiter: o.delimiter }).texts;
  } else if (texts.length === 0) {
    if (process.stdin.isTTY) throw new Error('scratchgpt: classify needs texts: as arguments, with --input FILE, or on stdin (one per line)');
    texts = (await stdinText()).split(/\r\n|\n|\r/).filter((t) => t.trim() !== '');
    if (texts.length === 0) throw new Error('scratchgpt: classify read no text from stdin');
  }
  await stat(o.model).catch((err: Error) => {
    throw new Error(`scratchgpt: cannot read the classifier ${o.model} (${err.message})`);
  });
  await initDevice(o.backend, 0);
  const { model, labels, maxLength, pooling } = await loadClassifier(o.model);
  try {
    console.log(`classifier: ${o.model}: ${labels.length} classes (${labels.join(', ')}), ${pooling} pooling, ${maxLength} tokens per text`);
    const results: Classification[] = [];
    const bar = texts.length > CHUNK ? new ProgressBar(texts.length) : null;
    for (let i = 0; i < texts.length; i += CHUNK) {
      results.push(...(await classifyAll(model, texts.slice(i, i + CHUNK), { maxLength, batchSize: o.batchSize ?? 32 })));
      bar?.update(results.length, 'texts');
    }
    bar?.finish();
    if (o.output) {
      await writeFile(o.output, predictionsFile(o.output, texts, results, labels));
      const counts = labels.map((l) => `${l} ${results.filter((r) => r.label === l).length}`).join(', ');
      console.log(`predictions for ${texts.length} texts: ${o.output} (${counts})`);
    } else {
      const w = Math.max(5, ...labels.map((l) => l.length));
      console.log(`${'label'.padEnd(w)}  ${labels.map((l) => `p(${l})`.padStart(Math.max(8, l.length + 3))).join(' ')}  text`);
      results.forEach((r, i) => {
        const probs = r.probabilities.map((p, k) => p.toFixed(4).padStart(Math.max(8, labels[k].length + 3))).join(' ');
        console.log(`${r.label.padEnd(w)}  ${probs}  ${JSON.stringify(texts[i])}`);
      });
    }
  } finally {
    model.dispose();
  }
  return 0;
}
