import { estimateTokens, type ChatMessage } from '../models/provider.ts';

/**
 * Fitting a conversation into a model's context window. When the whole conversation fits it is sent as it is
 * (the common case, and free: the transcript keeps a running total). Otherwise the request keeps the system
 * prompt, the current task and the most recent messages that fit, with a marker where messages were left out, so
 * the model (and whoever reads the recorded request) knows the context is partial.
 */
export interface FittedContext {
  readonly messages: readonly ChatMessage[];
  /** Index of the task in `messages`. */
  readonly taskIndex: number;
  readonly omitted: number;
  readonly omittedTokens: number;
}

export function messageTokens(message: ChatMessage): number {
  if (message.role !== 'assistant') return estimateTokens(message.content);
  let tokens = estimateTokens(message.content ?? '');
  for (const call of message.toolCalls ?? []) tokens += estimateTokens(call.name) + estimateTokens(call.arguments);
  return tokens;
}

function marker(count: number, tokens: number, budget: number): ChatMessage {
  return {
    role: 'system',
    content: `[p2tui: ${count} earlier ${count === 1 ? 'message' : 'messages'} (about ${tokens} tokens) left out here to fit this model's context budget of ${budget} tokens]`,
  };
}

/** Messages to send within `budget` tokens (estimated), given the full list and the index of the current task. */
export function fitContext(messages: readonly ChatMessage[], taskIndex: number, budget: number): FittedContext {
  const system = messages[0]!;
  const task = taskIndex > 0 ? messages[taskIndex] : undefined;
  const markerAllowance = 2 * 40;
  let available = budget - messageTokens(system) - (task === undefined ? 0 : messageTokens(task)) - markerAllowance;
  // The tail: the newest messages after the task that fit, always at least the newest one.
  const first = Math.max(1, taskIndex + 1);
  let start = messages.length;
  while (start > first) {
    const cost = messageTokens(messages[start - 1]!);
    if (cost > available && start < messages.length) break;
    available -= cost;
    start -= 1;
  }
  // A tool result cannot open the tail without the assistant turn that called it.
  while (start < messages.length && messages[start]!.role === 'tool') start += 1;
  const out: ChatMessage[] = [system];
  let omitted = 0;
  let omittedTokens = 0;
  const leaveOut = (from: number, to: number): void => {
    if (to <= from) return;
    let tokens = 0;
    for (let i = from; i < to; i++) tokens += messageTokens(messages[i]!);
    out.push(marker(to - from, tokens, budget));
    omitted += to - from;
    omittedTokens += tokens;
  };
  let newTaskIndex = -1;
  if (task !== undefined) {
    leaveOut(1, taskIndex);
    newTaskIndex = out.length;
    out.push(task);
  }
  leaveOut(first, start);
  for (let i = start; i < messages.length; i++) out.push(messages[i]!);
  return { messages: out, taskIndex: newTaskIndex, omitted, omittedTokens };
}
