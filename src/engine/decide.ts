import type { EffectClass, EntryDraft, EntryPayloads } from '../core/entries.ts';
import { canonicalJson, type JsonValue } from '../core/json.ts';
import { parseArguments } from './exact-json.ts';
import type { ModelResponse } from '../models/provider.ts';
import type { DedupPolicy } from '../tools/define.ts';

/**
 * Maps one model response to the entries it appends and the calls it starts: a pure function, so every case
 * (parallel calls, text with calls, invalid arguments, delegation cycles) is tested without I/O.
 */
export interface ToolInfo {
  readonly name: string;
  readonly effect: EffectClass;
  readonly dedup: DedupPolicy;
  /** Validates arguments; on failure the message goes back to the model. */
  validate(args: unknown): { ok: true } | { ok: false; error: string };
}

export interface DecideInput {
  readonly response: Pick<ModelResponse, 'text' | 'toolCalls'>;
  readonly modelCall: string;
  /** Model calls this conversation has made, this one included. */
  readonly steps: number;
  readonly conversation: {
    readonly id: string;
    readonly agent: string;
    readonly depth: number;
    readonly ancestors: readonly string[];
  };
  readonly persona: {
    readonly tools: readonly string[];
    readonly agents: readonly string[];
    readonly canAsk: boolean;
    readonly maxDepth: number;
    readonly dedup: DedupPolicy | undefined;
    readonly reuseChildren: boolean;
    readonly userTimeoutMs: number;
  };
  readonly now: number;
  lookupTool(name: string): ToolInfo | undefined;
  /** The call id of an earlier call of this tool with the same canonical arguments in this conversation. */
  previousCall(tool: string, canonicalArgs: string): string | undefined;
  /** A finished child conversation with this agent that may be reused. */
  reusableChild(agent: string): string | undefined;
  newEntryId(): string;
  newConversationId(): string;
}

type ToolResultDraft = { kind: 'tool_result'; payload: EntryPayloads['tool_result'] };

export type CallPlan =
  | {
      readonly kind: 'tool';
      readonly callId: string;
      readonly entryId: string;
      readonly key: string;
      readonly tool: string;
      readonly args: JsonValue;
      readonly effect: EffectClass;
      /** A result known without running anything (invalid arguments, unknown tool, blocked duplicate). */
      readonly immediate?: ToolResultDraft;
      readonly duplicateOf?: string;
    }
  | {
      readonly kind: 'agent';
      readonly callId: string;
      readonly entryId: string;
      readonly key: string;
      readonly agent: string;
      readonly message: string;
      readonly child: string;
      readonly reuse: boolean;
      /** The delegation is refused: the child starts and fails at once with this error. */
      readonly refusal?: { readonly code: 'E_DELEGATION_CYCLE' | 'E_DELEGATION_DEPTH'; readonly message: string };
    }
  | {
      readonly kind: 'user';
      readonly callId: string;
      readonly entryId: string;
      readonly key: string;
      readonly question: string;
      readonly deadline: number;
    };

export interface PlannedEntry {
  readonly id: string;
  readonly draft: EntryDraft;
}

export interface Plan {
  readonly entries: readonly PlannedEntry[];
  readonly calls: readonly CallPlan[];
}

export function decide(input: DecideInput): Plan {
  const { response, modelCall, persona } = input;
  const entries: PlannedEntry[] = [];
  const calls: CallPlan[] = [];
  const add = (draft: EntryDraft): string => {
    const id = input.newEntryId();
    entries.push({ id, draft });
    return id;
  };
  const text = response.text.trim();

  if (response.toolCalls.length === 0) {
    if (text === '') {
      add({
        kind: 'failed',
        payload: {
          code: 'E_EMPTY_RESPONSE',
          message: 'the model returned neither text nor tool calls',
          retryable: true,
          hint: 'Resume the session to ask the model again.',
        },
      });
      return { entries, calls };
    }
    add({ kind: 'assistant_message', payload: { text: response.text, modelCall } });
    add({ kind: 'finished', payload: { steps: input.steps } });
    return { entries, calls };
  }

  if (text !== '') add({ kind: 'assistant_message', payload: { text: response.text, modelCall } });
  const seen = new Set<string>();
  const childrenThisTurn = new Set<string>();
  // Effectful calls planned earlier in this same response count as previous calls for the dedup policies.
  const plannedEffects = new Map<string, string>();
  response.toolCalls.forEach((request, index) => {
    let callId = request.id.trim() === '' ? `call_${modelCall}_${index}` : request.id;
    if (seen.has(callId)) callId = `${callId}_${index}`;
    seen.add(callId);
    const read = request.arguments.trim() === '' ? { ok: true as const, value: {} } : parseArguments(request.arguments);
    const entryId = input.newEntryId();
    const key = entryId;
    const toolCall = (
      args: JsonValue,
      effect: EffectClass,
      immediate?: ToolResultDraft,
      duplicateOf?: string,
    ): void => {
      entries.push({
        id: entryId,
        draft: { kind: 'tool_call', payload: { callId, tool: request.name, args, effect, key, modelCall } },
      });
      calls.push({
        kind: 'tool',
        callId,
        entryId,
        key,
        tool: request.name,
        args,
        effect,
        ...(immediate === undefined ? {} : { immediate }),
        ...(duplicateOf === undefined ? {} : { duplicateOf }),
      });
    };
    const error = (message: string, status: 'error' | 'skipped' = 'error', duplicateOf?: string): ToolResultDraft => ({
      kind: 'tool_result',
      payload: {
        callId,
        tool: request.name,
        status,
        error: message,
        ...(duplicateOf === undefined ? {} : { duplicateOf }),
      },
    });
    if (read === undefined) {
      toolCall(
        request.arguments,
        'pure',
        error(`the arguments are not valid JSON: ${request.arguments.slice(0, 200)}`),
      );
      return;
    }
    // A number that would not arrive as written (Infinity, rounded): refused, and stored as the model sent it.
    if (!read.ok) return toolCall(request.arguments, 'pure', error(read.error));
    const parsed = read.value;

    // The built-in tools read their arguments here, so they refuse what is not an object (null, a list, a number)
    // as a workspace tool's schema would: the model is told, and the session goes on.
    const builtIn = request.name === 'delegate' || request.name === 'ask_user';
    if (builtIn && (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)))
      return toolCall(
        parsed,
        'pure',
        error(`${request.name} takes a JSON object of arguments, not ${JSON.stringify(parsed).slice(0, 60)}`),
      );
    const field = (name: string): string => {
      const value = (parsed as Record<string, unknown>)[name];
      return typeof value === 'string' ? value : '';
    };

    if (request.name === 'delegate') {
      const agent = field('agent');
      const message = field('message');
      if (persona.agents.length === 0)
        return toolCall(parsed, 'pure', error('this agent cannot delegate (its persona lists no agents)'));
      if (!persona.agents.includes(agent))
        return toolCall(
          parsed,
          'pure',
          error(`unknown agent '${agent}'; you can delegate to: ${persona.agents.join(', ')}`),
        );
      if (message.trim() === '')
        return toolCall(parsed, 'pure', error('delegate needs a non-empty message for the agent'));
      const chain = [...input.conversation.ancestors, input.conversation.agent];
      let refusal: Extract<CallPlan, { kind: 'agent' }>['refusal'];
      if (chain.includes(agent)) {
        refusal = { code: 'E_DELEGATION_CYCLE', message: `delegation cycle: ${[...chain, agent].join(' → ')}` };
      } else if (input.conversation.depth + 1 > persona.maxDepth) {
        refusal = {
          code: 'E_DELEGATION_DEPTH',
          message: `delegation depth limit ${persona.maxDepth} reached: ${[...chain, agent].join(' → ')}`,
        };
      }
      const reusable =
        persona.reuseChildren && refusal === undefined && !childrenThisTurn.has(agent)
          ? input.reusableChild(agent)
          : undefined;
      const child = reusable ?? input.newConversationId();
      childrenThisTurn.add(agent);
      entries.push({
        id: entryId,
        draft: { kind: 'agent_call', payload: { callId, agent, message, child, modelCall } },
      });
      calls.push({
        kind: 'agent',
        callId,
        entryId,
        key,
        agent,
        message,
        child,
        reuse: reusable !== undefined,
        ...(refusal === undefined ? {} : { refusal }),
      });
      return;
    }

    if (request.name === 'ask_user') {
      const question = field('question');
      if (!persona.canAsk)
        return toolCall(
          parsed,
          'pure',
          error('asking the user is turned off for this agent (policies.ask_user: false); decide without it'),
        );
      if (question.trim() === '') return toolCall(parsed, 'pure', error('ask_user needs a non-empty question'));
      const deadline = input.now + persona.userTimeoutMs;
      entries.push({
        id: entryId,
        draft: { kind: 'user_input_request', payload: { callId, question, deadline, modelCall } },
      });
      calls.push({ kind: 'user', callId, entryId, key, question, deadline });
      return;
    }

    const tool = persona.tools.includes(request.name) ? input.lookupTool(request.name) : undefined;
    if (tool === undefined) {
      const available = [
        ...persona.tools,
        ...(persona.agents.length > 0 ? ['delegate'] : []),
        ...(persona.canAsk ? ['ask_user'] : []),
      ];
      return toolCall(
        parsed,
        'pure',
        error(`unknown tool '${request.name}'; available: ${available.join(', ') || '(none)'}`),
      );
    }
    const validation = tool.validate(parsed);
    if (!validation.ok)
      return toolCall(parsed, tool.effect, error(`invalid arguments for ${tool.name}: ${validation.error}`));
    // The entry keeps the arguments as the model sent them; the tool gets them parsed again when it runs.
    if (tool.effect === 'effectful') {
      const policy = persona.dedup ?? tool.dedup;
      const effectKey = canonicalJson(parsed);
      const previous =
        policy === 'none'
          ? undefined
          : (input.previousCall(tool.name, effectKey) ?? plannedEffects.get(`${tool.name}\n${effectKey}`));
      plannedEffects.set(`${tool.name}\n${effectKey}`, plannedEffects.get(`${tool.name}\n${effectKey}`) ?? callId);
      if (previous !== undefined && policy === 'strict') {
        return toolCall(
          parsed,
          tool.effect,
          error(
            `not run: it repeats call ${previous} with the same arguments, and the dedup policy is strict`,
            'skipped',
            previous,
          ),
          previous,
        );
      }
      return toolCall(parsed, tool.effect, undefined, previous);
    }
    toolCall(parsed, tool.effect);
  });

  const callIds = calls.map((c) => c.callId);
  const userDeadlines = calls.flatMap((c) => (c.kind === 'user' ? [c.deadline] : []));
  add({
    kind: 'waiting',
    payload: { callIds, deadline: userDeadlines.length === 0 ? null : Math.max(...userDeadlines) },
  });
  return { entries, calls };
}
