import type { Entry } from '../core/entries.ts';
import type { JsonValue } from '../core/json.ts';
import { UserError } from '../core/errors.ts';
import { branchEntries } from '../engine/branching.ts';
import type { Store } from '../store/store.ts';
import type { TargetKind } from '../store/scores.ts';

/**
 * What an evaluator judges: one conversation's work on one branch (a branch target is its root conversation), or
 * an artifact's content. Read from the log, so a score always refers to exactly what the branch shows.
 */
export interface Material {
  readonly session: string;
  readonly branch: string;
  readonly target: { readonly kind: TargetKind; readonly id: string };
  readonly conversation: string | null;
  readonly agent: string;
  /** The task the conversation was given last (its newest user message). */
  readonly task: string;
  /** Its final answer (the last assistant text), or the artifact's text. */
  readonly answer: string;
  readonly finished: boolean;
  readonly entries: readonly Entry[];
  readonly toolCalls: readonly { readonly tool: string; readonly args: JsonValue; readonly status: string | null }[];
  /** Agents this conversation delegated to, in order. */
  readonly delegations: readonly string[];
  readonly usage: {
    readonly tokensIn: number;
    readonly tokensOut: number;
    readonly costUsd: number;
    readonly latencyMs: number;
    readonly modelCalls: number;
  };
}

export function materialFor(
  store: Store,
  target: { session: string; branch: string; kind: TargetKind; id: string; uptoSeq?: number | null },
): Material {
  if (target.kind === 'artifact') return artifactMaterial(store, target);
  const session = store.sessions.require(target.session);
  const conversationId =
    target.kind === 'branch'
      ? session.rootConversation
      : target.kind === 'step'
        ? stepConversation(store, target.id)
        : target.id;
  const row = store.sessions.conversation(conversationId);
  if (row === undefined || row.session !== session.id)
    throw new UserError('E_USAGE', `session ${session.id} has no conversation ${conversationId}`);
  // As the branch was when the job was queued: a message sent since must not change what is judged.
  const limit = target.uptoSeq ?? Infinity;
  const all = branchEntries(store, session.id, target.branch).filter((e) => e.seq <= limit);
  // A step is judged with what led to it, and for a tool call its result too.
  const step = target.kind === 'step' ? all.find((e) => e.id === target.id) : undefined;
  const result =
    step?.kind === 'tool_call'
      ? all.find(
          (e) =>
            e.kind === 'tool_result' &&
            e.conversation === step.conversation &&
            e.payload.callId === step.payload.callId,
        )
      : undefined;
  const upTo = target.kind === 'step' ? (result?.seq ?? step?.seq ?? Infinity) : Infinity;
  const entries = all.filter((e) => e.conversation === conversationId && e.seq <= upTo);
  const results = new Map<string, string>();
  for (const e of entries) if (e.kind === 'tool_result') results.set(e.payload.callId, e.payload.status);
  const visible = store.log.visibleModelCallIds(session.id, store.sessions.segments(target.branch));
  // Model calls up to the limit: the ones whose responses the entries hold.
  const answered = new Set(entries.flatMap((e) => ('modelCall' in e.payload ? [e.payload.modelCall] : [])));
  const calls = store.calls
    .modelCalls({ conversation: conversationId })
    .filter((c) => visible.has(c.id) && (limit === Infinity || answered.has(c.id)));
  const task = entries.findLast((e) => e.kind === 'user_message');
  const answer = entries.findLast((e) => e.kind === 'assistant_message');
  return {
    session: session.id,
    branch: target.branch,
    target: { kind: target.kind, id: target.id },
    conversation: conversationId,
    agent: row.agent,
    task: task?.kind === 'user_message' ? task.payload.text : '',
    // A judged tool step's "answer" is what the tool returned.
    answer:
      result?.kind === 'tool_result'
        ? typeof result.payload.output === 'string'
          ? result.payload.output
          : JSON.stringify(result.payload.output ?? result.payload.error ?? null)
        : answer?.kind === 'assistant_message'
          ? answer.payload.text
          : '',
    finished: entries.at(-1)?.kind === 'finished',
    entries,
    toolCalls: entries.flatMap((e) =>
      e.kind === 'tool_call'
        ? [{ tool: e.payload.tool, args: e.payload.args, status: results.get(e.payload.callId) ?? null }]
        : [],
    ),
    delegations: entries.flatMap((e) => (e.kind === 'agent_call' ? [e.payload.agent] : [])),
    usage: {
      tokensIn: calls.reduce((n, c) => n + c.tokensIn, 0),
      tokensOut: calls.reduce((n, c) => n + c.tokensOut, 0),
      costUsd: calls.reduce((n, c) => n + c.costUsd, 0),
      latencyMs: calls.reduce((n, c) => n + c.latencyMs, 0),
      modelCalls: calls.length,
    },
  };
}

function stepConversation(store: Store, entryId: string): string {
  const event = store.log.get(entryId);
  if (event?.type !== 'entry' || event.conversation === null)
    throw new UserError('E_USAGE', `no step '${entryId}' in this database`);
  return event.conversation;
}

function artifactMaterial(store: Store, target: { session: string; branch: string; id: string }): Material {
  const artifact = store.artifacts.get(target.id);
  if (artifact === undefined) throw new UserError('E_USAGE', `no artifact '${target.id}' in this database`);
  return {
    session: target.session,
    branch: target.branch,
    target: { kind: 'artifact', id: target.id },
    conversation: null,
    agent: '',
    task: '',
    answer: artifact.data.toString('utf8'),
    finished: true,
    entries: [],
    toolCalls: [],
    delegations: [],
    usage: { tokensIn: 0, tokensOut: 0, costUsd: 0, latencyMs: 0, modelCalls: 0 },
  };
}

/** The conversation's steps as lines a judge can read (long payloads shortened). */
export function transcriptText(material: Material, maxChars = 6_000): string {
  const lines = material.entries.flatMap((e): string[] => {
    switch (e.kind) {
      case 'user_message':
        return [`user: ${e.payload.text}`];
      case 'assistant_message':
        return [`assistant: ${e.payload.text}`];
      case 'tool_call':
        return [`call ${e.payload.tool}(${JSON.stringify(e.payload.args)})`];
      case 'tool_result':
        return [
          `result ${e.payload.tool}: ${e.payload.status === 'ok' ? JSON.stringify(e.payload.output ?? null) : `${e.payload.status} ${e.payload.error ?? ''}`}`,
        ];
      case 'agent_call':
        return [`delegate to ${e.payload.agent}: ${e.payload.message}`];
      case 'agent_result':
        return [`${e.payload.agent} answered: ${e.payload.status === 'ok' ? e.payload.text : e.payload.status}`];
      case 'user_input_request':
        return [`asked the user: ${e.payload.question}`];
      case 'user_response':
        return [`user answered: ${e.payload.text}`];
      default:
        return [];
    }
  });
  const text = lines.map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l)).join('\n');
  return text.length > maxChars ? `…${text.slice(text.length - maxChars)}` : text;
}
