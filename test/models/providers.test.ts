import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ProviderError } from '../../src/core/errors.ts';
import { Redactor } from '../../src/models/redactor.ts';
import { RequestRateLimiter } from '../../src/models/http/rate-limit.ts';
import { parseRetryAfter, retryDelayMs, withRetries, type RetryNotice } from '../../src/models/http/retry.ts';
import { OpenAIProvider } from '../../src/models/openai/provider.ts';
import { OllamaProvider } from '../../src/models/ollama/provider.ts';
import type { ModelDelta, ModelRequest } from '../../src/models/provider.ts';
import { readSession } from '../../src/engine/session-view.ts';
import type { EphemeralEvent } from '../../src/core/events.ts';
import { countingTool } from '../helpers/tools.ts';
import { openAIServer, ollamaServer, type ModelServer } from '../helpers/model-servers.ts';
import { tempWorkspace, testEngine, type TestEngine } from '../helpers/workspace.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { childEnv } from '../helpers/child-env.ts';
import { systemClock, type Clock } from '../../src/core/clock.ts';
import { settle, until } from '../helpers/manual-clock.ts';

const servers: ModelServer[] = [];
const engines: TestEngine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) e.close();
  for (const s of servers.splice(0)) await s.close();
});
async function serve<T extends ModelServer>(server: Promise<T>): Promise<T> {
  const s = await server;
  servers.push(s);
  return s;
}

const KEY = 'sk-test-0123456789abcdef';
const fast = { maxRetries: 3, baseDelayMs: 5, maxDelayMs: 20 };

function request(overrides: Partial<ModelRequest> = {}): ModelRequest {
  return {
    model: 'test-model',
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Check the weather in Oslo and Bergen.' },
    ],
    tools: [
      {
        name: 'weather',
        description: 'Weather for a city.',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    ],
    temperature: 0,
    seed: 1,
    estimatedInputTokens: 20,
    ...overrides,
  };
}

function openai(
  server: ModelServer,
  extra: Partial<ConstructorParameters<typeof OpenAIProvider>[0]> = {},
): OpenAIProvider {
  const redactor = new Redactor();
  redactor.add(KEY);
  return new OpenAIProvider({
    id: 'openai',
    baseURL: `${server.url}/v1`,
    apiKey: KEY,
    keyVariable: 'OPENAI_API_KEY',
    retry: fast,
    redactor,
    ...extra,
  });
}

function ollama(
  server: ModelServer,
  extra: Partial<ConstructorParameters<typeof OllamaProvider>[0]> = {},
): OllamaProvider {
  return new OllamaProvider({ id: 'ollama', host: server.url, retry: fast, redactor: new Redactor(), ...extra });
}

describe('retries and rate limits', () => {
  it('backs off exponentially with full jitter, capped, and never sooner than Retry-After', () => {
    const policy = { maxRetries: 5, baseDelayMs: 100, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, policy, () => 1))).toEqual([100, 200, 400, 800, 1000]);
    expect(retryDelayMs(3, policy, () => 0)).toBe(0);
    expect(retryDelayMs(3, policy, () => 0.5)).toBe(200);
    expect(retryDelayMs(1, policy, () => 0.5, 3000)).toBe(3000);
  });

  it('reads Retry-After as seconds, as an HTTP date, and retry-after-ms', () => {
    const h = (entries: Record<string, string>) => new Headers(entries);
    expect(parseRetryAfter(h({ 'retry-after': '2' }), 0)).toBe(2000);
    expect(parseRetryAfter(h({ 'retry-after-ms': '150' }), 0)).toBe(150);
    expect(parseRetryAfter(h({ 'retry-after': new Date(10_000).toUTCString() }), 4_000)).toBe(6000);
    expect(parseRetryAfter(h({}), 0)).toBeUndefined();
  });

  it('retries what may succeed later, up to the limit, and never a request the provider refused', async () => {
    const sleeps: number[] = [];
    const clock: Clock = { ...systemClock, sleep: async (ms: number) => void sleeps.push(ms) };
    const signal = new AbortController().signal;
    let attempts = 0;
    const busy = new ProviderError('E_MODEL_RATE_LIMIT', 'busy', { retryable: true, retryAfterMs: 700 });
    const result = await withRetries(
      async () => {
        attempts += 1;
        if (attempts < 3) throw busy;
        return 'done';
      },
      { policy: fast, signal, clock, random: () => 0 },
    );
    expect(result).toBe('done');
    expect(sleeps).toEqual([700, 700]);

    attempts = 0;
    const refused = new ProviderError('E_MODEL_AUTH', 'no', { retryable: false });
    await expect(
      withRetries(async () => (attempts++, Promise.reject(refused)), { policy: fast, signal, clock }),
    ).rejects.toBe(refused);
    expect(attempts).toBe(1);

    attempts = 0;
    const down = new ProviderError('E_MODEL_PROVIDER', 'down', { retryable: true });
    await expect(
      withRetries(async () => (attempts++, Promise.reject(down)), { policy: fast, signal, clock }),
    ).rejects.toBe(down);
    expect(attempts).toBe(4);
  });

  it('lets a request cancelled while it waits for the rate limiter go at once, without using a turn', async () => {
    let now = 0;
    let release: () => void = () => undefined;
    const clock: Clock = {
      ...systemClock,
      now: () => now,
      sleep: () =>
        new Promise<void>((resolve) => {
          release = () => {
            now += 60_000;
            resolve();
          };
        }),
    };
    const limiter = new RequestRateLimiter(1);
    await limiter.acquire(new AbortController().signal, clock);
    const second = new AbortController();
    const waiting = limiter.acquire(second.signal, clock).then(
      () => 'started',
      (e: unknown) => `rejected: ${String(e)}`,
    );
    const third = limiter.acquire(new AbortController().signal, clock).then(() => 'started');
    await settle();
    second.abort('cancelled');
    expect(await waiting).toBe('rejected: cancelled');
    release();
    // The third gets the turn the cancelled one gave up.
    expect(await third).toBe('started');
  });

  it('lets at most rpm requests start in any minute', async () => {
    let now = 0;
    const waits: number[] = [];
    const clock: Clock = {
      ...systemClock,
      now: () => now,
      sleep: async (ms) => {
        waits.push(ms);
        now += ms;
      },
    };
    const limiter = new RequestRateLimiter(2);
    const signal = new AbortController().signal;
    await limiter.acquire(signal, clock);
    now = 10_000;
    await limiter.acquire(signal, clock);
    await limiter.acquire(signal, clock); // the third waits until the first is a minute old
    expect(waits).toEqual([50_000]);
    expect(now).toBe(60_000);
  });
});

describe('OpenAI-compatible provider (openai SDK against a local server)', () => {
  it('streams text and parallel tool calls, with the usage the server reports', async () => {
    const server = await serve(openAIServer());
    server.queue({
      kind: 'reply',
      text: 'Checking both cities.',
      toolCalls: [
        { id: 'call_a', name: 'weather', arguments: { city: 'Oslo' } },
        { id: 'call_b', name: 'weather', arguments: { city: 'Bergen' } },
      ],
      usage: { input: 42, output: 17 },
    });
    const deltas: ModelDelta[] = [];
    const response = await openai(server).complete(request(), {
      signal: new AbortController().signal,
      onDelta: (d) => deltas.push(d),
    });
    expect(response.text).toBe('Checking both cities.');
    expect(response.toolCalls).toEqual([
      { id: 'call_a', name: 'weather', arguments: '{"city":"Oslo"}' },
      { id: 'call_b', name: 'weather', arguments: '{"city":"Bergen"}' },
    ]);
    expect(response.usage).toEqual({ inputTokens: 42, outputTokens: 17, estimated: false });
    expect(response.finishReason).toBe('tool_calls');
    // Tokens arrived in pieces, as they were sent.
    expect(deltas.filter((d) => 'text' in d).length).toBeGreaterThan(3);
    expect(deltas.some((d) => 'toolCall' in d && d.toolCall.argumentsDelta !== '')).toBe(true);
    // What went over the wire: the key as a bearer token, the tools, streaming with usage.
    const sent = server.requests[0]!;
    expect(sent.headers['authorization']).toBe(`Bearer ${KEY}`);
    expect(sent.body).toMatchObject({
      model: 'test-model',
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0,
      seed: 1,
    });
    expect((sent.body['tools'] as unknown[]).length).toBe(1);
  });

  it('keeps parallel calls apart when a server numbers them all 0 (told apart by id)', async () => {
    const server = await serve(openAIServer());
    server.queue({
      kind: 'reply',
      toolIndex: 'zero',
      toolCalls: [
        { id: 'call_a', name: 'weather', arguments: { city: 'Oslo' } },
        { id: 'call_b', name: 'weather', arguments: { city: 'Bergen' } },
      ],
    });
    const response = await openai(server).complete(request(), { signal: new AbortController().signal });
    expect(response.toolCalls).toEqual([
      { id: 'call_a', name: 'weather', arguments: '{"city":"Oslo"}' },
      { id: 'call_b', name: 'weather', arguments: '{"city":"Bergen"}' },
    ]);
  });

  it('sends no temperature and max_completion_tokens to reasoning models', async () => {
    const server = await serve(openAIServer());
    await openai(server).complete(request({ model: 'o4-mini', maxTokens: 500 }), {
      signal: new AbortController().signal,
    });
    await openai(server).complete(request({ model: 'gpt-4o-mini', maxTokens: 500 }), {
      signal: new AbortController().signal,
    });
    expect(server.requests[0]!.body).not.toHaveProperty('temperature');
    expect(server.requests[0]!.body).toMatchObject({ max_completion_tokens: 500 });
    expect(server.requests[1]!.body).toMatchObject({ temperature: 0, max_tokens: 500 });
  });

  it('works without streaming, and estimates usage when the server reports none', async () => {
    const server = await serve(openAIServer());
    server.queue({ kind: 'reply', text: 'Plain answer.', usage: null });
    const response = await openai(server, { stream: false }).complete(request(), {
      signal: new AbortController().signal,
    });
    expect(response.text).toBe('Plain answer.');
    expect(response.usage.estimated).toBe(true);
    expect(server.requests[0]!.body['stream']).toBe(false);
  });

  it('sends a JSON schema as structured output when asked', async () => {
    const server = await serve(openAIServer());
    server.queue({ kind: 'reply', text: '{"score":1}' });
    const schema = {
      type: 'object',
      properties: { score: { type: 'number' } },
      required: ['score'],
      additionalProperties: false,
    };
    await openai(server).complete(request({ responseFormat: { name: 'verdict', schema } }), {
      signal: new AbortController().signal,
    });
    expect(server.requests[0]!.body['response_format']).toEqual({
      type: 'json_schema',
      json_schema: { name: 'verdict', schema, strict: true },
    });
  });

  it('fails at once on 401, with the key redacted from the provider message and a hint naming the variable', async () => {
    const server = await serve(openAIServer());
    server.queue({ kind: 'error', status: 401, message: `Incorrect API key provided: ${KEY}.` });
    const error = await openai(server)
      .complete(request(), { signal: new AbortController().signal })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'E_MODEL_AUTH', retryable: false, status: 401 });
    expect((error as ProviderError).message).toContain('Incorrect API key provided: [redacted]');
    expect((error as ProviderError).message).not.toContain(KEY);
    expect((error as ProviderError).hint).toContain('OPENAI_API_KEY');
    expect(server.requests).toHaveLength(1);
  });

  it('waits as long as Retry-After says on 429, then succeeds', async () => {
    const server = await serve(openAIServer());
    server.queue(
      { kind: 'error', status: 429, message: 'Rate limit reached', headers: { 'retry-after': '1' } },
      { kind: 'reply', text: 'after the wait' },
    );
    const retries: RetryNotice[] = [];
    const response = await openai(server).complete(request(), {
      signal: new AbortController().signal,
      onRetry: (n) => retries.push(n),
    });
    expect(response.text).toBe('after the wait');
    expect(retries).toMatchObject([{ attempt: 1, delayMs: 1000 }]);
    expect(retries[0]!.reason).toContain('rate limiting');
    expect(server.requests[1]!.at - server.requests[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('retries 500s and a stream cut mid-way; gives up after the configured retries with the last error', async () => {
    const server = await serve(openAIServer());
    server.queue(
      { kind: 'error', status: 500, message: 'boom' },
      { kind: 'cut', text: 'partial answer that breaks', chunks: 2 },
      { kind: 'reply', text: 'whole' },
    );
    const retries: RetryNotice[] = [];
    const response = await openai(server).complete(request(), {
      signal: new AbortController().signal,
      onRetry: (n) => retries.push(n),
    });
    expect(response.text).toBe('whole');
    expect(retries.map((r) => r.attempt)).toEqual([1, 2]);

    const down = await serve(openAIServer());
    down.queue({ kind: 'error', status: 503, message: 'overloaded' });
    const error = await openai(down)
      .complete(request(), { signal: new AbortController().signal })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_MODEL_PROVIDER', retryable: true, status: 503 });
    expect(down.requests).toHaveLength(4); // 1 + maxRetries 3
  });

  it('does not retry other 4xx (an unknown model is a 404 with a hint)', async () => {
    const server = await serve(openAIServer());
    server.queue({ kind: 'error', status: 404, message: 'The model `nope` does not exist' });
    const error = await openai(server)
      .complete(request({ model: 'nope' }), { signal: new AbortController().signal })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_MODEL_NOT_FOUND', retryable: false });
    expect(server.requests).toHaveLength(1);
  });

  it('aborts the HTTP request when the call is cancelled', async () => {
    const server = await serve(openAIServer());
    server.queue({ kind: 'hang' });
    const abort = new AbortController();
    const pending = openai(server)
      .complete(request(), { signal: abort.signal })
      .catch((e: unknown) => e);
    await until(() => server.requests.length > 0, 'the request to reach the server');
    abort.abort(new Error('stop'));
    expect(await pending).toMatchObject({ message: 'stop' });
    await until(() => server.aborted === 1, 'the server to see the request aborted');
  });

  it('reports a server that is not there as a network error worth retrying', async () => {
    const server = await serve(openAIServer());
    const url = server.url;
    await server.close();
    servers.splice(0);
    const provider = new OpenAIProvider({
      id: 'local',
      baseURL: `${url}/v1`,
      apiKey: undefined,
      retry: { maxRetries: 0, baseDelayMs: 1, maxDelayMs: 1 },
      redactor: new Redactor(),
    });
    const error = await provider.complete(request(), { signal: new AbortController().signal }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_MODEL_NETWORK', retryable: true });
    expect((error as ProviderError).message).toContain(url);
  });

  it('lists the models the server offers', async () => {
    const server = await serve(openAIServer(['b-model', 'a-model']));
    expect(await openai(server).listModels(new AbortController().signal)).toEqual(['a-model', 'b-model']);
  });
});

describe('Ollama provider (ollama SDK against a local server)', () => {
  it('streams NDJSON text and tool calls (with fresh ids) and reads eval counts as usage', async () => {
    const server = await serve(ollamaServer());
    server.queue({
      kind: 'reply',
      text: 'Looking it up.',
      toolCalls: [{ id: '', name: 'weather', arguments: { city: 'Oslo' } }],
      usage: { input: 30, output: 9 },
    });
    const deltas: ModelDelta[] = [];
    const response = await ollama(server).complete(request({ model: 'llama3.2' }), {
      signal: new AbortController().signal,
      onDelta: (d) => deltas.push(d),
    });
    expect(response.text).toBe('Looking it up.');
    expect(response.toolCalls).toHaveLength(1);
    expect(response.toolCalls[0]).toMatchObject({ name: 'weather', arguments: '{"city":"Oslo"}' });
    expect(response.toolCalls[0]!.id).toMatch(/^call_[0-9a-f]{12}$/);
    expect(response.usage).toEqual({ inputTokens: 30, outputTokens: 9, estimated: false });
    expect(deltas.filter((d) => 'text' in d).length).toBeGreaterThan(2);
    expect(server.requests[0]!.body).toMatchObject({
      model: 'llama3.2',
      stream: true,
      options: { temperature: 0, seed: 1 },
    });
  });

  it('sends tool results back by tool name, and passes a JSON schema as format', async () => {
    const server = await serve(ollamaServer());
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } } };
    await ollama(server).complete(
      request({
        messages: [
          { role: 'user', content: 'go' },
          {
            role: 'assistant',
            content: null,
            toolCalls: [{ id: 'c1', name: 'weather', arguments: '{"city":"Oslo"}' }],
          },
          { role: 'tool', toolCallId: 'c1', name: 'weather', content: '{"temp":3}' },
        ],
        responseFormat: { name: 'v', schema },
      }),
      { signal: new AbortController().signal },
    );
    const body = server.requests[0]!.body as { messages: Record<string, unknown>[]; format: unknown };
    expect(body.messages[1]).toMatchObject({
      role: 'assistant',
      tool_calls: [{ function: { name: 'weather', arguments: { city: 'Oslo' } } }],
    });
    expect(body.messages[2]).toMatchObject({ role: 'tool', tool_name: 'weather', content: '{"temp":3}' });
    expect(body.format).toEqual(schema);
  });

  it('fails at once on an unknown model, retries a cut stream, and lists models', async () => {
    const server = await serve(ollamaServer(['llama3.2', 'qwen3']));
    server.queue({ kind: 'error', status: 404, message: "model 'nope' not found" });
    const error = await ollama(server)
      .complete(request({ model: 'nope' }), { signal: new AbortController().signal })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_MODEL_NOT_FOUND', retryable: false });
    expect((error as ProviderError).message).toContain("model 'nope' not found");

    const cut = await serve(ollamaServer());
    cut.queue({ kind: 'cut', text: 'half a sentence', chunks: 2 }, { kind: 'reply', text: 'whole sentence' });
    const retries: RetryNotice[] = [];
    const response = await ollama(cut).complete(request(), {
      signal: new AbortController().signal,
      onRetry: (n) => retries.push(n),
    });
    expect(response.text).toBe('whole sentence');
    expect(retries).toHaveLength(1);
    expect(await ollama(server).listModels(new AbortController().signal)).toEqual(['llama3.2', 'qwen3']);
  });
});

describe('real providers in sessions', () => {
  async function setup(
    url: string,
    providers: Record<string, unknown>,
    env: Record<string, string> = {},
    prices: Record<string, unknown> = {},
  ): Promise<TestEngine> {
    const tool = countingTool('weather');
    const t = await testEngine(
      [
        {
          id: 'forecaster',
          description: 'Answers weather questions.',
          model: 'openai/test-model',
          tools: ['weather'],
          policies: { model_timeout_ms: 1500 },
        },
      ],
      {
        tools: [tool],
        files: { 'p2tui.yaml': stringify({ providers, prices }) },
        load: { env: { OPENAI_BASE_URL: `${url}/v1`, ...env } },
      },
    );
    engines.push(t);
    return t;
  }

  it('runs a session on an OpenAI-compatible server: parallel tool calls, streamed deltas on the bus, real usage and cost', async () => {
    const server = await serve(openAIServer());
    server.queue(
      {
        kind: 'reply',
        text: 'Two lookups.',
        toolCalls: [
          { id: 'c1', name: 'weather', arguments: { text: 'Oslo' } },
          { id: 'c2', name: 'weather', arguments: { text: 'Bergen' } },
        ],
        usage: { input: 100, output: 20 },
      },
      { kind: 'reply', text: 'Oslo 3°, Bergen 7°.', usage: { input: 200, output: 10 } },
    );
    const t = await setup(
      server.url,
      { openai: { retry_base_ms: 5 } },
      { OPENAI_API_KEY: KEY },
      { 'openai/test-model': { input: 1, output: 2 } },
    );
    const events: EphemeralEvent[] = [];
    const abort = new AbortController();
    const listening = (async () => {
      for await (const e of t.engine.bus.deltas({}, abort.signal)) events.push(e);
    })();
    const run = t.engine.start({
      agent: 'forecaster',
      message: 'Weather in Oslo and Bergen?',
      source: 'api',
      options: t.options(),
    });
    expect(await run.idle()).toBe('finished');
    abort.abort();
    await listening.catch(() => undefined);
    const view = readSession(t.engine.store, run.id);
    expect(view.conversations[0]!.entries.map((e) => e.kind)).toEqual([
      'user_message',
      'assistant_message',
      'tool_call',
      'tool_call',
      'waiting',
      'tool_result',
      'tool_result',
      'assistant_message',
      'finished',
    ]);
    expect(view.usage.total).toMatchObject({ calls: 2, tokensIn: 300, tokensOut: 30 });
    // From the workspace's price table: 300 tokens in at $1/M, 30 out at $2/M; per step as well.
    expect(view.usage.total.costUsd).toBeCloseTo(0.00036, 10);
    const steps = t.engine.store.calls.steps(run.id);
    expect(steps.map((s) => [s.ordinal, s.tokensIn, s.tokensOut, s.estimated])).toEqual([
      [1, 100, 20, false],
      [2, 200, 10, false],
    ]);
    expect(steps[0]!.costUsd).toBeCloseTo(0.00014, 10);
    expect(
      events
        .filter((e) => e.type === 'delta')
        .map((e) => (e.type === 'delta' ? e.text : ''))
        .join(''),
    ).toContain('Oslo 3°, Bergen 7°.');
    // The second request carried the tool results back, by call id.
    const second = server.requests[1]!.body['messages'] as { role: string; tool_call_id?: string }[];
    expect(second.filter((m) => m.role === 'tool').map((m) => m.tool_call_id)).toEqual(['c1', 'c2']);
  });

  it('turns a refused key into a failed entry with the provider message, never storing the key; the session resumes', async () => {
    const server = await serve(openAIServer());
    server.queue({ kind: 'error', status: 401, message: `Incorrect API key provided: ${KEY}` });
    const t = await setup(server.url, {}, { OPENAI_API_KEY: KEY });
    const run = t.engine.start({ agent: 'forecaster', message: 'Weather?', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('failed');
    const failed = readSession(t.engine.store, run.id).conversations[0]!.entries.at(-1)!;
    expect(failed.kind).toBe('failed');
    expect(failed.payload).toMatchObject({ code: 'E_MODEL_AUTH' });
    expect(JSON.stringify(failed.payload)).toContain('Incorrect API key provided: [redacted]');
    expect(failed.payload).toMatchObject({ retryable: true });
    // With the key fixed (here: the server accepts it now), a resume calls the model again and finishes.
    server.queue({ kind: 'reply', text: 'Sunny.' });
    expect(run.retry()).toBe(1);
    expect(await run.idle()).toBe('finished');
    expect(readSession(t.engine.store, run.id).answer).toBe('Sunny.');
    t.engine.store.checkpoint();
    expect(readFileSync(t.engine.store.path).includes(KEY)).toBe(false);
  });

  it('times each attempt: a slow attempt is aborted and retried, and the call fails once the retries are spent', async () => {
    const server = await serve(openAIServer());
    server.queue({ kind: 'hang' });
    const t = await setup(server.url, { openai: { max_retries: 1, retry_base_ms: 5 } });
    const run = t.engine.start({ agent: 'forecaster', message: 'Weather?', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('failed');
    const failed = readSession(t.engine.store, run.id).conversations[0]!.entries.at(-1)!;
    expect(failed.payload).toMatchObject({
      code: 'E_MODEL_TIMEOUT',
      retryable: true,
      message: expect.stringContaining('did not answer within 1500 ms'),
    });
    // Two attempts (1 + max_retries), each aborted on the wire.
    await until(() => server.aborted === 2, 'the server to see both attempts aborted');
    expect(server.requests).toHaveLength(2);
  });

  it('reads the key from the workspace .env, and serves other OpenAI-compatible servers and Ollama by name', async () => {
    const compat = await serve(openAIServer());
    const local = await serve(ollamaServer());
    compat.queue({ kind: 'reply', text: 'from the compatible server' });
    local.queue({ kind: 'reply', text: 'from ollama' });
    const tool = countingTool('weather');
    const t = await testEngine(
      [
        { id: 'a', description: 'On LM Studio.', model: 'lmstudio/qwen', tools: ['weather'] },
        { id: 'b', description: 'On Ollama.', model: 'ollama/llama3.2' },
      ],
      {
        tools: [tool],
        files: {
          'p2tui.yaml': stringify({
            providers: {
              lmstudio: { type: 'openai', base_url: `${compat.url}/v1`, api_key_env: 'LMSTUDIO_KEY' },
              ollama: { host: local.url },
            },
          }),
          '.env': `LMSTUDIO_KEY=${KEY}\n`,
        },
        load: {},
      },
    );
    engines.push(t);
    const a = t.engine.start({ agent: 'a', message: 'hi', source: 'api', options: t.options() });
    const b = t.engine.start({ agent: 'b', message: 'hi', source: 'api', options: t.options() });
    expect(await a.idle()).toBe('finished');
    expect(await b.idle()).toBe('finished');
    expect(readSession(t.engine.store, a.id).answer).toBe('from the compatible server');
    expect(readSession(t.engine.store, b.id).answer).toBe('from ollama');
    expect(compat.requests[0]!.headers['authorization']).toBe(`Bearer ${KEY}`);
  });
});

describe('from the command line', () => {
  const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
  // Asynchronous: the model server answers from this same process.
  function p2tui(
    args: string[],
    cwd: string,
    env: Record<string, string>,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [MAIN, ...args],
        { cwd, env: childEnv(env), timeout: 60_000 },
        (error, stdout, stderr) => {
          resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
        },
      );
    });
  }

  it('run --model openai/… streams the server reply and says when it retries; doctor reports the server and its models', async () => {
    const server = await serve(openAIServer(['test-model', 'other-model']));
    server.queue(
      { kind: 'error', status: 500, message: 'try later' },
      { kind: 'reply', text: 'Hello from the server.' },
    );
    const ws = tempWorkspace({ 'p2tui.yaml': stringify({ providers: { openai: { retry_base_ms: 5 } } }) });
    ws.persona({ id: 'helper', description: 'Helps.' });
    const env = { OPENAI_BASE_URL: `${server.url}/v1`, OPENAI_API_KEY: KEY };
    try {
      const run = await p2tui(
        ['run', 'helper', 'hello', '--model', 'openai/test-model', '--db', join(ws.dir, 'p.db')],
        ws.dir,
        env,
      );
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('↻ retry 1 in');
      expect(run.stdout).toContain('Hello from the server.');
      expect(run.stdout).not.toContain(KEY);

      const doctor = await p2tui(['doctor', '--db', join(ws.dir, 'p.db')], ws.dir, env);
      expect(doctor.stdout).toMatch(
        /✓ provider openai\s+http:\/\/127\.0\.0\.1:\d+\/v1: reachable, models: other-model, test-model/,
      );
      expect(doctor.code).toBe(0);
      // A provider a persona uses must answer: with the server gone, doctor fails and says what to do.
      ws.persona({ id: 'helper', description: 'Helps.', model: 'openai/test-model' });
      await server.close();
      servers.splice(0);
      const down = await p2tui(['doctor', '--db', join(ws.dir, 'p.db')], ws.dir, env);
      expect(down.code).not.toBe(0);
      expect(down.stdout).toMatch(/✗ provider openai\s+.*not reachable.*used by helper/);
    } finally {
      ws.cleanup();
    }
  });
});

describe('provider configuration', () => {
  it('names the field to fix for a provider without a type, or a built-in one given another type', async () => {
    for (const [providers, field] of [
      [{ myserver: { base_url: 'http://127.0.0.1:1/v1' } }, 'providers.myserver has no type'],
      [{ openai: { type: 'ollama' } }, 'providers.openai is built in as type openai'],
      [{ vllm: { type: 'openai' } }, 'providers.vllm (type openai) has no base_url'],
    ] as const) {
      const ws = tempWorkspace({ 'p2tui.yaml': stringify({ providers }) });
      try {
        await expect(loadWorkspace(ws.dir, { env: {} })).rejects.toMatchObject({
          code: 'E_CONFIG',
          message: expect.stringContaining(field),
        });
      } finally {
        ws.cleanup();
      }
    }
  });
});
