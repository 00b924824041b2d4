import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Local HTTP servers that speak the wire protocols of OpenAI's Chat Completions (JSON and SSE) and Ollama's
 * /api/chat (NDJSON), so the real SDKs can be tested over real sockets. Each request takes the next queued
 * behaviour; when the queue is empty, the last one taken repeats.
 */
export interface ToolCallSpec {
  readonly id: string;
  readonly name: string;
  /** Sent as JSON; a string is sent as it is (arguments that are not JSON, say), and null as `null`. */
  readonly arguments: Record<string, unknown> | readonly unknown[] | string | number | null;
}

/** The `arguments` string of a tool call on the wire. */
function wireArguments(args: ToolCallSpec['arguments']): string {
  return typeof args === 'string' ? args : JSON.stringify(args);
}

export type Behaviour =
  | {
      readonly kind: 'reply';
      readonly text?: string;
      readonly toolCalls?: readonly ToolCallSpec[];
      readonly usage?: { input: number; output: number } | null;
      readonly chunk?: number;
      /** How streamed tool calls are numbered: as OpenAI does, or index 0 for every call (Ollama's /v1 endpoint). */
      readonly toolIndex?: 'openai' | 'zero';
    }
  /** Sends `chunks` pieces of text, then destroys the socket: a stream cut mid-way. */
  | { readonly kind: 'cut'; readonly text: string; readonly chunks: number }
  | {
      readonly kind: 'error';
      readonly status: number;
      readonly message: string;
      readonly headers?: Record<string, string>;
    }
  /** Accepts the request and never answers (until the client gives up). */
  | { readonly kind: 'hang' };

export interface RecordedRequest {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Record<string, unknown>;
  readonly at: number;
}

export interface ModelServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Requests whose client closed the connection before the answer was complete. */
  readonly aborted: number;
  queue(...behaviours: Behaviour[]): void;
  close(): Promise<void>;
}

/**
 * A server that records every request and hands each to `handle` with the next queued behaviour; when the queue is
 * empty, the last behaviour taken repeats.
 */
async function behaviourServer(
  handle: (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>, next: () => Behaviour) => void,
): Promise<ModelServer> {
  const requests: RecordedRequest[] = [];
  const behaviours: Behaviour[] = [];
  let last: Behaviour = { kind: 'reply', text: 'ok' };
  let aborted = 0;
  const next = (): Behaviour => (last = behaviours.shift() ?? last);
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
    req.on('end', () => {
      const body = raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>);
      requests.push({ path: req.url ?? '', headers: req.headers, body, at: Date.now() });
      res.on('close', () => {
        if (!res.writableFinished) aborted += 1;
      });
      handle(req, res, body, next);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    get aborted() {
      return aborted;
    },
    queue: (...b) => behaviours.push(...b),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function pieces(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** An OpenAI Chat Completions server: `${url}/v1/chat/completions` and `${url}/v1/models`. */
export function openAIServer(models: readonly string[] = ['test-model']): Promise<ModelServer> {
  return behaviourServer((req, res, body, next) => {
    if (req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          data: models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'test' })),
        }),
      );
      return;
    }
    const b = next();
    if (b.kind === 'hang') return;
    if (b.kind === 'error') {
      res.writeHead(b.status, { 'content-type': 'application/json', ...b.headers });
      res.end(JSON.stringify({ error: { message: b.message, type: 'test_error', code: null } }));
      return;
    }
    const base = { id: 'chatcmpl-test', created: 0, model: String(body['model']) };
    if (body['stream'] !== true) {
      if (b.kind === 'cut') {
        res.socket?.destroy();
        return;
      }
      const toolCalls = (b.toolCalls ?? []).map((c) => ({
        id: c.id,
        type: 'function',
        function: { name: c.name, arguments: wireArguments(c.arguments) },
      }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          ...base,
          object: 'chat.completion',
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: b.text ?? null,
                ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
              },
              finish_reason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
            },
          ],
          ...(b.usage === null
            ? {}
            : {
                usage: {
                  prompt_tokens: b.usage?.input ?? 11,
                  completion_tokens: b.usage?.output ?? 7,
                  total_tokens: (b.usage?.input ?? 11) + (b.usage?.output ?? 7),
                },
              }),
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const send = (chunk: unknown): void => void res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    const delta = (d: Record<string, unknown>, finish: string | null = null): void =>
      send({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: d, finish_reason: finish }] });
    if (b.kind === 'cut') {
      for (const piece of pieces(b.text, Math.ceil(b.text.length / (b.chunks + 1))).slice(0, b.chunks))
        delta({ content: piece });
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    delta({ role: 'assistant', content: '' });
    for (const piece of pieces(b.text ?? '', b.chunk ?? 4)) delta({ content: piece });
    (b.toolCalls ?? []).forEach((c, i) => {
      const index = b.toolIndex === 'zero' ? 0 : i;
      delta({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] });
      for (const piece of pieces(wireArguments(c.arguments), 5))
        delta({ tool_calls: [{ index, function: { arguments: piece } }] });
    });
    delta({}, (b.toolCalls ?? []).length > 0 ? 'tool_calls' : 'stop');
    if (b.usage !== null)
      send({
        ...base,
        object: 'chat.completion.chunk',
        choices: [],
        usage: { prompt_tokens: b.usage?.input ?? 11, completion_tokens: b.usage?.output ?? 7, total_tokens: 18 },
      });
    res.end('data: [DONE]\n\n');
  });
}

/** An Ollama server: POST /api/chat (NDJSON when streaming) and GET /api/tags. */
export function ollamaServer(models: readonly string[] = ['llama3.2']): Promise<ModelServer> {
  return behaviourServer((req, res, body, next) => {
    if (req.url === '/api/tags') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          models: models.map((name) => ({
            name,
            model: name,
            modified_at: '2026-01-01T00:00:00Z',
            size: 1,
            digest: 'x',
            details: {},
          })),
        }),
      );
      return;
    }
    const b = next();
    if (b.kind === 'hang') return;
    if (b.kind === 'error') {
      res.writeHead(b.status, { 'content-type': 'application/json', ...b.headers });
      res.end(JSON.stringify({ error: b.message }));
      return;
    }
    const model = String(body['model']);
    const line = (message: Record<string, unknown>, done: boolean, extra: Record<string, unknown> = {}): string =>
      `${JSON.stringify({ model, created_at: '2026-01-01T00:00:00Z', message: { role: 'assistant', content: '', ...message }, done, ...extra })}\n`;
    const streaming = body['stream'] !== false;
    if (b.kind === 'cut') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      for (const piece of pieces(b.text, Math.ceil(b.text.length / (b.chunks + 1))).slice(0, b.chunks))
        res.write(line({ content: piece }, false));
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    const toolCalls = (b.toolCalls ?? []).map((c) => ({ function: { name: c.name, arguments: c.arguments } }));
    const usage = b.usage === null ? {} : { prompt_eval_count: b.usage?.input ?? 13, eval_count: b.usage?.output ?? 5 };
    const final = {
      done_reason: 'stop',
      total_duration: 1,
      load_duration: 1,
      prompt_eval_duration: 1,
      eval_duration: 1,
      ...usage,
    };
    if (!streaming) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(line({ content: b.text ?? '', ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) }, true, final));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    for (const piece of pieces(b.text ?? '', b.chunk ?? 4)) res.write(line({ content: piece }, false));
    if (toolCalls.length > 0) res.write(line({ tool_calls: toolCalls }, false));
    res.end(line({}, true, final));
  });
}
