/** The judge clients against small fake servers on 127.0.0.1 (Ollama-style streaming and OpenAI-style). */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { judgePrompt, ollamaClient, openAIClient, parseScore, scoreResponses, type InstructionEntry } from '../src/index';

interface Received {
  url: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

const servers: Server[] = [];

/** A server answering with `handle`; resolves to its base URL and the requests it received. */
async function fakeServer(handle: (req: Received, res: ServerResponse, n: number) => void): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const r = { url: req.url ?? '', headers: req.headers, body: raw ? JSON.parse(raw) : {} };
      received.push(r);
      handle(r, res, received.length);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Streams `parts` as Ollama does: one JSON object per line, `done: true` last; `split` cuts lines across writes. */
async function streamOllama(res: ServerResponse, parts: string[], { split = false, delayMs = 5 } = {}): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
  const lines = parts.map((content) => JSON.stringify({ model: 'llama3', message: { role: 'assistant', content }, done: false }) + '\n');
  lines.push(JSON.stringify({ model: 'llama3', message: { role: 'assistant', content: '' }, done: true, total_duration: 1 }) + '\n');
  for (const line of lines) {
    if (split) {
      const half = Math.floor(line.length / 2);
      res.write(line.slice(0, half));
      await sleep(delayMs);
      res.write(line.slice(half));
    } else {
      res.write(line);
    }
    await sleep(delayMs);
  }
  res.end();
}

const entry: InstructionEntry = { instruction: "What is an antonym of 'complicated'?", input: '', output: "An antonym of 'complicated' is 'simple'.", model_response: 'Simple.' };

describe('judge prompt and score parsing', () => {
  it("the book's prompt, exactly", () => {
    expect(judgePrompt(entry, 'Simple.')).toBe(
      "Given the input `Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nWhat is an antonym of 'complicated'?` " +
        "and correct output `An antonym of 'complicated' is 'simple'.`, score the model response `Simple.` on a scale from 0 to 100, where 100 is the best score. Respond with the integer number only.",
    );
  });

  it('scores: integers 0…100 with optional whitespace, else null', () => {
    expect(['85', ' 90\n', '+7', '0', '100', '007'].map(parseScore)).toEqual([85, 90, 7, 0, 100, 7]);
    expect(['101', '-5', '85.5', 'Score: 85', '85/100', '', '1_0', 'eighty'].map(parseScore)).toEqual(Array(8).fill(null));
  });
});

describe('Ollama client', () => {
  it("posts the book's request and joins the streamed message contents (lines split across chunks too)", async () => {
    const { url, received } = await fakeServer((_req, res, n) => void streamOllama(res, ['Llamas ', 'eat ', 'grass.'], { split: n === 2 }));
    const judge = ollamaClient({ url });
    expect(judge.url).toBe(`${url}/api/chat`);
    expect(await judge.complete('What do Llamas eat?')).toBe('Llamas eat grass.');
    expect(await judge.complete('again')).toBe('Llamas eat grass.');
    expect(received[0].url).toBe('/api/chat');
    expect(received[0].headers['content-type']).toBe('application/json');
    expect(received[0].body).toEqual({
      model: 'llama3',
      messages: [{ role: 'user', content: 'What do Llamas eat?' }],
      options: { seed: 123, temperature: 0, num_ctx: 2048 },
    });
  });

  it('retries a 500 with backoff, does not retry a 404 or an error line', async () => {
    const { url, received } = await fakeServer((req, res, n) => {
      if (req.body.model === 'missing') {
        res.writeHead(404).end('{"error":"model \\"missing\\" not found, try pulling it first"}');
      } else if (req.body.model === 'broken') {
        res.writeHead(200).end('{"error":"out of memory"}\n');
      } else if (n === 1) {
        res.writeHead(500).end('busy');
      } else {
        void streamOllama(res, ['42']);
      }
    });
    expect(await ollamaClient({ url, retryDelayMs: 10 }).complete('x')).toBe('42');
    expect(received.length).toBe(2);
    await expect(ollamaClient({ url, model: 'missing', retryDelayMs: 10 }).complete('x')).rejects.toThrow(
      `scratchgpt: judge request to ${url}/api/chat failed: HTTP 404 Not Found: {"error":"model \\"missing\\" not found, try pulling it first"}`,
    );
    await expect(ollamaClient({ url, model: 'broken', retryDelayMs: 10 }).complete('x')).rejects.toThrow('failed: the server reported: out of memory');
    expect(received.length).toBe(4);
  });

  it('a server that never answers: timeout, retries, an error naming the URL', async () => {
    const { url, received } = await fakeServer(() => undefined); // accepts, never responds
    const started = Date.now();
    await expect(ollamaClient({ url, timeoutMs: 150, retries: 1, retryDelayMs: 20 }).complete('x')).rejects.toThrow(
      `scratchgpt: judge request to ${url}/api/chat failed after 2 attempts: no answer within 150 ms (is Ollama running?`,
    );
    expect(received.length).toBe(2);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a stream that stalls after its first line times out', async () => {
    const { url } = await fakeServer((_req, res) => {
      res.writeHead(200);
      res.write(JSON.stringify({ message: { content: 'Llamas' }, done: false }) + '\n'); // then nothing
    });
    await expect(ollamaClient({ url, timeoutMs: 150, retries: 0 }).complete('x')).rejects.toThrow('failed: the reply stalled for more than 150 ms');
  });

  it('a stream that ends without done: true is an error', async () => {
    const { url } = await fakeServer((_req, res) => res.writeHead(200).end(JSON.stringify({ message: { content: 'half' }, done: false }) + '\n'));
    await expect(ollamaClient({ url, retries: 0 }).complete('x')).rejects.toThrow('the streamed reply ended without "done": true');
  });

  it('connection refused: retried, then an error naming the URL and the cause', async () => {
    const { url } = await fakeServer(() => undefined);
    const server = servers.pop()!;
    await new Promise((resolve) => server.close(resolve)); // nothing listens on that port now
    await expect(ollamaClient({ url, retries: 2, retryDelayMs: 10 }).complete('x')).rejects.toThrow(
      new RegExp(`^scratchgpt: judge request to ${url}/api/chat failed after 3 attempts: .*ECONNREFUSED.*is Ollama running\\?`),
    );
  });

  it('bad options are refused', () => {
    expect(() => ollamaClient({ timeoutMs: 0 })).toThrow('timeoutMs must be positive, got 0');
    expect(() => ollamaClient({ retries: -1 })).toThrow('retries must be an integer ≥ 0, got -1');
  });
});

describe('OpenAI-compatible client', () => {
  it('posts to /v1/chat/completions with the key, temperature 0 and seed 123; reads choices[0].message.content', async () => {
    const { url, received } = await fakeServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ id: 'x', choices: [{ index: 0, message: { role: 'assistant', content: '73' } }] }));
    });
    const judge = openAIClient({ url: `${url}/v1`, model: 'gpt-4-turbo', apiKey: 'sk-test' });
    expect(judge.url).toBe(`${url}/v1/chat/completions`);
    expect(await judge.complete('Score this.')).toBe('73');
    expect(received[0].url).toBe('/v1/chat/completions');
    expect(received[0].headers.authorization).toBe('Bearer sk-test');
    expect(received[0].body).toEqual({ model: 'gpt-4-turbo', messages: [{ role: 'user', content: 'Score this.' }], temperature: 0, seed: 123 });
    await openAIClient({ url, seed: null }).complete('again');
    expect(received[1].headers.authorization).toBeUndefined();
    expect(received[1].body).not.toHaveProperty('seed');
  });

  it('a reply without choices is a clear error', async () => {
    const { url } = await fakeServer((_req, res) => res.writeHead(200).end('{"error":{"message":"bad"}}'));
    await expect(openAIClient({ url, retries: 0 }).complete('x')).rejects.toThrow(`judge request to ${url}/v1/chat/completions failed: the reply has no choices[0].message.content`);
  });
});

describe('scoreResponses', () => {
  it('averages the parsed scores and counts the replies that do not parse', async () => {
    const replies = ['85', ' 90\n', 'I would give it 70.', '150'];
    const { url, received } = await fakeServer((_req, res, n) => void streamOllama(res, [replies[n - 1]], { delayMs: 1 }));
    const entries = replies.map((_, i) => ({ ...entry, model_response: `answer ${i}` }));
    const progress: number[] = [];
    const result = await scoreResponses(entries, { client: ollamaClient({ url }), onProgress: (p) => progress.push(p.done) });
    expect(result.scores).toEqual([85, 90, null, null]);
    expect(result.average).toBe(87.5);
    expect(result.failed).toBe(2);
    expect(result.failures).toEqual([
      { index: 2, reply: 'I would give it 70.' },
      { index: 3, reply: '150' },
    ]);
    expect(progress).toEqual([1, 2, 3, 4]);
    expect((received[1].body.messages as { content: string }[])[0].content).toBe(judgePrompt(entry, 'answer 1'));
  });

  it('entries without the response key are refused before any request', async () => {
    const client = { url: 'none', model: 'none', complete: () => Promise.reject(new Error('must not be called')) };
    await expect(scoreResponses([{ instruction: 'a', input: '', output: 'b' }], { client })).rejects.toThrow("entry 0 has no string 'model_response' to score");
    const none = await scoreResponses([], { client });
    expect(none).toEqual({ scores: [], average: NaN, failed: 0, failures: [] });
  });
});
