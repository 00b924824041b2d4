import type { StoredEvent } from '../core/events.ts';
import type { ModelCallRecord } from '../store/calls.ts';
import type { BranchRow, ConversationRow, SessionRow } from '../store/sessions.ts';
import type { Store } from '../store/store.ts';

/** Everything a session's trace is made of, read from the store as every other reader reads the log. */
export interface SessionLog {
  readonly session: SessionRow;
  readonly branches: readonly BranchRow[];
  readonly conversations: readonly ConversationRow[];
  /** The session's events in seq order (entries and every other event). */
  readonly events: readonly StoredEvent[];
  /** The model calls' records: their request parameters and finish reasons are not in the log's events. */
  readonly modelCalls: readonly ModelCallRecord[];
}

const PAGE = 5000;

/** `uptoSeq`: the log as it was at that seq (what an earlier process had seen of the session). */
export function readSessionLog(store: Store, sessionId: string, uptoSeq?: number): SessionLog {
  const session = store.sessions.require(sessionId);
  const events: StoredEvent[] = [];
  // Paged: a long session is read in bounded pieces rather than one statement's whole result at once.
  for (let after = 0; ;) {
    const page = store.log.read(after, { session: session.id }, PAGE, uptoSeq);
    events.push(...page);
    if (page.length < PAGE) break;
    after = page[page.length - 1]!.seq;
  }
  return {
    session,
    branches: store.sessions.branches(session.id),
    conversations: store.sessions.conversations(session.id),
    events,
    modelCalls: store.calls.modelCalls({ session: session.id }),
  };
}
