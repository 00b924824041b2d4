import type {
  CompleteOptions,
  ModelDelta,
  ModelProvider,
  ModelRequest,
  ModelResponse,
  ToolCallRequest,
} from './provider.ts';
import type { RetryNotice } from './http/retry.ts';
import type { Redactor, StreamRedactor } from './redactor.ts';

/**
 * A provider whose every string passes through the redactor before anyone sees it: the reply's text, its tool calls
 * (ids, names, arguments), the deltas shown while it streams, the models it lists and its errors. A server that
 * echoes the key it was sent (a misconfigured proxy, a hostile endpoint) gets it neither stored nor printed.
 * Every provider of a registry is wrapped, so the engine, the judge and `doctor` need not remember to redact.
 */
export class RedactingProvider implements ModelProvider {
  readonly id: string;
  readonly simulated: boolean;
  readonly timesAttempts?: boolean;
  readonly endpoint?: string;
  readonly hasKey?: boolean;
  readonly listModels?: (signal: AbortSignal) => Promise<string[]>;
  private readonly inner: ModelProvider;
  private readonly redactor: Redactor;

  constructor(inner: ModelProvider, redactor: Redactor) {
    this.inner = inner;
    this.redactor = redactor;
    this.id = inner.id;
    this.simulated = inner.simulated;
    if (inner.timesAttempts !== undefined) this.timesAttempts = inner.timesAttempts;
    if (inner.endpoint !== undefined) this.endpoint = inner.endpoint;
    if (inner.hasKey !== undefined) this.hasKey = inner.hasKey;
    const list = inner.listModels?.bind(inner);
    if (list !== undefined) {
      this.listModels = async (signal) => {
        try {
          return (await list(signal)).map((name) => redactor.redact(name));
        } catch (error) {
          throw this.redactedError(error);
        }
      };
    }
  }

  async complete(request: ModelRequest, options: CompleteOptions): Promise<ModelResponse> {
    // Checked per call: MCP servers add their tokens after the providers are registered.
    if (!this.redactor.active) return this.inner.complete(request, options);
    const live = options.onDelta === undefined ? undefined : new LiveDeltas(this.redactor, options.onDelta);
    let response: ModelResponse;
    try {
      response = await this.inner.complete(request, {
        ...options,
        ...(live === undefined ? {} : { onDelta: (delta: ModelDelta) => live.take(delta) }),
        ...(options.onRetry === undefined && live === undefined
          ? {}
          : {
              onRetry: (notice: RetryNotice) => {
                // The failed attempt's text is void: what it held back is never shown.
                live?.reset();
                options.onRetry?.({ ...notice, reason: this.redactor.redact(notice.reason) });
              },
            }),
      });
    } catch (error) {
      throw this.redactedError(error);
    }
    live?.end();
    return {
      ...response,
      text: this.redactor.redact(response.text),
      toolCalls: response.toolCalls.map((call) => this.redactedCall(call)),
    };
  }

  private redactedCall(call: ToolCallRequest): ToolCallRequest {
    const { redactor } = this;
    let args = redactor.redact(call.arguments);
    // A secret written with JSON escapes (`sk-\u0074est…`) only shows once parsed: the engine stores parsed arguments.
    try {
      const parsed: unknown = JSON.parse(args);
      const clean = redactor.json(parsed);
      if (clean !== parsed) args = JSON.stringify(clean);
    } catch {
      // Not JSON: the engine reports the arguments as invalid; the text itself is redacted already.
    }
    return { id: redactor.redact(call.id), name: redactor.redact(call.name), arguments: args };
  }

  private redactedError(error: unknown): unknown {
    if (error instanceof Error) {
      const message = this.redactor.redact(error.message);
      if (message !== error.message) error.message = message;
    }
    return error;
  }
}

/**
 * The deltas of one call as they are shown live: text and each tool call's arguments go through their own
 * stream redactor, so a key split across two chunks is caught; what is held back is shown when the call ends.
 */
class LiveDeltas {
  private readonly redactor: Redactor;
  private readonly emit: (delta: ModelDelta) => void;
  private text: StreamRedactor | undefined;
  private readonly calls = new Map<string, { id: string; raw: string; name: string; stream: StreamRedactor }>();

  constructor(redactor: Redactor, emit: (delta: ModelDelta) => void) {
    this.redactor = redactor;
    this.emit = emit;
  }

  take(delta: ModelDelta): void {
    if ('text' in delta) {
      this.text ??= this.redactor.stream();
      const shown = this.text.push(delta.text);
      if (shown !== '') this.emit({ text: shown });
      return;
    }
    const { id, name, argumentsDelta } = delta.toolCall;
    let call = this.calls.get(id);
    if (call === undefined) {
      call = {
        id: this.redactor.redact(id),
        raw: name,
        name: this.redactor.redact(name),
        stream: this.redactor.stream(),
      };
      this.calls.set(id, call);
    } else if (name !== '' && name !== call.raw) {
      call.raw = name;
      call.name = this.redactor.redact(name);
    }
    // Passed on even when all of it is held back: the first delta of a call announces its name.
    this.emit({ toolCall: { id: call.id, name: call.name, argumentsDelta: call.stream.push(argumentsDelta) } });
  }

  reset(): void {
    this.text = undefined;
    this.calls.clear();
  }

  end(): void {
    const rest = this.text?.end() ?? '';
    if (rest !== '') this.emit({ text: rest });
    for (const call of this.calls.values()) {
      const args = call.stream.end();
      if (args !== '') this.emit({ toolCall: { id: call.id, name: call.name, argumentsDelta: args } });
    }
    this.reset();
  }
}
