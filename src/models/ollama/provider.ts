import { randomUUID } from 'node:crypto';
import type { ChatResponse, Message, Ollama } from 'ollama';
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
import type { RetryPolicy } from '../http/retry.ts';

export interface OllamaProviderOptions {
  readonly id: string;
  /** `http://127.0.0.1:11434` by default (`OLLAMA_HOST`). */
  readonly host: string;
  readonly retry?: RetryPolicy;
  readonly rpm?: number;
  readonly stream?: boolean;
  readonly redactor: Redactor;
}

/**
 * Ollama's `/api/chat`, through the `ollama` SDK (NDJSON streaming, tools). Ollama gives tool calls no ids, so
 * they get fresh ones here; its usage counts (prompt_eval_count, eval_count) come with the last chunk.
 */
export class OllamaProvider implements ModelProvider {
  readonly id: string;
  readonly simulated = false;
  readonly timesAttempts = true;
  readonly endpoint: string;
  private readonly options: OllamaProviderOptions;
  private readonly limiter: RequestRateLimiter | undefined;
  private readonly failure: FailureContext;

  constructor(options: OllamaProviderOptions) {
    this.id = options.id;
    this.options = options;
    this.endpoint = options.host;
    this.limiter = options.rpm === undefined ? undefined : new RequestRateLimiter(options.rpm);
    this.failure = { provider: options.id, endpoint: options.host, redactor: options.redactor };
  }

  complete(request: ModelRequest, options: CompleteOptions): Promise<ModelResponse> {
    return callWithRetries(
      options,
      { retry: this.options.retry, limiter: this.limiter, failure: this.failure },
      (signal) => this.attempt(request, { ...options, signal }),
      (error) => this.translate(error, options.signal),
    );
  }

  async listModels(signal: AbortSignal): Promise<string[]> {
    try {
      const list = await (await this.client(signal)).list();
      return list.models.map((m) => m.name).sort();
    } catch (error) {
      throw this.translate(error, signal);
    }
  }

  /**
   * A client whose every request (the first response as well as the stream) is aborted with the call. The SDK is
   * loaded on first use.
   */
  private async client(signal: AbortSignal): Promise<Ollama> {
    const { Ollama } = await import('ollama');
    return new Ollama({
      host: this.options.host,
      fetch: (input, init) =>
        fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal }),
    });
  }

  private async attempt(request: ModelRequest, options: CompleteOptions): Promise<ModelResponse> {
    const client = await this.client(options.signal);
    const base = {
      model: request.model,
      messages: request.messages.map(toMessage),
      options: {
        temperature: request.temperature,
        seed: request.seed,
        ...(request.maxTokens === undefined ? {} : { num_predict: request.maxTokens }),
        ...(request.topP === undefined ? {} : { top_p: request.topP }),
      },
      ...(request.tools.length === 0
        ? {}
        : {
            tools: request.tools.map((t) => ({
              type: 'function',
              function: { name: t.name, description: t.description, parameters: t.parameters as never },
            })),
          }),
      ...(request.responseFormat === undefined ? {} : { format: request.responseFormat.schema }),
    };
    let text = '';
    const calls: ToolCallRequest[] = [];
    let last: ChatResponse | undefined;
    const take = (part: ChatResponse): void => {
      if (part.message.content) {
        text += part.message.content;
        options.onDelta?.({ text: part.message.content });
      }
      for (const call of part.message.tool_calls ?? []) {
        const id = `call_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
        const args = JSON.stringify(call.function.arguments ?? {});
        calls.push({ id, name: call.function.name, arguments: args });
        options.onDelta?.({ toolCall: { id, name: call.function.name, argumentsDelta: args } });
      }
      if (part.done) last = part;
    };
    if (this.options.stream === false) {
      take(await client.chat({ ...base, stream: false }));
    } else {
      for await (const part of await client.chat({ ...base, stream: true })) take(part);
    }
    if (last === undefined) throw streamFailure('no final chunk (done: true) before the stream closed', this.failure);
    const reported = typeof last.prompt_eval_count === 'number' && typeof last.eval_count === 'number';
    return {
      text,
      toolCalls: calls,
      finishReason: calls.length > 0 ? 'tool_calls' : last.done_reason === 'length' ? 'length' : 'stop',
      usage: reported
        ? { inputTokens: last.prompt_eval_count, outputTokens: last.eval_count, estimated: false }
        : { inputTokens: request.estimatedInputTokens, outputTokens: estimateTokens(text), estimated: true },
    };
  }

  private translate(error: unknown, signal: AbortSignal): unknown {
    if (signal.aborted) return signal.reason ?? error;
    if (error instanceof ProviderError) return error;
    if (error instanceof Error && error.name === 'AbortError') return signal.reason ?? error;
    const status = (error as { status_code?: unknown }).status_code;
    if (error instanceof Error && error.name === 'ResponseError' && typeof status === 'number')
      return httpFailure(status, error.message, undefined, this.failure);
    // fetch() failing to connect is a TypeError('fetch failed') with the socket error as its cause.
    if (error instanceof TypeError && error.message === 'fetch failed') return networkFailure(error, this.failure);
    return streamFailure(error instanceof Error ? error.message : String(error), this.failure);
  }
}

function toMessage(message: ChatMessage): Message {
  switch (message.role) {
    case 'system':
    case 'user':
      return { role: message.role, content: message.content };
    case 'tool':
      return { role: 'tool', content: message.content, tool_name: message.name };
    case 'assistant':
      return {
        role: 'assistant',
        content: message.content ?? '',
        ...(message.toolCalls === undefined || message.toolCalls.length === 0
          ? {}
          : {
              tool_calls: message.toolCalls.map((c) => ({
                function: { name: c.name, arguments: parseArguments(c.arguments) },
              })),
            }),
      };
  }
}

function parseArguments(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}
