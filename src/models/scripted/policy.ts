import { canonicalJson, isJsonObject, tryParseJson } from '../../core/json.ts';
import type { ChatMessage, ModelRequest, SimulationHints } from '../provider.ts';
import {
  agentCandidate,
  amountIn,
  clauses,
  delegateTargets,
  extractArgs,
  perPlace,
  route,
  toolCandidate,
  type Candidate,
} from './language.ts';
import { applyStyle, readStyle, systemOf } from './style.ts';
import type { ScriptRule } from './script.ts';
import {
  compose,
  draw,
  listJoin,
  skipProbability,
  type Action,
  type Context,
  type PlannedCall,
  type ToolMessage,
} from './answer.ts';
import { clauseSegments, followSegments, matchRule } from './rules.ts';

export { looseProbability, skipProbability, type Action, type PlannedCall } from './answer.ts';

/**
 * The scripted simulator's policy: a pure function from a request to what the "model" says and calls.
 *
 * Temperature: at temperature T a planned call is skipped with probability min(0.5, 0.2·T) (the agent answers
 * without that step), and a final answer is loose with probability min(0.8, 0.35·T) (it keeps only its first
 * finding). Draws are keyed by (seed, conversation path, ordinal, purpose), so a given seed always gives the same
 * run, and at temperature 0 the seed changes nothing.
 */
export function decide(request: ModelRequest): Action {
  const action = plainDecide(request);
  if (action.calls.length > 0) return action;
  // A final answer follows the style the system prompt asks for (style.ts says what it honours).
  const agent = request.simulation?.agent ?? 'agent';
  const style = readStyle(systemOf(request.messages), agent, request.simulation?.description ?? '');
  // A whole-message rule's reply is the author's exact text (a P2Engine rule table's answer): no amount added.
  const text = action.wholeMessage === true ? action.text : restateAmount(action.text, request);
  return { text: applyStyle(text, style, agent), calls: [] };
}

/** A task naming an amount ("$12.50", "5 units") gets an answer that says it, as the task wrote it. */
function restateAmount(text: string, request: ModelRequest): string {
  const index = request.simulation?.taskIndex ?? inferHints(request).taskIndex;
  const task = request.messages[index];
  const amount = task?.role === 'user' ? amountIn(task.content) : undefined;
  if (amount === undefined || text.toLowerCase().includes(amount.text.toLowerCase())) return text;
  return `${text}\n(Amount: ${amount.text}.)`;
}

function plainDecide(request: ModelRequest): Action & { readonly wholeMessage?: boolean } {
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
  const rules = hints.script as readonly ScriptRule[];
  const whole = matchRule(rules, task);
  // A rule anchored at both ends (`^…$`) is about the whole message: it is never split into clauses (P2Engine's
  // rule_based agents look the whole message up, "hi. how are you?" included).
  if (whole !== undefined && isAnchored(whole.rule.when)) {
    const action = followSegments(ctx, [{ steps: whole.rule.steps, groups: whole.groups, clause: task }], false);
    return { ...action, wholeMessage: true };
  }
  const segments = clauseSegments(ctx, rules, whole?.rule, (clause) => planCalls(ctx, clause, new Set()).calls);
  if (segments !== undefined) return followSegments(ctx, segments);
  if (whole !== undefined)
    return followSegments(ctx, [{ steps: whole.rule.steps, groups: whole.groups, clause: task }], false);
  return builtin(ctx);
}

/** `^…$`: a pattern for the whole text (a final `$` that is not escaped). */
function isAnchored(pattern: string): boolean {
  return pattern.startsWith('^') && /(^|[^\\])(\\\\)*\$$/.test(pattern);
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
  return addressEveryClause(ctx, compose(ctx));
}

/**
 * A task of several clauses: a clause no tool or agent fits gets its own line, and so does one whose call a warm run
 * skipped (`I did not get to "<clause>".`), so no part goes unanswered without a word.
 */
function addressEveryClause(ctx: Context, action: Action): Action {
  const parts = clauses(ctx.task);
  if (parts.length < 2) return action;
  const { unrouted, routed } = planCalls(ctx, ctx.task, new Set());
  const results = ctx.request.messages
    .slice(ctx.hints.taskIndex + 1)
    .filter((m): m is ToolMessage => m.role === 'tool' && m.name !== 'ask_user');
  if (results.length === 0) return action;
  const ran = new Set(results.map((m) => (m.name === 'delegate' ? `agent:${delegateOf(m)}` : `tool:${m.name}`)));
  const skipped = routed.filter((r) => !ran.has(`${r.kind}:${r.name}`)).map((r) => `I did not get to "${r.clause}".`);
  const lines = [
    ...(unrouted.length === parts.length ? [] : unrouted.map((c) => `None of my tools covers "${c}".`)),
    ...skipped,
  ];
  return lines.length === 0 ? action : { text: [action.text, ...lines].join('\n'), calls: action.calls };
}

function delegateOf(message: ToolMessage): string {
  const parsed = tryParseJson(message.content);
  return isJsonObject(parsed) && typeof parsed['agent'] === 'string' ? parsed['agent'] : '';
}

interface CallPlan {
  readonly calls: PlannedCall[];
  readonly question?: string;
  /** Clauses no tool or agent fits. */
  readonly unrouted: readonly string[];
  /** Each other clause and the tool or agent it went to. */
  readonly routed: readonly { clause: string; kind: 'tool' | 'agent'; name: string }[];
}

/** What the built-in policy would call for a text: a call (or delegation) per clause it can route. */
function planCalls(ctx: Context, text: string, alreadyCalled: ReadonlySet<string>, answer?: string): CallPlan {
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
  const unrouted: string[] = [];
  const routed: { clause: string; kind: 'tool' | 'agent'; name: string }[] = [];
  let question: string | undefined;
  for (const clause of clauses(text)) {
    const target = route(clause, candidates);
    if (target === undefined) {
      unrouted.push(clause);
      continue;
    }
    routed.push({ clause, kind: target.kind, name: target.name });
    if (target.kind === 'agent') {
      delegations.set(target.name, [...(delegations.get(target.name) ?? []), clause]);
      continue;
    }
    const spec = ownTools.find((t) => t.name === target.name)!;
    const extraction = extractArgs(answer === undefined ? clause : `${clause} ${answer}`, spec, ctx.hints.agent);
    if (extraction.ok) {
      // The same tool for two clauses ("weather in Paris, then in Oslo") or two listed places ("in Paris and Oslo")
      // is two calls; the same call once.
      for (const args of perPlace(extraction.args, clause)) {
        const key = canonicalJson(args);
        if (!calls.some((c) => c.name === spec.name && canonicalJson(c.args) === key))
          calls.push({ name: spec.name, args });
      }
    } else if (canAsk && answer === undefined) {
      question ??= `Which ${extraction.missing.replace(/_/g, ' ')} should I use for ${spec.name.replace(/_/g, ' ')}?`;
    }
  }
  for (const [agent, parts] of delegations)
    // Joined so that the delegate splits them again into the same clauses.
    calls.push({ name: 'delegate', args: { agent, message: parts.join('; ') } });
  return { calls, unrouted, routed, ...(question === undefined ? {} : { question }) };
}

function plan(ctx: Context, text: string, alreadyCalled: ReadonlySet<string>, answer?: string): Action {
  const { calls, question } = planCalls(ctx, text, alreadyCalled, answer);
  if (question !== undefined && calls.length === 0)
    return { text: '', calls: [{ name: 'ask_user', args: { question } }] };
  const pSkip = skipProbability(ctx.request.temperature);
  const kept = calls.filter((_, i) => !(pSkip > 0 && draw(ctx, ctx.hints.ordinal, `skip:${i}`) < pSkip));
  if (kept.length === 0) {
    const found = ctx.request.messages
      .slice(ctx.hints.taskIndex + 1)
      .some((m) => m.role === 'tool' && m.name !== 'ask_user');
    // Every call was skipped (a warm run) and nothing was found before: say so, not that no tool covers the task.
    if (calls.length > 0 && !found) return { text: `I did not get to "${ctx.task}".`, calls: [] };
    return addressEveryClause(ctx, compose(ctx));
  }
  const agents = kept.filter((c) => c.name === 'delegate').map((c) => String(c.args['agent']));
  const say = agents.length === 0 ? '' : `I'll ask ${listJoin(agents)} and combine what they find.`;
  return { text: say, calls: kept };
}
