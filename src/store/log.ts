import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';
import type { Entry, EntryKind } from '../core/entries.ts';
import { EVENT_VERSION, type EventDraft, type EventFilter, type StoredEvent } from '../core/events.ts';
import { nextEventId } from '../core/ids.ts';

interface EventRow {
  seq: number;
  id: string;
  ts: number;
  v: number;
  type: string;
  kind: string | null;
  session_id: string | null;
  branch_id: string | null;
  conversation_id: string | null;
  payload: string;
}

/** A visible slice of one ancestor branch: its entries up to maxSeq (Infinity for the branch itself). */
export interface BranchSegment {
  readonly branch: string;
  readonly maxSeq: number;
  /**
   * Every entry of this branch has a larger seq (its fork point): bounds the index scans, so looking up a branch
   * that has no entry in a range costs nothing however long the session. Absent on older rows (then 0).
   */
  readonly afterSeq?: number;
}

/** The append-only log: one table, its rowid is the global seq. */
export class EventLog {
  private readonly insert: Statement;
  private readonly byId: Statement;
  private readonly maxSeq: Statement;
  private readonly maxSeqOf: Statement;
  private readonly selectCache = new Map<string, Statement>();

  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
    this.insert = db.prepare(
      'INSERT INTO events (id, ts, v, type, kind, session_id, branch_id, conversation_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.byId = db.prepare('SELECT * FROM events WHERE id = ?');
    this.maxSeq = db.prepare('SELECT coalesce(max(seq), 0) AS seq FROM events');
    this.maxSeqOf = db.prepare('SELECT coalesce(max(seq), 0) AS seq FROM events WHERE session_id = ?');
  }

  /** Appends one event; must run inside a write transaction. */
  append(draft: EventDraft, ts: number, id: string = nextEventId()): StoredEvent {
    const payload = JSON.stringify(draft.payload);
    const kind = draft.type === 'entry' ? draft.kind : null;
    const info = this.insert.run(
      id,
      ts,
      EVENT_VERSION,
      draft.type,
      kind,
      draft.session,
      draft.branch,
      draft.conversation,
      payload,
    );
    return {
      seq: Number(info.lastInsertRowid),
      id,
      ts,
      v: EVENT_VERSION,
      type: draft.type,
      kind,
      session: draft.session,
      branch: draft.branch,
      conversation: draft.conversation,
      payload: draft.payload,
    } as StoredEvent;
  }

  lastSeq(): number {
    return (this.maxSeq.get() as { seq: number }).seq;
  }

  /** The newest seq of one session's events (0 when it has none). */
  lastSeqOf(session: string): number {
    return (this.maxSeqOf.get(session) as { seq: number }).seq;
  }

  get(id: string): StoredEvent | undefined {
    const row = this.byId.get(id) as EventRow | undefined;
    return row === undefined ? undefined : toEvent(row);
  }

  /** Events after `afterSeq` in seq order, filtered in SQL where an index helps. */
  read(afterSeq: number, filter: EventFilter = {}, limit = 1000, uptoSeq?: number): StoredEvent[] {
    const { where, params } = whereOf(filter);
    where.unshift('seq > ?');
    params.unshift(afterSeq);
    if (uptoSeq !== undefined) {
      where.push('seq <= ?');
      params.push(uptoSeq);
    }
    const sql = `SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ${Math.max(1, Math.floor(limit))}`;
    return (this.statement(sql).all(...params) as EventRow[]).map(toEvent);
  }

  /** The seq just before the newest `count` matching events (0 when there are fewer), for "tail -n". */
  seqBeforeNewest(filter: EventFilter, count: number): number {
    const { where, params } = whereOf(filter);
    const clause = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
    const offset = Math.max(0, Math.floor(count) - 1);
    const sql = `SELECT seq FROM events ${clause} ORDER BY seq DESC LIMIT 1 OFFSET ${offset}`;
    const row = this.statement(sql).get(...params) as { seq: number } | undefined;
    return row === undefined ? 0 : row.seq - 1;
  }

  /** The newest recorded outcome of a compensation of the call with idempotency key `key` in `session`. */
  lastCompensation(session: string, key: string): 'started' | 'ok' | 'error' | undefined {
    const row = this.statement(
      "SELECT json_extract(payload, '$.status') AS status FROM events " +
        "WHERE session_id = ? AND type = 'effect.compensated' AND json_extract(payload, '$.key') = ? " +
        'ORDER BY seq DESC LIMIT 1',
    ).get(session, key) as { status: 'started' | 'ok' | 'error' } | undefined;
    return row?.status;
  }

  private statement(sql: string): Statement {
    let statement = this.selectCache.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.selectCache.set(sql, statement);
    }
    return statement;
  }

  /**
   * The newest entry seq visible on a branch (0 when none). Segments are read newest first (an ancestor's part of
   * a branch is older than everything after its fork point), so this usually costs one index lookup.
   */
  newestVisibleSeq(session: string, segments: readonly BranchSegment[]): number {
    const byAge = [...segments].sort((a, b) => b.maxSeq - a.maxSeq);
    const bounded = this.statement(
      "SELECT max(seq) AS seq FROM events WHERE session_id = ? AND branch_id = ? AND type = 'entry' AND seq > ? AND seq <= ?",
    );
    for (const s of byAge) {
      const after = s.afterSeq ?? 0;
      if (s.maxSeq <= after) continue;
      const row = bounded.get(
        session,
        s.branch,
        after,
        Number.isFinite(s.maxSeq) ? s.maxSeq : Number.MAX_SAFE_INTEGER,
      ) as { seq: number | null };
      if (row.seq !== null) return row.seq;
    }
    return 0;
  }

  /** Visible entries of a branch after `afterSeq` (a range scan from there, however long the history before it). */
  visibleEntriesAfter(session: string, segments: readonly BranchSegment[], afterSeq: number): Entry[] {
    const sees = visibility(segments);
    const rows = this.statement(
      "SELECT * FROM events WHERE session_id = ? AND seq > ? AND type = 'entry' ORDER BY seq",
    ).all(session, afterSeq) as EventRow[];
    return rows.filter((r) => sees(r.branch_id, r.seq)).map((row) => toEntry(row));
  }

  /** Ids of the model calls a branch's history holds (from the log's model.call events, cut like its entries). */
  visibleModelCallIds(session: string, segments: readonly BranchSegment[]): Set<string> {
    const sees = visibility(segments);
    const rows = this.statement(
      "SELECT branch_id AS branch, seq, json_extract(payload, '$.id') AS id FROM events WHERE session_id = ? AND type = 'model.call'",
    ).all(session) as {
      branch: string | null;
      seq: number;
      id: string;
    }[];
    return new Set(rows.filter((r) => sees(r.branch, r.seq)).map((r) => r.id));
  }

  /** Successful model calls per conversation visible on a branch (from the log's model.call events). */
  modelCallCounts(session: string, segments: readonly BranchSegment[]): Map<string, number> {
    return new Map(
      [...this.modelCallSeqs(session, segments)].map(([conversation, seqs]) => [conversation, seqs.length]),
    );
  }

  /** The seqs of each conversation's successful model calls visible on a branch, in order. */
  modelCallSeqs(session: string, segments: readonly BranchSegment[]): Map<string, number[]> {
    const sees = visibility(segments);
    const rows = this.statement(
      'SELECT conversation_id AS conversation, branch_id AS branch, seq FROM events ' +
        "WHERE session_id = ? AND type = 'model.call' AND json_extract(payload, '$.status') = 'ok' ORDER BY seq",
    ).all(session) as { conversation: string; branch: string | null; seq: number }[];
    const seqs = new Map<string, number[]>();
    for (const r of rows) {
      if (!sees(r.branch, r.seq)) continue;
      const list = seqs.get(r.conversation);
      if (list === undefined) seqs.set(r.conversation, [r.seq]);
      else list.push(r.seq);
    }
    return seqs;
  }

  /** Ids of the entries `visibleEntries` gives, without reading their payloads (what a replay checks results by). */
  visibleEntryIds(session: string, segments: readonly BranchSegment[]): Set<string> {
    const sees = visibility(segments);
    const rows = this.statement(
      "SELECT id, branch_id AS branch, seq FROM events WHERE session_id = ? AND type = 'entry'",
    ).all(session) as { id: string; branch: string | null; seq: number }[];
    const ids = new Set<string>();
    for (const r of rows) if (sees(r.branch, r.seq)) ids.add(r.id);
    return ids;
  }

  /**
   * The entries of a session visible on a branch: the branch's own, plus each ancestor's up to its segment's
   * maxSeq. One query whatever the depth of the branch tree.
   */
  visibleEntries(session: string, segments: readonly BranchSegment[]): Entry[] {
    const sees = visibility(segments);
    const rows = this.statement("SELECT * FROM events WHERE session_id = ? AND type = 'entry' ORDER BY seq").all(
      session,
    ) as EventRow[];
    return rows.filter((r) => sees(r.branch_id, r.seq)).map((row) => toEntry(row));
  }
}

/**
 * Whether an event is in a branch's history: on one of its segments' branches, at or before that segment's seq.
 * One index range over the session's events, filtered here: linear in the session whatever the number of
 * ancestors (an OR of one SQL clause per segment hits SQLite's expression depth limit after ~1,000 nested forks).
 */
function visibility(segments: readonly BranchSegment[]): (branch: string | null, seq: number) => boolean {
  const limit = new Map(segments.map((s) => [s.branch, s.maxSeq]));
  return (branch, seq) => branch !== null && seq <= (limit.get(branch) ?? -1);
}

function whereOf(filter: EventFilter): { where: string[]; params: (string | number)[] } {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (filter.session !== undefined) {
    where.push('session_id = ?');
    params.push(filter.session);
  }
  if (filter.conversation !== undefined) {
    where.push('conversation_id = ?');
    params.push(filter.conversation);
  }
  if (filter.types !== undefined && filter.types.length > 0) {
    where.push(`type IN (${filter.types.map(() => '?').join(',')})`);
    params.push(...filter.types);
  }
  if (filter.kinds !== undefined && filter.kinds.length > 0) {
    where.push(`kind IN (${filter.kinds.map(() => '?').join(',')})`);
    params.push(...filter.kinds);
  }
  return { where, params };
}

function toEvent(row: EventRow): StoredEvent {
  return {
    seq: row.seq,
    id: row.id,
    ts: row.ts,
    v: row.v,
    type: row.type,
    kind: row.kind,
    session: row.session_id,
    branch: row.branch_id,
    conversation: row.conversation_id,
    payload: JSON.parse(row.payload) as unknown,
  } as StoredEvent;
}

function toEntry(row: EventRow): Entry {
  return {
    id: row.id,
    seq: row.seq,
    ts: row.ts,
    session: row.session_id ?? '',
    branch: row.branch_id ?? '',
    conversation: row.conversation_id ?? '',
    kind: row.kind as EntryKind,
    payload: JSON.parse(row.payload) as unknown,
  } as Entry;
}

/** An entry event as an Entry (the stack view of the same row). */
export function entryOf(event: StoredEvent): Entry | undefined {
  if (event.type !== 'entry') return undefined;
  return {
    id: event.id,
    seq: event.seq,
    ts: event.ts,
    session: event.session ?? '',
    branch: event.branch ?? '',
    conversation: event.conversation ?? '',
    kind: event.kind,
    payload: event.payload,
  } as Entry;
}
