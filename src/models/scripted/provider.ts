import { systemClock } from '../../core/clock.ts';
import { sha256 } from '../../core/hash.ts';
import { canonicalJson } from '../../core/json.ts';
import {
  type CompleteOptions,
  type ModelProvider,
  type ModelRequest,
  type ModelResponse,
  type ToolCallRequest,
} from '../provider.ts';
import { estimateTokens } from '../../core/tokens.ts';
import { decide } from './policy.ts';

/** `scripted/slow` answers like `scripted/default`, after this long: for demos of streaming, watching and crashes. */
export const SLOW_LATENCY_MS = 300;

export interface ScriptedOptions {
  /** Simulated latency of every call, in milliseconds (0 = answer at once). */
  readonly latencyMs?: number;
}

/**
 * The embedded default model: a deterministic simulator driven by persona script rules and a small built-in
 * policy. It streams its text in chunks like a real provider and reports approximate token counts (chars/4) so cost
 * accounting works offline. Everything it produces is labelled simulated. Models: `scripted/default` answers at once
 * (or after `providers.scripted.latency_ms`); `scripted/slow` takes at least 300 ms per call.
 */
export class ScriptedProvider implements ModelProvider {
  readonly id = 'scripted';
  readonly simulated = true;
  private readonly latencyMs: number;

  constructor(options: ScriptedOptions = {}) {
    this.latencyMs = options.latencyMs ?? 0;
  }

  async complete(request: ModelRequest, options: CompleteOptions): Promise<ModelResponse> {
    if (options.signal.aborted) throw options.signal.reason;
    const action = decide(request);
    const path = request.simulation?.conversationPath ?? 'root';
    const ordinal = request.simulation?.ordinal ?? 0;
    const toolCalls: ToolCallRequest[] = action.calls.map((call, index) => ({
      // Deterministic call ids, so a replayed or repeated run produces the same entries.
      id: `call_${sha256(`${path}:${ordinal}:${index}`).slice(0, 12)}`,
      name: call.name,
      arguments: canonicalJson(call.args),
    }));
    const latency = request.model === 'slow' ? Math.max(this.latencyMs, SLOW_LATENCY_MS) : this.latencyMs;
    if (latency > 0) {
      // With a latency, the reply streams over it a word at a time, as a real model's would.
      const parts = chunks(action.text);
      const pause = latency / Math.max(1, parts.length + 1);
      const clock = options.clock ?? systemClock;
      await clock.sleep(pause, options.signal);
      for (const part of parts) {
        options.onDelta?.({ text: part });
        await clock.sleep(pause, options.signal);
      }
    } else if (action.text !== '') {
      options.onDelta?.({ text: action.text });
    }
    if (options.onDelta !== undefined)
      for (const call of toolCalls)
        options.onDelta({ toolCall: { id: call.id, name: call.name, argumentsDelta: call.arguments } });
    const outputTokens =
      estimateTokens(action.text) +
      toolCalls.reduce((n, c) => n + estimateTokens(c.name) + estimateTokens(c.arguments), 0);
    return {
      text: action.text,
      toolCalls,
      usage: { inputTokens: request.estimatedInputTokens, outputTokens: Math.max(1, outputTokens), estimated: true },
      finishReason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
    };
  }
}

/** Splits text into word-sized pieces for streaming. */
function chunks(text: string): string[] {
  if (text === '') return [];
  return text.match(/\S+\s*|\s+/g) ?? [text];
}
