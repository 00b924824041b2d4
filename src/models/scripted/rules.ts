import type { JsonObject, JsonValue } from '../../core/json.ts';
import type { ChatMessage } from '../provider.ts';
import { clauses } from './language.ts';
import { fillTemplate, type ScriptCallItem, type ScriptRule, type ScriptStep } from './script.ts';
import {
  compose,
  describeResult,
  draw,
  lastAnswer,
  loosen,
  skipProbability,
  type Action,
  type Context,
  type PlannedCall,
  type ToolMessage,
} from './answer.ts';

/** Persona script rules: which rule a task (or each of its clauses) follows, and the step each model call takes. */

const compiled = new Map<string, RegExp>();
function pattern(source: string): RegExp {
  let re = compiled.get(source);
  if (re === undefined) {
    re = new RegExp(source, 'i');
    compiled.set(source, re);
  }
  return re;
}

export function matchRule(
  rules: readonly ScriptRule[],
  text: string,
): { rule: ScriptRule; groups: Record<string, string | undefined> } | undefined {
  for (const rule of rules) {
    const match = pattern(rule.when).exec(text);
    if (match !== null) return { rule, groups: match.groups ?? {} };
  }
  return undefined;
}

/**
 * A task of several clauses ("check my balance, then transfer 15 to …") whose clauses match different rules (or
 * some match none): each clause is done in turn by its own rule (or the built-in planning, for a clause no rule
 * matches), and the answer has a line per clause. Undefined when the whole task is one rule's (the usual case).
 */
export function clauseSegments(
  ctx: Context,
  rules: readonly ScriptRule[],
  whole: ScriptRule | undefined,
  planClause: (clause: string) => readonly PlannedCall[],
): Segment[] | undefined {
  if (rules.length === 0) return undefined;
  const parts = clauses(ctx.task);
  if (parts.length < 2) return undefined;
  const matched = parts.map((clause) => ({ clause, match: matchRule(rules, clause) }));
  if (matched.every((m) => m.match === undefined)) return undefined;
  if (matched.every((m) => m.match !== undefined && m.match.rule === whole)) return undefined;
  return matched.map(({ clause, match }): Segment => {
    if (match !== undefined) return { steps: match.rule.steps, groups: match.groups, clause };
    const calls = planClause(clause);
    const items: ScriptCallItem[] = calls.map((c) =>
      c.name === 'delegate'
        ? { delegate: String(c.args['agent']), message: String(c.args['message']) }
        : { call: c.name, args: c.args },
    );
    return { steps: items.length === 0 ? [] : [{ parallel: items }], groups: {}, clause };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Script rules

export interface Segment {
  /** The rule's steps (in a several-clause task, those before its first reply are done, the reply answers). */
  readonly steps: readonly ScriptStep[];
  readonly groups: Record<string, string | undefined>;
  /** The clause (or whole task) it does: `{{task}}` in its templates. */
  readonly clause: string;
}

/** A segment's steps in one list: the call steps of every segment in turn (all steps, for a single rule). */
export interface FlatStep {
  readonly step: ScriptStep;
  readonly segment: number;
}

export function followSegments(ctx: Context, segments: readonly Segment[], several = true): Action {
  const pSkip = skipProbability(ctx.request.temperature);
  const flat: FlatStep[] = several
    ? segments.flatMap((seg, segment) => callStepsOf(seg.steps).map((step) => ({ step, segment })))
    : segments[0]!.steps.map((step) => ({ step, segment: 0 }));
  const steps = flat.map((f) => f.step);
  const firstOrdinal = ctx.hints.ordinal - ctx.round;
  let pointer = 0;
  let used = 0; // rounds spent on steps[pointer] so far (for `repeat`)
  /** The last round each step ran in (to find what that step's calls returned). */
  const ranAt = new Map<number, number>();
  // Agents whose delegation was skipped: a later call that names one of them (paying it, say) is skipped too, so a
  // warm run never pays for work nobody asked for. Agents a call already named (an escrow opened for them) are
  // committed to: their delegation is never skipped, so a locked payment always has work to judge.
  const undelegated = new Set<string>();
  const committed = new Set<string>();
  const skipping = (p: number, ordinal: number): boolean => {
    const step = steps[p]!;
    if (pSkip === 0 || !isCallStep(step)) return false;
    const items: ScriptCallItem[] = 'parallel' in step ? step.parallel : [step as ScriptCallItem];
    const mustRun = items.some((item) => 'delegate' in item && committed.has(item.delegate));
    const skipped =
      !mustRun &&
      (items.some((item) => !('delegate' in item) && namesAny(item, undelegated)) ||
        draw(ctx, ordinal, `skip:${p}`) < pSkip);
    for (const item of items)
      if (skipped && 'delegate' in item) undelegated.add(item.delegate);
      else if (!skipped && 'call' in item) for (const a of namedValues(item)) committed.add(a);
    return skipped;
  };
  if (pSkip === 0) {
    // No randomness: walk the steps by their round counts.
    let remaining = ctx.round;
    let at = 0;
    while (pointer < steps.length && remaining >= roundsOf(steps[pointer]!)) {
      remaining -= roundsOf(steps[pointer]!);
      at += roundsOf(steps[pointer]!);
      ranAt.set(pointer, at - 1);
      pointer += 1;
    }
    used = remaining;
  } else {
    for (let r = 0; r <= ctx.round; r++) {
      if (used === 0) while (pointer < steps.length && skipping(pointer, firstOrdinal + r)) pointer += 1;
      if (r === ctx.round || pointer >= steps.length) break;
      ranAt.set(pointer, r);
      used += 1;
      if (used >= roundsOf(steps[pointer]!)) {
        pointer += 1;
        used = 0;
      }
    }
  }
  const current = flat[pointer];
  if (current !== undefined && isCallStep(current.step)) {
    const seg = segments[current.segment]!;
    const vars = variables(ctx, seg, used, ctx.lastResults);
    const step = current.step;
    const items: ScriptCallItem[] = 'parallel' in step ? step.parallel : [step as ScriptCallItem];
    const calls = items.map((item) => callOf(item, vars));
    return { text: step.say === undefined ? '' : fillTemplate(step.say, vars), calls };
  }
  if (!several) {
    if (current === undefined) return compose(ctx);
    const step = current.step as Extract<ScriptStep, { reply: string }>;
    const reply = fillTemplate(step.reply, variables(ctx, segments[0]!, used, ctx.lastResults));
    // A reply made only of templates whose calls were skipped or returned nothing ("{{result}}") would be empty, and a
    // model that answers nothing fails the step (E_EMPTY_RESPONSE): answer from what the calls found instead.
    if (reply.trim() === '') return compose(ctx);
    return { text: loosen(ctx, reply), calls: [] };
  }
  // Every clause's steps are done: a line per clause, from its rule's reply or what its calls found.
  const rounds = roundResults(ctx.request.messages, ctx.hints.taskIndex);
  const lines = segments.map((seg, i) => {
    const ran = flat.flatMap((f, p) => (f.segment === i && ranAt.has(p) ? [ranAt.get(p)!] : []));
    const results = ran.length === 0 ? [] : (rounds[Math.max(...ran)] ?? []);
    const reply = seg.steps.find((s): s is Extract<ScriptStep, { reply: string }> => 'reply' in s);
    const text =
      reply !== undefined && ran.length > 0
        ? fillTemplate(reply.reply, variables(ctx, seg, 0, results)).trim()
        : results.map((m) => describeResult(m).text).join('; ');
    if (text !== '') return text.replace(/\s*\n\s*/g, ' ');
    if (callStepsOf(seg.steps).length === 0) return `None of my tools covers "${seg.clause}".`;
    return `I did not get to "${seg.clause}".`;
  });
  return { text: loosen(ctx, lines.join('\n')), calls: [] };
}

/** A rule's steps before its first reply (in a several-clause task the reply is the clause's line of the answer). */
export function callStepsOf(steps: readonly ScriptStep[]): ScriptStep[] {
  const reply = steps.findIndex((s) => !isCallStep(s));
  return reply < 0 ? [...steps] : steps.slice(0, reply);
}

/** The tool messages answering each model call since the task, by round. */
export function roundResults(messages: readonly ChatMessage[], taskIndex: number): ToolMessage[][] {
  const rounds: ToolMessage[][] = [];
  for (let i = taskIndex + 1; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role === 'assistant') rounds.push([]);
    else if (m.role === 'tool' && rounds.length > 0) rounds[rounds.length - 1]!.push(m);
  }
  return rounds;
}

/** The whole-value strings of a call's arguments (the agents it may name). */
export function namedValues(item: ScriptCallItem): string[] {
  if (!('call' in item)) return [];
  return Object.values(item.args ?? {}).flatMap((v) => (typeof v === 'string' ? [v.trim()] : []));
}

/** Whether a planned call's arguments name one of `agents` (as a whole value: `to: writer`, `payee: writer`). */
export function namesAny(item: ScriptCallItem, agents: ReadonlySet<string>): boolean {
  if (agents.size === 0 || !('call' in item)) return false;
  return Object.values(item.args ?? {}).some((v) => typeof v === 'string' && agents.has(v.trim()));
}

export function isCallStep(step: ScriptStep): step is Exclude<ScriptStep, { reply: string }> {
  return !('reply' in step);
}

export function roundsOf(step: ScriptStep): number {
  return 'repeat' in step && step.repeat !== undefined ? step.repeat : 1;
}

export type Vars = (name: string) => string | undefined;

export function callOf(item: ScriptCallItem, vars: Vars): PlannedCall {
  if ('call' in item) return { name: item.call, args: fillArgs(item.args ?? {}, vars) };
  if ('delegate' in item)
    return { name: 'delegate', args: { agent: item.delegate, message: fillTemplate(item.message, vars) } };
  return { name: 'ask_user', args: { question: fillTemplate(item.ask, vars) } };
}

export function fillArgs(args: Record<string, unknown>, vars: Vars): JsonObject {
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
export function variables(
  ctx: Context,
  seg: Segment,
  used: number,
  results: readonly ToolMessage[],
): (name: string) => string | undefined {
  const cache = new Map<string, string | undefined>();
  const compute = (name: string): string | undefined => {
    const group = seg.groups[name];
    if (group !== undefined) return group.trim();
    switch (name) {
      case 'task':
        return seg.clause;
      case 'agent':
        return ctx.hints.agent;
      case 'round':
        return String(used);
      case 'result':
        return results.map((m) => describeResult(m).text).join('; ');
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
