import type { Clock } from '../core/clock.ts';
import type { JsonObject } from '../core/json.ts';
import type { RetryNotice } from './http/retry.ts';

/**
 * The model port. Adapters (the scripted simulator here; OpenAI-compatible and Ollama later) implement
 * `ModelProvider`; the engine never imports an adapter directly.
 */
export interface ToolCallRequest {
  readonly id: string;
  readonly name: string;
  /** JSON text, as models produce it; parsed and validated by the engine, never trusted. */
  readonly arguments: string;
}

export type ChatMessage =
  | { readonly role: 'system'; readonly content: string }
  | { readonly role: 'user'; readonly content: string }
  | { readonly role: 'assistant'; readonly content: string | null; readonly toolCalls?: readonly ToolCallRequest[] }
  | { readonly role: 'tool'; readonly toolCallId: string; readonly name: string; readonly content: string };

export interface ToolSpec {
  readonly name: string;
  readonly description: string;
  /** JSON Schema of the arguments object. */
  readonly parameters: JsonObject;
}

/** What only the simulator reads: a real model gets the same information from the messages and tools. */
export interface SimulationHints {
  readonly agent: string;
  readonly description: string;
  /** Persona script rules (pattern → reply, tool call, delegation, question). */
  readonly script: readonly unknown[];
  /** Stable key of the conversation and the call's ordinal in it: seeded draws depend on these, not on timing. */
  readonly conversationPath: string;
  readonly ordinal: number;
  /** Index of the message holding the current task and rounds since it, maintained incrementally by the renderer. */
  readonly taskIndex: number;
  readonly round: number;
  /** The agent that delegated the conversation's task; absent when the user gave it (read by the `human` provider). */
  readonly caller?: string;
}

export interface ModelRequest {
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly tools: readonly ToolSpec[];
  readonly temperature: number;
  readonly seed: number;
  readonly maxTokens?: number;
  /** Nucleus sampling; absent: the provider's default. */
  readonly topP?: number;
  /** Structured output: the answer must be JSON matching this schema (used by the judge). */
  readonly responseFormat?: { readonly name: string; readonly schema: JsonObject };
  /** Running estimate of the prompt's tokens (chars/4), for providers that report no usage. */
  readonly estimatedInputTokens: number;
  readonly simulation?: SimulationHints;
}

export interface Usage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** True when the provider reported no usage and these are estimates. */
  readonly estimated: boolean;
}

export interface ModelResponse {
  readonly text: string;
  readonly toolCalls: readonly ToolCallRequest[];
  readonly usage: Usage;
  readonly finishReason: 'stop' | 'tool_calls' | 'length';
}

export type ModelDelta =
  | { readonly text: string }
  | { readonly toolCall: { readonly id: string; readonly name: string; readonly argumentsDelta: string } };

export interface CompleteOptions {
  readonly signal: AbortSignal;
  /** Streaming: called as text and tool-call arguments arrive. The committed entry holds the whole text. */
  readonly onDelta?: (delta: ModelDelta) => void;
  /** A failed attempt will be retried after a delay; text streamed so far by that attempt is void. */
  readonly onRetry?: (notice: RetryNotice) => void;
  /**
   * For providers that time their own attempts (`timesAttempts`): how long one HTTP attempt may take. Waiting for
   * the rate limiter or for a retry's backoff does not count.
   */
  readonly attemptTimeoutMs?: number;
  /** Whose time waits and timeouts take (the engine's; a test's manual clock). The machine's when absent. */
  readonly clock?: Clock;
}

export interface ModelProvider {
  /** Provider id as written in `provider/name` model references. */
  readonly id: string;
  /** A simulator, labelled as such wherever a user sees its output. */
  readonly simulated: boolean;
  /** True when the provider applies `attemptTimeoutMs` to each attempt; otherwise the engine times the whole call. */
  readonly timesAttempts?: boolean;
  /** Where requests go (for `p2tui doctor`), when the provider is a server. */
  readonly endpoint?: string;
  /** Whether a key is configured (for `p2tui doctor`; the key itself is never shown). */
  readonly hasKey?: boolean;
  complete(request: ModelRequest, options: CompleteOptions): Promise<ModelResponse>;
  /** The models the provider offers (for `p2tui doctor`); throws a ProviderError when it cannot be reached. */
  listModels?(signal: AbortSignal): Promise<string[]>;
}
