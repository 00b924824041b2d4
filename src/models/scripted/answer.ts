import { isJsonObject, tryParseJson } from '../../core/json.ts';
import type { JsonObject } from '../../core/json.ts';
import { uniform } from '../../core/random.ts';
import type { ChatMessage, ModelRequest, SimulationHints } from '../provider.ts';
import { summarize } from './language.ts';

/** What the simulator's policy and its script rules share: the request's context, seeded draws, final answers. */

export interface PlannedCall {
  readonly name: string;
  readonly args: JsonObject;
}

export interface Action {
  readonly text: string;
  readonly calls: readonly PlannedCall[];
}

export const skipProbability = (temperature: number): number => Math.min(0.5, 0.2 * Math.max(0, temperature));
export const looseProbability = (temperature: number): number => Math.min(0.8, 0.35 * Math.max(0, temperature));

export interface Context {
  readonly request: ModelRequest;
  readonly hints: SimulationHints;
  readonly task: string;
  readonly round: number;
  /** Tool messages answering the previous model call. */
  readonly lastResults: readonly ToolMessage[];
}

export type ToolMessage = Extract<ChatMessage, { role: 'tool' }>;

export function draw(ctx: Context, ordinal: number, purpose: string): number {
  return uniform(ctx.request.seed, ctx.hints.conversationPath, ordinal, purpose);
}

/** The final answer: what the calls since the task found, put together (or loosely, at higher temperature). */
export function compose(ctx: Context): Action {
  const findings = ctx.request.messages
    .slice(ctx.hints.taskIndex + 1)
    .filter((m): m is ToolMessage => m.role === 'tool' && m.name !== 'ask_user')
    .map(describeResult);
  if (findings.length === 0) {
    return {
      text: loosen(
        ctx,
        `None of my tools covers "${ctx.task}", so I cannot look it up; I don't have reliable data on that.`,
      ),
      calls: [],
    };
  }
  if (
    looseProbability(ctx.request.temperature) > 0 &&
    draw(ctx, ctx.hints.ordinal, 'loose') < looseProbability(ctx.request.temperature)
  ) {
    return { text: `Roughly: ${findings[0]!.text}.`, calls: [] };
  }
  const agents = unique(findings.flatMap((f) => (f.agent === undefined ? [] : [f.agent])));
  if (agents.length > 0) {
    const lines = findings.map((f) => `- ${f.agent ?? f.source}: ${f.text}`);
    return {
      text: `I asked ${listJoin(agents)}.\n${lines.join('\n')}\nIn short: ${findings.map((f) => f.text).join('; ')}.`,
      calls: [],
    };
  }
  if (findings.length === 1) return { text: `${findings[0]!.text}.`, calls: [] };
  return { text: `Here is what I found:\n${findings.map((f) => `- ${f.text} (${f.source})`).join('\n')}`, calls: [] };
}

export function loosen(ctx: Context, text: string): string {
  const p = looseProbability(ctx.request.temperature);
  if (p > 0 && draw(ctx, ctx.hints.ordinal, 'loose') < p) return `Roughly: ${firstSentence(text)}`;
  return text;
}

export interface Finding {
  /** One line, without a trailing period. */
  readonly text: string;
  /** The tool (or agent) it came from. */
  readonly source: string;
  readonly agent?: string;
}

export function describeResult(message: ToolMessage): Finding {
  const parsed = tryParseJson(message.content);
  if (message.name === 'delegate' && isJsonObject(parsed)) {
    const agent = String(parsed['agent'] ?? 'the agent');
    if (parsed['status'] !== 'ok')
      return {
        text: `could not help (${summarize(parsed['error'] ?? parsed['status'] ?? null)})`,
        source: agent,
        agent,
      };
    return { text: oneLine(String(parsed['answer'] ?? '')), source: agent, agent };
  }
  if (isJsonObject(parsed) && typeof parsed['status'] === 'string') {
    if (parsed['status'] !== 'ok')
      return {
        text: `${message.name} failed: ${oneLine(summarize(parsed['error'] ?? parsed['status']))}`,
        source: message.name,
      };
    const output = parsed['output'];
    // A tool that returned nothing says so, rather than leaving an empty finding (an answer of ".").
    if (output === undefined || output === null || output === '')
      return { text: `${message.name} returned nothing`, source: message.name };
    return { text: oneLine(summarize(output)), source: message.name };
  }
  return { text: oneLine(summarize(parsed ?? message.content)), source: message.name };
}

/** Folds a multi-line answer into one line: bullets become clauses separated by semicolons. */
export function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/^\s*[-*]\s*/, '').trim())
    .filter((l) => l !== '' && !/^(I asked|Here is what I found)/.test(l))
    .join('; ')
    .replace(/^In short:\s*/, '')
    .replace(/[.;\s]+$/, '');
}

export function lastAnswer(messages: readonly ChatMessage[], from: number): string | undefined {
  for (let i = messages.length - 1; i > from; i--) {
    const m = messages[i]!;
    if (m.role === 'tool' && m.name === 'ask_user') return m.content;
  }
  return undefined;
}

export function firstSentence(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '' && !l.startsWith('I asked')) ?? text;
  const match = line.replace(/^-\s*/, '').match(/^.*?[.!?](\s|$)/);
  return (match?.[0] ?? line).trim();
}

export function listJoin(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

export function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
