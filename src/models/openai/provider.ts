import { systemClock, type Clock } from '../../core/clock.ts';
import type OpenAI from 'openai';
import type * as OpenAISdk from 'openai';
import type { APIError } from 'openai';
import { randomUUID } from 'node:crypto';
import { ProviderError } from '../../core/errors.ts';
import {
  type ChatMessage,
  type CompleteOptions,
  type ModelProvider,
  type ModelRequest,
  type ModelResponse,
  type ToolCallRequest,
} from '../provider.ts';
import { estimateTokens } from '../../core/tokens.ts';
import { httpFailure, networkFailure, streamFailure, type FailureContext } from '../http/errors.ts';
import type { Redactor } from '../redactor.ts';
import { callWithRetries } from '../http/call.ts';
import { RequestRateLimiter } from '../http/rate-limit.ts';
import { parseRetryAfter, type RetryPolicy } from '../http/retry.ts';

type Params = OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming;
type MessageParam = OpenAI.Chat.Completions.ChatCompletionMessageParam;

export interface OpenAIProviderOptions {
  /** The id in `provider/name` references: `openai`, or a configured OpenAI-compatible server (`lmstudio`, …). */
  readonly id: string;
  readonly baseURL: string;
  /** Undefined for servers that need none (a local vLLM or llama.cpp server). */
  readonly apiKey: string | undefined;
  readonly keyVariable?: string;
  readonly retry?: RetryPolicy;
  /** Requests per minute; undefined: no limit. */
  readonly rpm?: number;
  /** Stream responses (SSE); off for servers that do not support it. */
  readonly stream?: boolean;
  readonly redactor: Redactor;
}

/**
 * OpenAI's Chat Completions API, through the `openai` SDK, for OpenAI itself and every server that speaks it (vLLM,
 * LM Studio, llama.cpp's server, OpenRouter). The SDK's own retries are off: retries, backoff and the rate limit
 * are ours, so they behave the same for every provider and show up in the session.
 */
export class OpenAIProvider implements ModelProvider {
  readonly id: string;
  readonly simulated = false;
  readonly timesAttempts = true;
  /** Where requests go, and whether a key is set (for `p2tui doctor`; the key itself is never shown). */
  readonly endpoint: string;
  readonly hasKey: boolean;
  private sdk: Promise<{ client: OpenAI; module: typeof OpenAISdk }> | undefined;
  private readonly options: OpenAIProviderOptions;
  private readonly limiter: RequestRateLimiter | undefined;
  private readonly failure: FailureContext;

  constructor(options: OpenAIProviderOptions) {
    this.id = options.id;
    this.options = options;
    this.endpoint = options.baseURL;
    this.hasKey = options.apiKey !== undefined && options.apiKey !== '';
    this.limiter = options.rpm === undefined ? undefined : new RequestRateLimiter(options.rpm);
    this.failure = {
      provider: options.id,
      endpoint: options.baseURL,
      ...(options.keyVariable === undefined ? {} : { keyVariable: options.keyVariable }),
      redactor: options.redactor,
    };
  }

  /** The SDK is loaded on first use: a workspace that never calls OpenAI does not pay for loading it. */
  private load(): Promise<{ client: OpenAI; module: typeof OpenAISdk }> {
    this.sdk ??= import('openai').then((module) => ({
      module,
      // The SDK refuses to start without a key; servers that need none ignore the stand-in 'no-key'.
      client: new module.OpenAI({
        apiKey: this.options.apiKey ?? 'no-key',
        baseURL: this.options.baseURL,
        maxRetries: 0,
        timeout: 24 * 3_600_000,
      }),
    }));
    return this.sdk;
  }

  async complete(request: ModelRequest, options: CompleteOptions): Promise<ModelResponse> {
    const sdk = await this.load();
    return callWithRetries(
      options,
      { retry: this.options.retry, limiter: this.limiter, failure: this.failure },
      (signal) =>
        this.options.stream === false
          ? this.once(sdk.client, request, signal)
          : this.streamed(sdk.client, request, { ...options, signal }),
      (error) => this.translate(sdk.module, error, options.signal, options.clock ?? systemClock),
    );
  }

  async listModels(signal: AbortSignal): Promise<string[]> {
    const sdk = await this.load();
    try {
      const names: string[] = [];
      for await (const model of sdk.client.models.list({ signal })) names.push(model.id);
      return names.sort();
    } catch (error) {
      throw this.translate(sdk.module, error, signal, systemClock);
    }
  }

  private params(request: ModelRequest): Omit<Params, 'stream'> {
    // Reasoning models (o1, o3, o4-mini, gpt-5…) refuse a temperature and take max_completion_tokens.
    const reasoning = REASONING_MODEL.test(request.model);
    return {
      model: request.model,
      messages: request.messages.map(toMessageParam),
      // Reasoning models refuse top_p as they refuse a temperature.
      ...(reasoning ? {} : { temperature: request.temperature }),
      ...(reasoning || request.topP === undefined ? {} : { top_p: request.topP }),
      seed: request.seed,
      ...(request.maxTokens === undefined
        ? {}
        : reasoning
          ? { max_completion_tokens: request.maxTokens }
          : { max_tokens: request.maxTokens }),
      ...(request.tools.length === 0
        ? {}
        : {
            tools: request.tools.map((t) => ({
              type: 'function' as const,
              function: { name: t.name, description: t.description, parameters: t.parameters },
            })),
          }),
      ...(request.responseFormat === undefined
        ? {}
        : {
            response_format: {
              type: 'json_schema' as const,
              json_schema: { name: request.responseFormat.name, schema: request.responseFormat.schema, strict: true },
            },
          }),
    };
  }

  private async streamed(client: OpenAI, request: ModelRequest, options: CompleteOptions): Promise<ModelResponse> {
    const stream = await client.chat.completions.create(
      { ...this.params(request), stream: true, stream_options: { include_usage: true } },
      { signal: options.signal },
    );
    let text = '';
    const calls = new StreamedCalls();
    let finish: string | null = null;
    let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (choice === undefined) continue;
      const delta = choice.delta;
      if (typeof delta.content === 'string' && delta.content !== '') {
        text += delta.content;
        options.onDelta?.({ text: delta.content });
      }
      for (const part of delta.tool_calls ?? []) {
        const call = calls.take(part as StreamedPart);
        options.onDelta?.({
          toolCall: { id: call.id, name: call.name, argumentsDelta: part.function?.arguments ?? '' },
        });
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    // A stream that closes cleanly without a finish reason was cut (a proxy timeout, a crashed server).
    if (finish === null) throw streamFailure('no finish_reason before the stream closed', this.failure);
    return response(text, calls.list, finish, usage, request);
  }

  private async once(client: OpenAI, request: ModelRequest, signal: AbortSignal): Promise<ModelResponse> {
    const completion = await client.chat.completions.create({ ...this.params(request), stream: false }, { signal });
    const choice = completion.choices[0];
    if (choice === undefined) throw streamFailure('the response had no choices', this.failure);
    const calls = (choice.message.tool_calls ?? []).flatMap((c) =>
      c.type === 'function' ? [{ id: c.id, name: c.function.name, arguments: c.function.arguments }] : [],
    );
    return response(choice.message.content ?? '', calls, choice.finish_reason, completion.usage, request);
  }

  private translate(sdk: typeof OpenAISdk, error: unknown, signal: AbortSignal, clock: Clock): unknown {
    if (signal.aborted || error instanceof sdk.APIUserAbortError) return signal.reason ?? error;
    if (error instanceof ProviderError) return error;
    if (error instanceof sdk.APIConnectionError) return networkFailure(error, this.failure);
    if (error instanceof sdk.APIError && typeof error.status === 'number') {
      return httpFailure(error.status, detailOf(error), parseRetryAfter(error.headers, clock.now()), this.failure);
    }
    // Anything else thrown while reading the body (a socket reset mid-stream, invalid SSE) broke the stream.
    return streamFailure(error instanceof Error ? error.message : String(error), this.failure);
  }
}

const REASONING_MODEL = /^(o\d|gpt-5)/;

interface StreamedPart {
  readonly index?: number;
  readonly id?: string;
  readonly function?: { readonly name?: string; readonly arguments?: string };
}

/**
 * Tool calls assembled from stream chunks. OpenAI numbers parallel calls by `index`; some compatible servers send
 * index 0 for every call (told apart by their ids) or no index at all (a continuation of the last call).
 */
class StreamedCalls {
  readonly list: { id: string; name: string; arguments: string }[] = [];
  private readonly byIndex = new Map<number, { id: string; name: string; arguments: string }>();
  private readonly byId = new Map<string, { id: string; name: string; arguments: string }>();

  take(part: StreamedPart): { id: string; name: string; arguments: string } {
    let call = part.id ? this.byId.get(part.id) : undefined;
    if (call === undefined) {
      const atIndex = typeof part.index === 'number' ? this.byIndex.get(part.index) : undefined;
      if (atIndex !== undefined && (!part.id || atIndex.id === '')) call = atIndex;
      else if (!part.id && typeof part.index !== 'number') call = this.list.at(-1);
    }
    if (call === undefined) {
      call = { id: '', name: '', arguments: '' };
      this.list.push(call);
    }
    if (typeof part.index === 'number') this.byIndex.set(part.index, call);
    if (part.id && call.id === '') {
      call.id = part.id;
      this.byId.set(part.id, call);
    }
    // A name arrives whole (in its first chunk); a server repeating it must not double it.
    if (part.function?.name) call.name = part.function.name;
    if (part.function?.arguments) call.arguments += part.function.arguments;
    return call;
  }
}

function detailOf(error: APIError): string {
  const body = error.error as { message?: unknown } | undefined;
  return typeof body?.message === 'string' ? body.message : error.message;
}

function response(
  text: string,
  calls: readonly { id: string; name: string; arguments: string }[],
  finish: string,
  usage: { prompt_tokens: number; completion_tokens: number } | undefined | null,
  request: ModelRequest,
): ModelResponse {
  // A server that gives no ids: fresh ones, unique across the conversation (results are matched by id).
  const toolCalls: ToolCallRequest[] = calls.map((c) => ({
    id: c.id === '' ? `call_${randomUUID().replace(/-/g, '').slice(0, 12)}` : c.id,
    name: c.name,
    arguments: c.arguments === '' ? '{}' : c.arguments,
  }));
  return {
    text,
    toolCalls,
    finishReason: toolCalls.length > 0 ? 'tool_calls' : finish === 'length' ? 'length' : 'stop',
    usage:
      usage === undefined || usage === null
        ? {
            inputTokens: request.estimatedInputTokens,
            outputTokens: estimateTokens(text + calls.map((c) => c.name + c.arguments).join('')),
            estimated: true,
          }
        : { inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens, estimated: false },
  };
}

function toMessageParam(message: ChatMessage): MessageParam {
  switch (message.role) {
    case 'system':
    case 'user':
      return { role: message.role, content: message.content };
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
    case 'assistant':
      return message.toolCalls === undefined || message.toolCalls.length === 0
        ? { role: 'assistant', content: message.content ?? '' }
        : {
            role: 'assistant',
            content: message.content,
            tool_calls: message.toolCalls.map((c) => ({
              id: c.id,
              type: 'function' as const,
              function: { name: c.name, arguments: c.arguments },
            })),
          };
  }
}
