import type { JsonObject, JsonValue } from '../../core/json.ts';
import { isJsonObject, tryParseJson } from '../../core/json.ts';
import { uniform } from '../../core/random.ts';
import type { ChatMessage, ModelRequest, SimulationHints } from '../provider.ts';
import {
  agentCandidate,
  clauses,
  delegateTargets,
  extractArgs,
  route,
  summarize,
  toolCandidate,
  type Candidate,
} from './language.ts';
import { fillTemplate, type ScriptCallItem, type ScriptRule, type ScriptStep } from './script.ts';

/**
 * The scripted simulator's policy: a pure function from a request to what the "model" says and calls.
 *
 * Temperature: at temperature T a planned call is skipped with probability min(0.5, 0.2·T) (the agent answers
 * without that step), and a final answer is loose with probability min(0.8, 0.35·T) (it keeps only its first
 * finding). Draws are keyed by (seed, conversation path, ordinal, purpose), so a given seed always gives the same
 * run, and at temperature 0 the seed changes nothing.
 */
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

interface Context {
  readonly request: ModelRequest;
  readonly hints: SimulationHints;
  readonly task: string;
  readonly round: number;
  /** Tool messages answering the previous model call. */
  readonly lastResults: readonly ToolMessage[];
}

type ToolMessage = Extract<ChatMessage, { role: 'tool' }>;

const compiled = new Map<string, RegExp>();
function pattern(source: string): RegExp {
  let re = compiled.get(source);
  if (re === undefined) {
    re = new RegExp(source, 'i');
    compiled.set(source, re);
  }
  return re;
}

export function decide(request: ModelRequest): Action {
  const hints = request.simulation ?? inferHints(request);
  const taskMessage = request.messages[hints.taskIndex];
  const task = taskMessage?.role === 'user' ? taskMessage.content : '';
  const ctx: Context = {
    request,
    hints,
    task,
    round: hints.round,
    lastResults: trailingToolMessages(request.messages),
  };
  for (const raw of hints.script) {
    const rule = raw as ScriptRule;
    const match = pattern(rule.when).exec(task);
    if (match !== null) return followRule(ctx, rule, match.groups ?? {});
  }
  return builtin(ctx);
}

/** Fallback when a request carries no hints: find the task and count rounds by scanning. */
function inferHints(request: ModelRequest): SimulationHints {
  let taskIndex = -1;
  let round = 0;
  for (let i = request.messages.length - 1; i >= 0; i--) {
    const m = request.messages[i]!;
    if (m.role === 'user') {
      taskIndex = i;
      break;
    }
    if (m.role === 'assistant') round += 1;
  }
  return { agent: 'agent', description: '', script: [], conversationPath: 'root', ordinal: 0, taskIndex, round };
}

function trailingToolMessages(messages: readonly ChatMessage[]): ToolMessage[] {
  const out: ToolMessage[] = [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== 'tool') break;
    out.unshift(m);
  }
  return out;
}

function draw(ctx: Context, ordinal: number, purpose: string): number {
  return uniform(ctx.request.seed, ctx.hints.conversationPath, ordinal, purpose);
}

// ---------------------------------------------------------------------------------------------------------------
// Script rules

function followRule(ctx: Context, rule: ScriptRule, groups: Record<string, string | undefined>): Action {
  const pSkip = skipProbability(ctx.request.temperature);
  const steps = rule.steps;
  const firstOrdinal = ctx.hints.ordinal - ctx.round;
  let pointer = 0;
  let used = 0; // rounds spent on steps[pointer] so far (for `repeat`)
  // Agents whose delegation was skipped: a later call that names one of them (paying it, say) is skipped too, so a
  // warm run never pays for work nobody asked for.
  const undelegated = new Set<string>();
  const skipping = (p: number, ordinal: number): boolean => {
    const step = steps[p]!;
    if (pSkip === 0 || !isCallStep(step)) return false;
    const items: ScriptCallItem[] = 'parallel' in step ? step.parallel : [step as ScriptCallItem];
    const skipped =
      items.some((item) => !('delegate' in item) && namesAny(item, undelegated)) ||
      draw(ctx, ordinal, `skip:${p}`) < pSkip;
    if (skipped) for (const item of items) if ('delegate' in item) undelegated.add(item.delegate);
    return skipped;
  };
  if (pSkip === 0) {
    // No randomness: walk the steps by their round counts.
    let remaining = ctx.round;
    while (pointer < steps.length && remaining >= roundsOf(steps[pointer]!)) {
      remaining -= roundsOf(steps[pointer]!);
      pointer += 1;
    }
    used = remaining;
  } else {
    for (let r = 0; r <= ctx.round; r++) {
      if (used === 0) while (pointer < steps.length && skipping(pointer, firstOrdinal + r)) pointer += 1;
      if (r === ctx.round || pointer >= steps.length) break;
      used += 1;
      if (used >= roundsOf(steps[pointer]!)) {
        pointer += 1;
        used = 0;
      }
    }
  }
  const vars = variables(ctx, groups, used);
  const step = steps[pointer];
  if (step === undefined) return compose(ctx);
  if ('reply' in step) {
    const reply = fillTemplate(step.reply, vars);
    // A reply made only of templates whose calls were skipped or returned nothing ("{{result}}") would be empty, and a
    // model that answers nothing fails the step (E_EMPTY_RESPONSE): answer from what the calls found instead.
    if (reply.trim() === '') return compose(ctx);
    return { text: loosen(ctx, reply), calls: [] };
  }
  const items: ScriptCallItem[] = 'parallel' in step ? step.parallel : [step as ScriptCallItem];
  const calls = items.map((item) => callOf(item, vars));
  return { text: step.say === undefined ? '' : fillTemplate(step.say, vars), calls };
}

/** Whether a planned call's arguments name one of `agents` (as a whole value: `to: writer`, `payee: writer`). */
function namesAny(item: ScriptCallItem, agents: ReadonlySet<string>): boolean {
  if (agents.size === 0 || !('call' in item)) return false;
  return Object.values(item.args ?? {}).some((v) => typeof v === 'string' && agents.has(v.trim()));
}

function isCallStep(step: ScriptStep): boolean {
  return !('reply' in step);
}

function roundsOf(step: ScriptStep): number {
  return 'repeat' in step && step.repeat !== undefined ? step.repeat : 1;
}

type Vars = (name: string) => string | undefined;

function callOf(item: ScriptCallItem, vars: Vars): PlannedCall {
  if ('call' in item) return { name: item.call, args: fillArgs(item.args ?? {}, vars) };
  if ('delegate' in item)
    return { name: 'delegate', args: { agent: item.delegate, message: fillTemplate(item.message, vars) } };
  return { name: 'ask_user', args: { question: fillTemplate(item.ask, vars) } };
}

function fillArgs(args: Record<string, unknown>, vars: Vars): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(args)) {
    if (typeof v === 'string') {
      const filled = fillTemplate(v, vars);
      // A whole-value template of a number ("{{round}}") becomes a number.
      out[k] =
        /^\{\{\s*\w+\s*\}\}$/.test(v) && filled !== '' && !Number.isNaN(Number(filled)) ? Number(filled) : filled;
    } else out[k] = v as JsonValue;
  }
  return out;
}

/** Template variables, computed when a template asks for them (the result and answer scan the transcript). */
function variables(
  ctx: Context,
  groups: Record<string, string | undefined>,
  used: number,
): (name: string) => string | undefined {
  const cache = new Map<string, string | undefined>();
  const compute = (name: string): string | undefined => {
    const group = groups[name];
    if (group !== undefined) return group.trim();
    switch (name) {
      case 'task':
        return ctx.task;
      case 'agent':
        return ctx.hints.agent;
      case 'round':
        return String(used);
      case 'result':
        return ctx.lastResults.map((m) => describeResult(m).text).join('; ');
      case 'answer':
        return lastAnswer(ctx.request.messages, ctx.hints.taskIndex) ?? '';
      default:
        return undefined;
    }
  };
  return (name) => {
    if (!cache.has(name)) cache.set(name, compute(name));
    return cache.get(name);
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Built-in behaviour

function builtin(ctx: Context): Action {
  const answered = ctx.lastResults.find((m) => m.name === 'ask_user');
  if (ctx.round === 0) return plan(ctx, ctx.task, new Set());
  if (answered !== undefined && ctx.round < 4) {
    const done = new Set(
      ctx.request.messages
        .slice(ctx.hints.taskIndex)
        .flatMap((m) => (m.role === 'tool' && m.name !== 'ask_user' ? [m.name] : [])),
    );
    return plan(ctx, `${ctx.task} ${answered.content}`, done, answered.content);
  }
  return compose(ctx);
}

function plan(ctx: Context, text: string, alreadyCalled: ReadonlySet<string>, answer?: string): Action {
  const tools = ctx.request.tools;
  const delegate = tools.find((t) => t.name === 'delegate');
  const canAsk = tools.some((t) => t.name === 'ask_user');
  const ownTools = tools.filter((t) => t.name !== 'delegate' && t.name !== 'ask_user' && !alreadyCalled.has(t.name));
  const candidates: Candidate[] = [
    ...ownTools.map(toolCandidate),
    ...(delegate === undefined ? [] : delegateTargets(delegate).map((a) => agentCandidate(a.name, a.description))),
  ];
  const calls: PlannedCall[] = [];
  const delegations = new Map<string, string[]>();
  let question: string | undefined;
  for (const clause of clauses(text)) {
    const target = route(clause, candidates);
    if (target === undefined) continue;
    if (target.kind === 'agent') {
      delegations.set(target.name, [...(delegations.get(target.name) ?? []), clause]);
      continue;
    }
    const spec = ownTools.find((t) => t.name === target.name)!;
    const extraction = extractArgs(answer === undefined ? clause : `${clause} ${answer}`, spec, ctx.hints.agent);
    if (extraction.ok) {
      if (!calls.some((c) => c.name === spec.name)) calls.push({ name: spec.name, args: extraction.args });
    } else if (canAsk && answer === undefined) {
      question ??= `Which ${extraction.missing.replace(/_/g, ' ')} should I use for ${spec.name.replace(/_/g, ' ')}?`;
    }
  }
  for (const [agent, parts] of delegations)
    calls.push({ name: 'delegate', args: { agent, message: parts.join(' and ') } });
  if (question !== undefined && calls.length === 0)
    return { text: '', calls: [{ name: 'ask_user', args: { question } }] };
  const pSkip = skipProbability(ctx.request.temperature);
  const kept = calls.filter((_, i) => !(pSkip > 0 && draw(ctx, ctx.hints.ordinal, `skip:${i}`) < pSkip));
  if (kept.length === 0) return compose(ctx);
  const agents = kept.filter((c) => c.name === 'delegate').map((c) => String(c.args['agent']));
  const say = agents.length === 0 ? '' : `I'll ask ${listJoin(agents)} and combine what they find.`;
  return { text: say, calls: kept };
}

/** The final answer: what the calls since the task found, put together (or loosely, at higher temperature). */
function compose(ctx: Context): Action {
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

function loosen(ctx: Context, text: string): string {
  const p = looseProbability(ctx.request.temperature);
  if (p > 0 && draw(ctx, ctx.hints.ordinal, 'loose') < p) return `Roughly: ${firstSentence(text)}`;
  return text;
}

interface Finding {
  /** One line, without a trailing period. */
  readonly text: string;
  /** The tool (or agent) it came from. */
  readonly source: string;
  readonly agent?: string;
}

function describeResult(message: ToolMessage): Finding {
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
function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/^\s*[-*]\s*/, '').trim())
    .filter((l) => l !== '' && !/^(I asked|Here is what I found)/.test(l))
    .join('; ')
    .replace(/^In short:\s*/, '')
    .replace(/[.;\s]+$/, '');
}

function lastAnswer(messages: readonly ChatMessage[], from: number): string | undefined {
  for (let i = messages.length - 1; i > from; i--) {
    const m = messages[i]!;
    if (m.role === 'tool' && m.name === 'ask_user') return m.content;
  }
  return undefined;
}

function firstSentence(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '' && !l.startsWith('I asked')) ?? text;
  const match = line.replace(/^-\s*/, '').match(/^.*?[.!?](\s|$)/);
  return (match?.[0] ?? line).trim();
}

function listJoin(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
