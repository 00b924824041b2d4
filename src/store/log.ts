import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';
import type { Entry, EntryKind } from '../core/entries.ts';
import { EVENT_VERSION, type EventDraft, type EventFilter, type StoredEvent } from '../bus/events.ts';
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
    const info = this.insert.run(id, ts, EVENT_VERSION, draft.type, kind, draft.session, draft.branch, draft.conversation, payload);
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
    const sql = `SELECT seq FROM events ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY seq DESC LIMIT 1 OFFSET ${Math.max(0, Math.floor(count) - 1)}`;
    const row = this.statement(sql).get(...params) as { seq: number } | undefined;
    return row === undefined ? 0 : row.seq - 1;
  }

  private statement(sql: string): Statement {
    let statement = this.selectCache.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.selectCache.set(sql, statement);
    }
    return statement;
  }

  /** Successful model calls per conversation visible on a branch (from the log's model.call events). */
  modelCallCounts(session: string, segments: readonly BranchSegment[]): Map<string, number> {
    const clauses = segments.map((s) => (Number.isFinite(s.maxSeq) ? '(branch_id = ? AND seq <= ?)' : '(branch_id = ?)'));
    const params: (string | number)[] = [session];
    for (const s of segments) {
      params.push(s.branch);
      if (Number.isFinite(s.maxSeq)) params.push(s.maxSeq);
    }
    const rows = this.db
      .prepare(
        `SELECT conversation_id AS conversation, count(*) AS n FROM events WHERE session_id = ? AND type = 'model.call' AND (${clauses.join(' OR ')})
         AND json_extract(payload, '$.status') = 'ok' GROUP BY conversation_id`,
      )
      .all(...params) as { conversation: string; n: number }[];
    return new Map(rows.map((r) => [r.conversation, r.n]));
  }

  /**
   * The entries of a session visible on a branch: the branch's own, plus each ancestor's up to its segment's
   * maxSeq. One query whatever the depth of the branch tree.
   */
  visibleEntries(session: string, segments: readonly BranchSegment[]): Entry[] {
    const clauses = segments.map((s) => (Number.isFinite(s.maxSeq) ? '(branch_id = ? AND seq <= ?)' : '(branch_id = ?)'));
    const params: (string | number)[] = [session];
    for (const s of segments) {
      params.push(s.branch);
      if (Number.isFinite(s.maxSeq)) params.push(s.maxSeq);
    }
    const sql = `SELECT * FROM events WHERE session_id = ? AND type = 'entry' AND (${clauses.join(' OR ')}) ORDER BY seq`;
    return (this.db.prepare(sql).all(...params) as EventRow[]).map((row) => toEntry(row));
  }
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
