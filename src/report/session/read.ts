import type { Entry } from '../../core/entries.ts';
import type { JsonValue } from '../../core/json.ts';
import { divergence, type Divergence } from '../../engine/branch-diff.ts';
import { branchEntries } from '../../engine/branching.ts';
import { readSession, type SessionView } from '../../engine/session-view.ts';
import type { ScoreRow } from '../../store/scores.ts';
import type { BranchRow, ConversationRow, SessionRow } from '../../store/sessions.ts';
import type { Store } from '../../store/store.ts';

/**
 * Everything the session report shows, read from the database alone (as `session show` and `session export` read
 * it): the checked-out branch's view, every branch with where it left its parent, the scores, the payments, the
 * approvals. A workspace that changed since (a persona gone, a tool renamed) does not stop a report.
 */
export interface SessionData {
  readonly view: SessionView;
  /** Every conversation of the session, on any branch (a branch's own delegations included). */
  readonly conversations: ReadonlyMap<string, ConversationRow>;
  readonly branches: readonly BranchData[];
  readonly scores: readonly ScoreRow[];
  readonly payments: readonly Payment[];
  /** Approvals asked and decided, by the key of the call they were about (call ids repeat across branches). */
  readonly approvals: ReadonlyMap<string, Approval>;
}

export interface BranchData {
  readonly row: BranchRow;
  readonly parent: BranchRow | undefined;
  readonly checkedOut: boolean;
  /** Entries visible on the branch (its ancestors' up to each fork point, then its own). */
  readonly length: number;
  /** The entries written on this branch itself: for a fork, everything after its fork point. */
  readonly own: readonly Entry[];
  /** The last entry the fork kept from its parent, and its number in its conversation (as `session stack` counts). */
  readonly forkPoint: { readonly entry: Entry; readonly index: number } | null;
  /** Where it first differs from its parent, as `session diff <parent> <branch>` says; null when it does not (yet). */
  readonly divergence: Divergence | null;
}

export interface Payment {
  readonly kind: 'payment' | 'reward' | 'escrow' | 'escrow settled';
  readonly branch: string;
  readonly from: string;
  readonly to: string;
  readonly amount: string;
  readonly reason: string;
  /** ok, error, … as the tool result says; for a settled escrow, released or refunded. */
  readonly status: string;
  /** Made in a dry-run branch's scratch copy of the wallets. */
  readonly simulated: boolean;
  /** The tool call it came from (null for an escrow the judge settled). */
  readonly call: Entry | null;
  readonly reference: string | null;
}

export interface Approval {
  /** Why a person was asked; null when the session's approval policy decided at once (nobody was asked). */
  readonly asked: string | null;
  readonly decided: { readonly approved: boolean; readonly by: string; readonly text: string } | null;
}

/** The ledger tools whose calls move money, and the kind of payment each is. */
const PAYING: Readonly<Record<string, Payment['kind']>> = {
  transfer_funds: 'payment',
  reward_agent: 'reward',
  open_escrow: 'escrow',
};

export function readSessionData(store: Store, session: SessionRow): SessionData {
  const view = readSession(store, session.id);
  const conversations = new Map(store.sessions.conversations(session.id).map((c) => [c.id, c]));
  const rows = store.sessions.branches(session.id);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const visible = new Map(rows.map((r) => [r.id, branchEntries(store, session.id, r.id)]));
  const branches = rows.map((row): BranchData => {
    const entries = visible.get(row.id) ?? [];
    const parent = row.parent === null ? undefined : byId.get(row.parent);
    return {
      row,
      parent,
      checkedOut: row.id === session.headBranch,
      length: entries.length,
      own: entries.filter((e) => e.branch === row.id),
      forkPoint: parent === undefined ? null : forkPoint(visible.get(parent.id) ?? [], row.forkSeq),
      divergence: parent === undefined ? null : divergence(store, session, parent.id, row.id),
    };
  });
  const approvals = readApprovals(store, session.id);
  const all = branches.flatMap((b) => b.own).sort((x, y) => x.seq - y.seq);
  return {
    view,
    conversations,
    branches,
    scores: store.scores.scores({ session: session.id }),
    payments: [...paymentsOf(all, conversations), ...escrowsSettled(store, session.id)],
    approvals,
  };
}

/** The parent's entry at the fork point (the newest at or before it) and its number in its conversation. */
function forkPoint(parentEntries: readonly Entry[], forkSeq: number | null): BranchData['forkPoint'] {
  if (forkSeq === null) return null;
  const kept = parentEntries.filter((e) => e.seq <= forkSeq);
  const entry = kept.at(-1);
  if (entry === undefined) return null;
  return { entry, index: kept.filter((e) => e.conversation === entry.conversation).length - 1 };
}

const text = (value: JsonValue | undefined): string | null =>
  typeof value === 'string' ? value : typeof value === 'number' ? String(value) : null;

function field(value: JsonValue | undefined, name: string): JsonValue | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value[name] : undefined;
}

/** Payments the session's agents made by calling a ledger tool, on every branch, each with its result. */
function paymentsOf(entries: readonly Entry[], conversations: ReadonlyMap<string, ConversationRow>): Payment[] {
  const results = new Map<string, Entry & { kind: 'tool_result' }>();
  for (const e of entries)
    if (e.kind === 'tool_result') results.set(`${e.branch} ${e.conversation} ${e.payload.callId}`, e);
  const out: Payment[] = [];
  for (const call of entries) {
    if (call.kind !== 'tool_call') continue;
    const kind = PAYING[call.payload.tool];
    if (kind === undefined) continue;
    const { args, callId } = call.payload;
    // The result is on the call's branch, or (a fork right after the call) on a branch forked from it: the first.
    const result =
      results.get(`${call.branch} ${call.conversation} ${callId}`) ??
      [...results.values()].find((r) => r.conversation === call.conversation && r.payload.callId === callId);
    const output = result?.payload.output;
    out.push({
      kind,
      branch: call.branch,
      from: conversations.get(call.conversation)?.agent ?? call.conversation,
      to: text(field(output, 'to')) ?? text(field(args, 'to')) ?? text(field(args, 'payee')) ?? '?',
      amount:
        text(field(output, 'paid')) ??
        text(field(output, 'rewarded')) ??
        text(field(output, 'amount')) ??
        text(field(args, 'amount')) ??
        '?',
      reason: text(field(args, 'reason')) ?? '',
      status: result === undefined ? 'no result yet' : result.payload.status,
      simulated: result?.payload.simulated === true,
      call,
      reference: text(field(output, 'reference')) ?? text(field(output, 'escrow')),
    });
  }
  return out;
}

/** Escrows the judge released to their payee or refunded, from the session's log. */
function escrowsSettled(store: Store, session: string): Payment[] {
  return store.log.read(0, { session, types: ['escrow.settled'] }, 100_000).flatMap((e) =>
    e.type !== 'escrow.settled'
      ? []
      : [
          {
            kind: 'escrow settled' as const,
            branch: e.branch ?? '',
            from: 'escrow',
            to: e.payload.outcome === 'refund' ? 'payer (refund)' : e.payload.payee,
            amount: e.payload.amount,
            reason: `${e.payload.evaluator} scored ${e.payload.value} (threshold ${e.payload.threshold})`,
            status:
              e.payload.outcome === 'release' ? 'released' : e.payload.outcome === 'refund' ? 'refunded' : 'error',
            simulated: false,
            call: null,
            reference: e.payload.reference,
          },
        ],
  );
}

function readApprovals(store: Store, session: string): Map<string, Approval> {
  const out = new Map<string, Approval>();
  for (const e of store.log.read(0, { session, types: ['approval.requested', 'approval.decided'] }, 100_000)) {
    if (e.type === 'approval.requested') out.set(e.payload.key, { asked: e.payload.reason, decided: null });
    if (e.type === 'approval.decided') {
      out.set(e.payload.key, {
        asked: out.get(e.payload.key)?.asked ?? null,
        decided: { approved: e.payload.approved, by: e.payload.by, text: e.payload.text },
      });
    }
  }
  return out;
}
