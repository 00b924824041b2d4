import { type ChatMessage } from '../models/provider.ts';
import { estimateTokens } from '../core/tokens.ts';

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

function note(count: number, tokens: number, budget: number, where: string): string {
  const messages = `${count} ${where} ${count === 1 ? 'message' : 'messages'} (about ${tokens} tokens)`;
  return `[p2tui: ${messages} left out to fit this model's context budget of ${budget} tokens]`;
}

/**
 * Messages to send within `budget` tokens (estimated), given the full list and the index of the current task. The
 * notes about what was left out go into the task's own text (not extra system messages, which some chat templates
 * refuse in the middle of a conversation).
 */
export function fitContext(messages: readonly ChatMessage[], taskIndex: number, budget: number): FittedContext {
  const system = messages[0]!;
  const task = taskIndex > 0 ? messages[taskIndex] : undefined;
  const noteAllowance = 2 * 40;
  let available = budget - messageTokens(system) - (task === undefined ? 0 : messageTokens(task)) - noteAllowance;
  // The tail: the newest messages after the task that fit, always at least the newest one.
  const first = Math.max(1, taskIndex + 1);
  let start = messages.length;
  while (start > first) {
    const cost = messageTokens(messages[start - 1]!);
    if (cost > available && start < messages.length) break;
    available -= cost;
    start -= 1;
  }
  // A tool result needs the assistant turn that called it: reach back to it, over budget if need be (dropping the
  // results instead would have the model call the same tools again).
  while (start > first && messages[start]?.role === 'tool') start -= 1;
  const count = (from: number, to: number): { n: number; tokens: number } => {
    let tokens = 0;
    for (let i = from; i < to; i++) tokens += messageTokens(messages[i]!);
    return { n: Math.max(0, to - from), tokens };
  };
  const before = task === undefined ? { n: 0, tokens: 0 } : count(1, taskIndex);
  const between = count(first, start);
  const out: ChatMessage[] = [system];
  let newTaskIndex = -1;
  if (task !== undefined && task.role === 'user') {
    const notes = [
      ...(before.n > 0 ? [note(before.n, before.tokens, budget, 'earlier')] : []),
      ...(between.n > 0 ? [note(between.n, between.tokens, budget, 'later')] : []),
    ];
    newTaskIndex = out.length;
    out.push(notes.length === 0 ? task : { role: 'user', content: `${task.content}\n\n${notes.join('\n')}` });
  } else if (before.n + between.n > 0) {
    // No task message (a conversation that starts with the model): the note stands alone, as a user turn.
    out.push({ role: 'user', content: note(before.n + between.n, before.tokens + between.tokens, budget, 'earlier') });
  }
  for (let i = start; i < messages.length; i++) out.push(messages[i]!);
  return {
    messages: out,
    taskIndex: newTaskIndex,
    omitted: before.n + between.n,
    omittedTokens: before.tokens + between.tokens,
  };
}
