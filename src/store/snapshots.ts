import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';

/**
 * Conversation snapshots (schema version 10): derived data, so a process that loads a session does not replay its
 * whole log. The engine (engine/snapshot.ts) decides what a body holds and checks every row against the log before
 * using it; this repository only stores rows and answers the few lookups that check needs.
 */

/** A snapshot without its body: enough to choose one and check it against the log. */
export interface SnapshotMeta {
  readonly conversation: string;
  /** The seq of the conversation's newest entry the snapshot covers, and that entry's id. */
  readonly seq: number;
  readonly entryId: string;
  /** The branch that entry was written on. */
  readonly branch: string;
  /** The seq of the conversation's first entry (a branch that does not see it has no entry of the conversation). */
  readonly firstSeq: number;
  readonly version: number;
}

export interface SnapshotRow extends SnapshotMeta {
  readonly session: string;
  /** sha256 of the body, checked before it is parsed (the body holds the hash of the messages). */
  readonly hash: string;
  readonly body: string;
  /** The transcript's messages as JSON, read when a loaded conversation first needs them. */
  readonly messages: string;
}

/** One event as the checks read it: which entry is at a seq, and where it was written. */
export interface EventAt {
  readonly id: string;
  readonly session: string | null;
  readonly branch: string | null;
  readonly conversation: string | null;
  readonly type: string;
}

/** Rows kept per conversation and branch: the newest, and the one before should the newest be unusable. */
const KEPT_PER_BRANCH = 2;

export class SnapshotRepository {
  private readonly insert: Statement;
  private readonly prune: Statement;
  private readonly metas: Statement;
  private readonly selectBody: Statement;
  private readonly selectMessages: Statement;
  private readonly eventAt: Statement;
  private readonly callsAfter: Statement;

  constructor(db: Db) {
    this.insert = db.prepare(
      'INSERT OR REPLACE INTO conversation_snapshots (conversation_id, seq, session_id, branch_id, entry_id, first_seq, ' +
        'version, hash, body, messages) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.prune = db.prepare(
      'DELETE FROM conversation_snapshots WHERE conversation_id = ? AND branch_id = ? AND seq NOT IN ' +
        '(SELECT seq FROM conversation_snapshots WHERE conversation_id = ? AND branch_id = ? ORDER BY seq DESC LIMIT ?)',
    );
    this.metas = db.prepare(
      'SELECT conversation_id AS conversation, seq, entry_id AS entryId, branch_id AS branch, first_seq AS firstSeq, ' +
        'version FROM conversation_snapshots WHERE session_id = ? ORDER BY conversation_id, seq DESC',
    );
    this.selectBody = db.prepare('SELECT hash, body FROM conversation_snapshots WHERE conversation_id = ? AND seq = ?');
    this.selectMessages = db.prepare(
      'SELECT messages FROM conversation_snapshots WHERE conversation_id = ? AND seq = ?',
    );
    this.eventAt = db.prepare(
      'SELECT id, session_id AS session, branch_id AS branch, conversation_id AS conversation, type FROM events WHERE seq = ?',
    );
    this.callsAfter = db.prepare(
      'SELECT conversation_id AS conversation, branch_id AS branch, seq FROM events WHERE session_id = ? AND seq > ? ' +
        "AND type = 'model.call' AND json_extract(payload, '$.status') = 'ok' ORDER BY seq",
    );
  }

  /** Stores a snapshot and drops that conversation's older ones on the same branch; inside a write. */
  put(row: SnapshotRow): void {
    this.insert.run(
      row.conversation,
      row.seq,
      row.session,
      row.branch,
      row.entryId,
      row.firstSeq,
      row.version,
      row.hash,
      row.body,
      row.messages,
    );
    this.prune.run(row.conversation, row.branch, row.conversation, row.branch, KEPT_PER_BRANCH);
  }

  /** Every snapshot of a session without bodies, per conversation newest first. */
  list(session: string): SnapshotMeta[] {
    return this.metas.all(session) as SnapshotMeta[];
  }

  body(conversation: string, seq: number): Pick<SnapshotRow, 'hash' | 'body'> | undefined {
    return this.selectBody.get(conversation, seq) as Pick<SnapshotRow, 'hash' | 'body'> | undefined;
  }

  messages(conversation: string, seq: number): string | undefined {
    return (this.selectMessages.get(conversation, seq) as { messages: string } | undefined)?.messages;
  }

  /** The event at a seq (one rowid lookup), to check that a snapshot's entry is in the log and where. */
  at(seq: number): EventAt | undefined {
    return this.eventAt.get(seq) as EventAt | undefined;
  }

  /** Successful model calls of a session after a seq, in order (a range of the session's index). */
  modelCallsAfter(session: string, afterSeq: number): { conversation: string; branch: string | null; seq: number }[] {
    return this.callsAfter.all(session, afterSeq) as { conversation: string; branch: string | null; seq: number }[];
  }
}
