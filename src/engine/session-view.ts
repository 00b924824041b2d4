import { approvalQuestion } from './approval.ts';
import type { Entry } from '../core/entries.ts';
import type { JsonObject, JsonValue } from '../core/json.ts';
import type { Store } from '../store/store.ts';
import type { ConversationRow, SessionRow } from '../store/sessions.ts';
import type { UsageSummary } from '../store/calls.ts';
import { INITIAL_STATE, apply, outstanding, type Phase } from './fsm.ts';
import { effectsPolicyOf, type EffectsPolicy } from './effects-policy.ts';

/** A session as read from the store (by any process): its conversations, their phases, usage and answer. */
export interface SessionView {
  readonly session: SessionRow;
  readonly conversations: readonly ConversationView[];
  readonly entries: readonly Entry[];
  readonly usage: { total: UsageSummary; byAgent: Record<string, UsageSummary> };
  readonly simulated: boolean;
  readonly answer: string | null;
  readonly questions: readonly { callId: string; agent: string; conversation: string; question: string }[];
  readonly lease: { owner: string; pid: number; host: string; expiresAt: number } | null;
  /** What effectful calls do on the checked-out branch (its own policy, else the session's). */
  readonly effects: EffectsPolicy;
}

export interface ConversationView {
  readonly row: ConversationRow;
  readonly phase: Phase;
  readonly steps: number;
  readonly entries: readonly Entry[];
  readonly answer: string | null;
  /** Call ids of the current turn still without results. */
  readonly outstanding: readonly string[];
}

export function readSession(store: Store, sessionRef: string): SessionView {
  const session = store.sessions.resolve(sessionRef);
  const entries = store.log.visibleEntries(session.id, store.sessions.segments(session.headBranch));
  const byConversation = new Map<string, Entry[]>();
  for (const entry of entries) {
    const list = byConversation.get(entry.conversation) ?? [];
    list.push(entry);
    byConversation.set(entry.conversation, list);
  }
  const steps = store.log.modelCallCounts(session.id, store.sessions.segments(session.headBranch));
  const simulated = store.calls.usedProvider(session.id, 'scripted');
  const conversations: ConversationView[] = [];
  const questions: SessionView['questions'][number][] = [];
  for (const row of store.sessions.conversations(session.id)) {
    const list = byConversation.get(row.id);
    if (list === undefined) continue;
    let state = INITIAL_STATE;
    let answer: string | null = null;
    let lastText: string | null = null;
    const asked = new Map<string, string>();
    for (const entry of list) {
      try {
        state = apply(state, entry);
      } catch {
        // A reader shows what is stored even if it would not replay.
      }
      if (entry.kind === 'assistant_message') lastText = entry.payload.text;
      if (entry.kind === 'finished') answer = lastText;
      if (entry.kind === 'user_message') answer = null;
      if (entry.kind === 'user_input_request') asked.set(entry.payload.callId, entry.payload.question);
      if (entry.kind === 'user_response') asked.delete(entry.payload.callId);
    }
    for (const [callId, question] of asked)
      questions.push({ callId, agent: row.agent, conversation: row.id, question });
    conversations.push({
      row,
      phase: state.phase,
      steps: steps.get(row.id) ?? 0,
      entries: list,
      answer,
      outstanding: outstanding(state).map((c) => c.callId),
    });
  }
  // Tool calls waiting for a person's approval: asked, not decided, and still outstanding in their conversation.
  const approvals = new Map<string, { callId: string; agent: string; conversation: string; question: string }>();
  for (const e of store.log.read(
    0,
    { session: session.id, types: ['approval.requested', 'approval.decided'] },
    100_000,
  )) {
    if (e.type === 'approval.requested')
      approvals.set(e.payload.key, {
        callId: e.payload.callId,
        agent: e.payload.agent,
        conversation: e.conversation ?? '',
        question: approvalQuestion(e.payload.tool, e.payload.reason),
      });
    if (e.type === 'approval.decided') approvals.delete(e.payload.key);
  }
  for (const a of approvals.values())
    if (conversations.some((c) => c.row.id === a.conversation && c.outstanding.includes(a.callId))) questions.push(a);
  const root = conversations.find((c) => c.row.id === session.rootConversation);
  const holder = store.leases.holder(session.id);
  return {
    session,
    conversations,
    entries,
    usage: store.calls.usage(session.id),
    simulated,
    answer: root?.phase === 'finished' ? root.answer : null,
    questions,
    effects: effectsPolicyOf(session.options, store.sessions.branch(session.headBranch)?.overrides),
    lease:
      holder === undefined
        ? null
        : { owner: holder.owner, pid: holder.pid, host: holder.host, expiresAt: holder.expiresAt },
  };
}

/** Entries as `--json` prints them: seq, conversation, agent, kind, then the payload's fields. */
export function entriesJson(view: SessionView): JsonValue[] {
  const agentOf = new Map(view.conversations.map((c) => [c.row.id, c.row.agent]));
  return view.entries.map((e) => ({
    seq: e.seq,
    id: e.id,
    ts: e.ts,
    conversation: e.conversation,
    agent: agentOf.get(e.conversation) ?? null,
    kind: e.kind,
    ...(e.payload as JsonObject),
  }));
}

export function sessionJson(view: SessionView): JsonObject {
  return {
    session: view.session.id,
    agent: view.session.agent,
    title: view.session.title,
    status: view.session.status,
    statusReason: view.session.statusReason,
    createdAt: new Date(view.session.createdAt).toISOString(),
    branch: view.session.headBranch,
    options: view.session.options as unknown as JsonObject,
    effects: view.effects,
    answer: view.answer,
    simulated: view.simulated,
    usage: { total: view.usage.total as unknown as JsonObject, byAgent: view.usage.byAgent as unknown as JsonObject },
    conversations: view.conversations.map((c) => ({
      id: c.row.id,
      agent: c.row.agent,
      parent: c.row.parent,
      depth: c.row.depth,
      path: c.row.path,
      phase: c.phase,
      steps: c.steps,
      entries: c.entries.length,
      answer: c.answer,
    })),
    questions: view.questions.map((q) => ({ ...q })),
    drivenBy:
      view.lease === null
        ? null
        : { pid: view.lease.pid, host: view.lease.host, expiresAt: new Date(view.lease.expiresAt).toISOString() },
  };
}

/** Conversations in tree order (each followed by its children), for printing. */
export function treeOrder(conversations: readonly ConversationView[]): ConversationView[] {
  const children = new Map<string | null, ConversationView[]>();
  for (const c of conversations) children.set(c.row.parent, [...(children.get(c.row.parent) ?? []), c]);
  const out: ConversationView[] = [];
  const visit = (parent: string | null): void => {
    for (const c of children.get(parent) ?? []) {
      out.push(c);
      visit(c.row.id);
    }
  };
  visit(null);
  return out;
}
