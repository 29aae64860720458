/**
 * Scoring model responses with a judge LLM over HTTP (the book's chapter 7, section 7.8): the book's
 * prompt, an Ollama `/api/chat` client (streamed JSON lines, as the book reads them) and an
 * OpenAI-compatible `/v1/chat/completions` client, with timeouts and retries. Runtime-neutral: only
 * the global `fetch`, `AbortController` and `TextDecoder`.
 */
import { ScratchGPTError } from '@scratchgpt/core';
import { alpacaFormat, checkInstructionEntry, type InstructionEntry, type PromptFormat } from './prompts';

/** A chat model that answers one user message. */
export interface JudgeClient {
  /** The endpoint it posts to (named in errors). */
  readonly url: string;
  readonly model: string;
  /** The model's full reply to `prompt`. */
  complete(prompt: string): Promise<string>;
}

/** Timeouts and retries shared by both clients. */
export interface RequestOptions {
  /** Longest wait for the server's next bytes (headers or a streamed chunk), in ms (default 60 000). */
  timeoutMs?: number;
  /** Further attempts after a failed one: network error, timeout, HTTP 429 or 5xx (default 2). */
  retries?: number;
  /** Wait before the first retry, doubled for each further one, in ms (default 500). */
  retryDelayMs?: number;
  /** The `fetch` to use (default the global one). */
  fetch?: typeof fetch;
}

/** Options of {@link ollamaClient}. */
export interface OllamaClientOptions extends RequestOptions {
  /** Server address (default `http://localhost:11434`); `/api/chat` is completed unless present (a base ending in `/api` works too). */
  url?: string;
  /** Model name (default `llama3`, the book's). */
  model?: string;
  /** Sampling options (default the book's `{ seed: 123, temperature: 0, num_ctx: 2048 }`, for deterministic replies). */
  options?: Record<string, unknown>;
}

/** Options of {@link openAIClient}. */
export interface OpenAIClientOptions extends RequestOptions {
  /** Server address (default `https://api.openai.com`); `/v1/chat/completions` is completed unless present (a base ending in `/v1` works too). */
  url?: string;
  /** Model name (default `gpt-4-turbo`, as in the book's OpenAI notebook). */
  model?: string;
  /** Sent as `Authorization: Bearer …` when given. */
  apiKey?: string;
  /** Default 0 (the book's). */
  temperature?: number;
  /** Default 123 (the book's); `null` leaves it out for servers that reject it. */
  seed?: number | null;
}

/** An HTTP failure that is worth retrying (or not). */
class RequestError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** `base` + `path`, unless `base` already ends with it (or with its first segment, as OpenAI's `…/v1` base URLs do). */
function endpoint(base: string, path: string): string {
  const trimmed = base.replace(/\/+$/, '');
  if (trimmed.endsWith(path)) return trimmed;
  const first = path.slice(0, path.indexOf('/', 1));
  return first.length > 0 && trimmed.endsWith(first) ? trimmed + path.slice(first.length) : trimmed + path;
}

function checkRequestOptions({ timeoutMs = 60_000, retries = 2, retryDelayMs = 500 }: RequestOptions): Required<Omit<RequestOptions, 'fetch'>> {
  if (!(timeoutMs > 0)) throw new ScratchGPTError('value', `scratchgpt: timeoutMs must be positive, got ${timeoutMs}`);
  if (!Number.isInteger(retries) || retries < 0) throw new ScratchGPTError('value', `scratchgpt: retries must be an integer ≥ 0, got ${retries}`);
  if (!(retryDelayMs >= 0)) throw new ScratchGPTError('value', `scratchgpt: retryDelayMs must be ≥ 0, got ${retryDelayMs}`);
  return { timeoutMs, retries, retryDelayMs };
}

/** The network-level reason of a failed `fetch` (Node puts it in `cause`). */
function networkReason(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause ? `${e.message ?? String(err)} (${cause})` : (e?.message ?? String(err));
}

/**
 * One POST with a timeout that restarts whenever bytes arrive; `read` consumes the response body
 * through `next()` (each call waits for the next chunk, `null` at the end).
 */
async function post<T>(
  fetchFn: typeof fetch,
  url: string,
  body: unknown,
  headers: Record<string, string>,
  timeoutMs: number,
  read: (next: () => Promise<string | null>) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
  };
  arm();
  try {
    let response: Response;
    try {
      response = await fetchFn(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body), signal: controller.signal });
    } catch (err) {
      throw new RequestError(timedOut ? `no answer within ${timeoutMs} ms` : networkReason(err), true);
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      const retryable = response.status === 429 || response.status >= 500;
      throw new RequestError(`HTTP ${response.status} ${response.statusText}${text ? `: ${text.slice(0, 300)}` : ''}`, retryable);
    }
    if (!response.body) throw new RequestError('the response has no body', true);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let done = false;
    const next = async (): Promise<string | null> => {
      if (done) return null;
      arm();
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        throw new RequestError(timedOut ? `the reply stalled for more than ${timeoutMs} ms` : `the reply broke off: ${networkReason(err)}`, true);
      }
      if (chunk.done) {
        done = true;
        const rest = decoder.decode();
        return rest === '' ? null : rest;
      }
      return decoder.decode(chunk.value, { stream: true });
    };
    try {
      return await read(next);
    } finally {
      if (!done) await reader.cancel().catch(() => undefined);
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `attempt` with retries and exponential backoff; the final error names the URL. */
async function withRetries<T>(url: string, { retries, retryDelayMs }: { retries: number; retryDelayMs: number }, hint: string, attempt: () => Promise<T>): Promise<T> {
  for (let k = 0; ; k++) {
    try {
      return await attempt();
    } catch (err) {
      const retryable = err instanceof RequestError ? err.retryable : false;
      if (!retryable || k >= retries) {
        const tries = k + 1;
        const why = err instanceof Error ? err.message : String(err);
        throw new ScratchGPTError('value', `scratchgpt: judge request to ${url} failed${tries > 1 ? ` after ${tries} attempts` : ''}: ${why}${retryable ? hint : ''}`);
      }
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs * 2 ** k));
    }
  }
}

/**
 * A client for Ollama's `/api/chat` (the book's `query_model`): posts
 * `{ model, messages: [{ role: 'user', content }], options }` and concatenates `message.content` of the
 * streamed JSON lines until `done: true`.
 * @example
 * ```ts
 * const judge = ollamaClient(); // http://localhost:11434, llama3
 * await judge.complete('What do Llamas eat?');
 * ```
 */
export function ollamaClient(options: OllamaClientOptions = {}): JudgeClient {
  const { url = 'http://localhost:11434', model = 'llama3', options: sampling = { seed: 123, temperature: 0, num_ctx: 2048 } } = options;
  const request = checkRequestOptions(options);
  const fetchFn = options.fetch ?? globalThis.fetch;
  const target = endpoint(url, '/api/chat');
  const hint = ` (is Ollama running? start it with 'ollama serve' and pull the model with 'ollama pull ${model}')`;
  return {
    url: target,
    model,
    complete: (prompt: string) =>
      withRetries(target, request, hint, () =>
        post(fetchFn, target, { model, messages: [{ role: 'user', content: prompt }], options: sampling }, {}, request.timeoutMs, async (next) => {
          let reply = '';
          let pending = '';
          let finished = false;
          const take = (line: string, number: number): void => {
            if (line.trim() === '') return;
            let message: { message?: { content?: unknown }; done?: unknown; error?: unknown };
            try {
              message = JSON.parse(line);
            } catch {
              throw new RequestError(`line ${number} of the streamed reply is not JSON: ${line.slice(0, 200)}`, false);
            }
            if (typeof message.error === 'string') throw new RequestError(`the server reported: ${message.error}`, false);
            if (typeof message.message?.content === 'string') reply += message.message.content;
            if (message.done === true) finished = true;
          };
          let lines = 0;
          for (let chunk = await next(); chunk !== null && !finished; chunk = await next()) {
            pending += chunk;
            const parts = pending.split('\n');
            pending = parts.pop() ?? '';
            for (const line of parts) take(line, ++lines);
          }
          if (!finished) take(pending, ++lines);
          if (!finished) throw new RequestError('the streamed reply ended without "done": true', true);
          return reply;
        }),
      ),
  };
}

/**
 * A client for an OpenAI-compatible `/v1/chat/completions` (OpenAI, llama.cpp's server, vLLM, LM
 * Studio, Ollama's own): one non-streamed request, the reply is `choices[0].message.content`.
 */
export function openAIClient(options: OpenAIClientOptions = {}): JudgeClient {
  const { url = 'https://api.openai.com', model = 'gpt-4-turbo', apiKey, temperature = 0, seed = 123 } = options;
  const request = checkRequestOptions(options);
  const fetchFn = options.fetch ?? globalThis.fetch;
  const target = endpoint(url, '/v1/chat/completions');
  const headers: Record<string, string> = apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
  const body: Record<string, unknown> = { model, messages: [{ role: 'user', content: '' }], temperature };
  if (seed !== null) body.seed = seed;
  return {
    url: target,
    model,
    complete: (prompt: string) =>
      withRetries(target, request, ' (is the server running at that address?)', () =>
        post(fetchFn, target, { ...body, messages: [{ role: 'user', content: prompt }] }, headers, request.timeoutMs, async (next) => {
          let text = '';
          for (let chunk = await next(); chunk !== null; chunk = await next()) text += chunk;
          let parsed: { choices?: { message?: { content?: unknown } }[] };
          try {
            parsed = JSON.parse(text);
          } catch {
            throw new RequestError(`the reply is not JSON: ${text.slice(0, 200)}`, false);
          }
          const content = parsed.choices?.[0]?.message?.content;
          if (typeof content !== 'string') throw new RequestError(`the reply has no choices[0].message.content: ${text.slice(0, 200)}`, false);
          return content;
        }),
      ),
  };
}

/**
 * The book's judge prompt, exactly:
 * ``Given the input `{format_input(entry)}` and correct output `{output}`, score the model response
 * `{model_response}` on a scale from 0 to 100, where 100 is the best score. Respond with the integer
 * number only.`` (`format_input` is the Alpaca prompt unless `format` says otherwise).
 */
export function judgePrompt(entry: InstructionEntry, response: string, format: PromptFormat = alpacaFormat): string {
  return (
    `Given the input \`${format.prompt(entry)}\` ` +
    `and correct output \`${entry.output}\`, ` +
    `score the model response \`${response}\`` +
    ` on a scale from 0 to 100, where 100 is the best score. ` +
    `Respond with the integer number only.`
  );
}

/**
 * A judge's reply as a score: an integer 0…100 with nothing else but surrounding whitespace (what
 * Python's `int(reply)` accepts, without its `_` separators), else null.
 */
export function parseScore(reply: string): number | null {
  const m = /^\s*\+?(\d+)\s*$/.exec(reply);
  if (!m) return null;
  const score = Number(m[1]);
  return score <= 100 ? score : null;
}

/** Progress of {@link scoreResponses}, after each entry. */
export interface ScoreProgress {
  /** Entries scored so far (parsed or not). */
  done: number;
  total: number;
  /** This entry's score, or null when the reply did not parse. */
  score: number | null;
  /** The judge's raw reply. */
  reply: string;
}

/** Options of {@link scoreResponses}. */
export interface ScoreOptions {
  client: JudgeClient;
  /** Entry key holding the response to score (default `model_response`). */
  key?: string;
  /** Template of the `format_input` part of the judge prompt (default Alpaca, as in the book). */
  format?: PromptFormat;
  onProgress?: (progress: ScoreProgress) => void;
}

/** What {@link scoreResponses} found. */
export interface ScoreResult {
  /** One per entry: the score, or null when the reply was not an integer in 0…100. */
  scores: (number | null)[];
  /** Mean of the parsed scores (NaN when none parsed). */
  average: number;
  /** How many replies did not parse. */
  failed: number;
  /** The replies that did not parse, with their entry index. */
  failures: { index: number; reply: string }[];
}

/**
 * Asks the judge to score every entry's response (the book's `generate_model_scores`), one request at
 * a time, and averages the parsed scores. A request that still fails after its retries throws.
 * @example
 * ```ts
 * const entries = parseInstructionData(readFileSync('instruction-data-with-response.json', 'utf8'));
 * const { average, failed } = await scoreResponses(entries, { client: ollamaClient() });
 * console.log(`Average score: ${average.toFixed(2)} (${failed} unparsed)`);
 * ```
 */
export async function scoreResponses(entries: readonly InstructionEntry[], { client, key = 'model_response', format = alpacaFormat, onProgress }: ScoreOptions): Promise<ScoreResult> {
  entries.forEach((entry, i) => {
    checkInstructionEntry(entry, `entry ${i}`);
    if (typeof entry[key] !== 'string') throw new ScratchGPTError('format', `scratchgpt: entry ${i} has no string '${key}' to score`);
  });
  const scores: (number | null)[] = [];
  const failures: { index: number; reply: string }[] = [];
  for (let i = 0; i < entries.length; i++) {
    const reply = await client.complete(judgePrompt(entries[i], entries[i][key] as string, format));
    const score = parseScore(reply);
    scores.push(score);
    if (score === null) failures.push({ index: i, reply });
    onProgress?.({ done: i + 1, total: entries.length, score, reply });
  }
  const parsed = scores.filter((s): s is number => s !== null);
  const average = parsed.length === 0 ? NaN : parsed.reduce((a, b) => a + b, 0) / parsed.length;
  return { scores, average, failed: failures.length, failures };
}
