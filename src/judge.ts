/**
 * `scratchgpt judge responses.json`: scores a responses file (the book's
 * `instruction-data-with-response.json`) with a judge model over HTTP — Ollama's `/api/chat` (the
 * book's; default `http://localhost:11434`, `llama3`) or an OpenAI-compatible `/v1/chat/completions` —
 * with the book's prompt, and prints the average score and the replies that did not parse.
 */
import { ollamaClient, openAIClient, parseInstructionData, promptFormat, scoreResponses, type JudgeClient } from '@scratchgpt/finetune';
import { readTextFile } from './finetune-shared';
import { ProgressBar } from './progress';

export interface JudgeOptions {
  /** The responses file (JSON array or JSON Lines of entries with `key`). */
  file: string;
  /** `ollama` (default) or `openai`. */
  api?: string;
  url?: string;
  model?: string;
  /** Entry key of the responses (default `model_response`). */
  key?: string;
  /** Prompt format of `format_input` in the judge prompt (default `alpaca`). */
  format?: string;
  /** Per-request wait for the server's next bytes, ms. */
  timeoutMs?: number;
  retries?: number;
}

function makeClient(o: JudgeOptions): JudgeClient {
  const request = { timeoutMs: o.timeoutMs, retries: o.retries };
  switch (o.api ?? 'ollama') {
    case 'ollama':
      return ollamaClient({ ...request, url: o.url, model: o.model });
    case 'openai':
      // The key comes from the environment only, never from the command line (shell history).
      return openAIClient({ ...request, url: o.url, model: o.model, apiKey: process.env.OPENAI_API_KEY });
    default:
      throw new Error(`scratchgpt: --api must be ollama or openai, got '${o.api}'`);
  }
}

export async function runJudge(o: JudgeOptions): Promise<number> {
  const format = promptFormat((o.format ?? 'alpaca') as 'alpaca');
  const client = makeClient(o);
  const text = await readTextFile(o.file, 'the responses file');
  const entries = parseInstructionData(text);
  if (entries.length === 0) throw new Error(`scratchgpt: ${o.file} holds no entries to score`);
  console.log(`judge: ${client.model} at ${client.url}; ${entries.length} responses ('${o.key ?? 'model_response'}') from ${o.file}`);
  const bar = new ProgressBar(entries.length);
  const result = await scoreResponses(entries, {
    client,
    key: o.key,
    format,
    onProgress: (p) => bar.update(p.done, p.score === null ? 'unparsed reply' : `last score ${p.score}`),
  });
  bar.finish();
  const parsed = entries.length - result.failed;
  console.log(`Number of scores: ${parsed} of ${entries.length}`);
  console.log(`Average score: ${Number.isNaN(result.average) ? 'n/a (no reply parsed)' : result.average.toFixed(2)}`);
  if (result.failed > 0) {
    console.log(`${result.failed} ${result.failed === 1 ? 'reply' : 'replies'} did not parse as an integer 0…100:`);
    for (const { index, reply } of result.failures) console.log(`  entry ${index}: ${JSON.stringify(reply.length > 200 ? `${reply.slice(0, 200)}…` : reply)}`);
  }
  return parsed > 0 ? 0 : 1;
}
