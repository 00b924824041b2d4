/** Long because sessions, their branches, conversations and heads are one repository: the tables change together. */
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';
import type { SessionOptions, SessionSource, SessionStatus } from '../core/events.ts';
import type { BranchSegment } from './log.ts';
import { UserError, StoreError, unknownIdHint } from '../core/errors.ts';

export interface SessionRow {
  readonly id: string;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly agent: string;
  readonly rootConversation: string;
  readonly headBranch: string;
  readonly title: string;
  readonly source: SessionSource;
  readonly status: SessionStatus;
  readonly statusReason: string | null;
  readonly options: SessionOptions;
  readonly workspace: string;
}

export interface BranchRow {
  readonly id: string;
  readonly session: string;
  readonly parent: string | null;
  readonly forkSeq: number | null;
  readonly label: string | null;
  readonly overrides: Record<string, unknown>;
  readonly createdBy: string;
  readonly createdAt: number;
}

export interface ConversationRow {
  readonly id: string;
  readonly session: string;
  readonly branch: string;
  readonly agent: string;
  readonly parent: string | null;
  readonly parentCallId: string | null;
  readonly depth: number;
  readonly path: string;
  readonly createdAt: number;
}

export interface HeadRow {
  readonly branch: string;
  readonly conversation: string;
  readonly session: string;
  readonly headSeq: number;
  readonly phase: string;
  readonly updatedAt: number;
}

interface SessionDbRow {
  id: string;
  created_at: number;
  updated_at: number;
  agent: string;
  root_conversation: string;
  head_branch: string;
  title: string;
  source: string;
  status: string;
  status_reason: string | null;
  options: string;
  workspace: string;
}

/** Sessions, their branches and conversations, and the per-conversation heads. */
const NO_SESSIONS = 'Start one with: p2tui run <agent> "<message>"';

export class SessionRepository {
  private readonly insertSession: Statement;
  private readonly selectSession: Statement;
  private readonly updateStatus: Statement;
  private readonly insertBranch: Statement;
  private readonly segmentCache = new Map<
    string,
    { readonly afterSeq: number; readonly ancestors: readonly BranchSegment[] }
  >();
  private readonly selectBranch: Statement;
  /** Prepared on first use (checkouts and segment reads are rare next to steps). */
  private updateHead: Statement | undefined;
  private selectSegmentsJson: Statement | undefined;
  private readonly selectSegments: Statement;
  private readonly insertSegment: Statement;
  private readonly insertConversation: Statement;
  private readonly selectConversations: Statement;
  private readonly selectConversation: Statement;
  private readonly upsertHead: Statement;
  private readonly selectHeads: Statement;

  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
    this.insertSession = db.prepare(
      `INSERT INTO sessions (id, created_at, updated_at, agent, root_conversation, head_branch, title, source, status, options, workspace)
       VALUES (@id, @createdAt, @createdAt, @agent, @rootConversation, @headBranch, @title, @source, @status, @options, @workspace)`,
    );
    this.selectSession = db.prepare('SELECT * FROM sessions WHERE id = ?');
    this.updateStatus = db.prepare('UPDATE sessions SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?');
    this.insertBranch = db.prepare(
      `INSERT INTO branches (id, session_id, parent_id, fork_seq, label, overrides, created_by, created_at, segments)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selectBranch = db.prepare('SELECT * FROM branches WHERE id = ?');
    this.selectSegments = db.prepare('SELECT ancestor_id, max_seq FROM branch_segments WHERE branch_id = ?');
    this.insertSegment = db.prepare('INSERT INTO branch_segments (branch_id, ancestor_id, max_seq) VALUES (?, ?, ?)');
    this.insertConversation = db.prepare(
      `INSERT INTO conversations (id, session_id, branch_id, agent, parent_id, parent_call_id, depth, path, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selectConversations = db.prepare(
      'SELECT * FROM conversations WHERE session_id = ? ORDER BY created_at, rowid',
    );
    this.selectConversation = db.prepare('SELECT * FROM conversations WHERE id = ?');
    this.upsertHead = db.prepare(
      `INSERT INTO heads (branch_id, conversation_id, session_id, head_seq, phase, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (branch_id, conversation_id) DO UPDATE SET head_seq = excluded.head_seq, phase = excluded.phase, updated_at = excluded.updated_at`,
    );
    this.selectHeads = db.prepare('SELECT * FROM heads WHERE session_id = ? AND branch_id = ?');
  }

  createSession(row: Omit<SessionRow, 'updatedAt' | 'statusReason'>): void {
    this.insertSession.run({ ...row, options: JSON.stringify(row.options) });
  }

  get(id: string): SessionRow | undefined {
    const row = this.selectSession.get(id) as SessionDbRow | undefined;
    return row === undefined ? undefined : toSession(row);
  }

  require(id: string): SessionRow {
    const row = this.get(id);
    if (row === undefined) {
      throw new UserError('E_UNKNOWN_SESSION', `no session '${id}' in this database`, { hint: this.unknownHint(id) });
    }
    return row;
  }

  setOptions(id: string, options: SessionOptions): void {
    this.db.prepare('UPDATE sessions SET options = ? WHERE id = ?').run(JSON.stringify(options), id);
  }

  setStatus(id: string, status: SessionStatus, reason: string | null, now: number): void {
    this.updateStatus.run(status, reason, now, id);
  }

  /**
   * Sessions newest first. `cells: false` leaves out rollout cell sessions (source 'rollout'): a few rollouts make
   * dozens of them, which would bury the sessions a user started.
   */
  list(options: { limit?: number; status?: SessionStatus; cells?: boolean } = {}): SessionRow[] {
    const limit = Math.max(1, Math.floor(options.limit ?? 50));
    const { where, params } = sessionFilter(options);
    const rows = this.db
      .prepare(`SELECT * FROM sessions ${where} ORDER BY created_at DESC, rowid DESC LIMIT ${limit}`)
      .all(...params);
    return (rows as SessionDbRow[]).map(toSession);
  }

  /** How many rollout cell sessions there are (in this status, if given): what `list({ cells: false })` hides. */
  countCells(options: { status?: SessionStatus } = {}): number {
    const { where, params } = sessionFilter({ ...options, onlyCells: true });
    return (this.db.prepare(`SELECT count(*) AS n FROM sessions ${where}`).get(...params) as { n: number }).n;
  }

  /** Resolves a full id, a unique prefix, or `last` (the newest session that is not a rollout cell). */
  resolve(ref: string): SessionRow {
    if (ref === 'last' || ref === '@last') {
      const newest = this.list({ limit: 1, cells: false })[0];
      if (newest === undefined) {
        const cells = this.countCells();
        const hint = '"last" skips rollout cells: name a cell session by id (p2tui session list --cells)';
        if (cells === 0) throw new UserError('E_UNKNOWN_SESSION', 'there are no sessions yet', { hint: NO_SESSIONS });
        throw new UserError('E_UNKNOWN_SESSION', `there are no sessions yet besides ${cells} rollout cell sessions`, {
          hint,
        });
      }
      return newest;
    }
    const exact = this.get(ref);
    if (exact !== undefined) return exact;
    const matches = this.db
      .prepare("SELECT * FROM sessions WHERE id LIKE ? ESCAPE '\\' ORDER BY created_at DESC LIMIT 5")
      .all(`${ref.replace(/[\\%_]/g, (c) => `\\${c}`)}%`) as SessionDbRow[];
    if (matches.length === 1) return toSession(matches[0]!);
    if (matches.length > 1) {
      throw new UserError(
        'E_AMBIGUOUS_ID',
        `'${ref}' matches several sessions: ${matches.map((m) => m.id).join(', ')}`,
        {
          hint: 'Give more characters of the id.',
        },
      );
    }
    throw new UserError('E_UNKNOWN_SESSION', `no session '${ref}' in this database`, { hint: this.unknownHint(ref) });
  }

  /** What to say of a session id that names nothing: the nearest id, else the latest ones (newest first). */
  private unknownHint(ref: string): string {
    const ids = (
      this.db.prepare('SELECT id FROM sessions ORDER BY created_at DESC, rowid DESC LIMIT 1000').all() as {
        id: string;
      }[]
    ).map((r) => r.id);
    return unknownIdHint(ref, ids, 'p2tui session list');
  }

  /** Sessions still marked running or waiting whose driver may be gone. */
  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM sessions').get() as { n: number }).n;
  }

  /** Sessions at rest (not running) whose last change is older than `cutoff`, oldest first: what a prune deletes. */
  restingSince(cutoff: number): { id: string; status: SessionStatus }[] {
    return this.db
      .prepare("SELECT id, status FROM sessions WHERE updated_at < ? AND status NOT IN ('running') ORDER BY created_at")
      .all(cutoff) as { id: string; status: SessionStatus }[];
  }

  unfinished(): SessionRow[] {
    return (
      this.db
        .prepare("SELECT * FROM sessions WHERE status IN ('running', 'waiting') ORDER BY created_at")
        .all() as SessionDbRow[]
    ).map(toSession);
  }

  /** Forgets cached segments (after a session is deleted or imported: its seqs may mean something else now). */
  forgetSegments(): void {
    this.segmentCache.clear();
  }

  /** Every branch of a session, oldest first. */
  branches(session: string): BranchRow[] {
    const rows = this.db
      .prepare('SELECT id FROM branches WHERE session_id = ? ORDER BY created_at, rowid')
      .all(session) as { id: string }[];
    return rows.map((r) => this.branch(r.id)!);
  }

  /** Makes a branch the session's checked-out one (what readers show and what a resume drives). */
  checkout(session: string, branch: string, now: number): void {
    (this.updateHead ??= this.db.prepare('UPDATE sessions SET head_branch = ?, updated_at = ? WHERE id = ?')).run(
      branch,
      now,
      session,
    );
  }

  /**
   * One row whatever the depth, and whatever the nesting: a fork's segments follow from its parent's and its fork
   * point, so the row stores none (NULL) and readers derive them (`segments`). `segments` here is what they derive
   * to, kept in the cache.
   */
  createBranch(row: BranchRow, segments: readonly BranchSegment[]): void {
    const stored = segments.map((s) => ({
      branch: s.branch,
      maxSeq: s.maxSeq,
      ...(s.afterSeq === undefined ? {} : { afterSeq: s.afterSeq }),
    }));
    this.insertBranch.run(
      row.id,
      row.session,
      row.parent,
      row.forkSeq,
      row.label,
      JSON.stringify(row.overrides),
      row.createdBy,
      row.createdAt,
      null,
    );
    this.segmentCache.set(row.id, { afterSeq: row.forkSeq ?? 0, ancestors: stored });
  }

  branch(id: string): BranchRow | undefined {
    const row = this.selectBranch.get(id) as
      | {
          id: string;
          session_id: string;
          parent_id: string | null;
          fork_seq: number | null;
          label: string | null;
          overrides: string;
          created_by: string;
          created_at: number;
        }
      | undefined;
    if (row === undefined) return undefined;
    return {
      id: row.id,
      session: row.session_id,
      parent: row.parent_id,
      forkSeq: row.fork_seq,
      label: row.label,
      overrides: JSON.parse(row.overrides) as Record<string, unknown>,
      createdBy: row.created_by,
      createdAt: row.created_at,
    };
  }

  /** The segments that make up a branch's visible history: its own entries, then each ancestor's prefix. */
  segments(branchId: string): BranchSegment[] {
    const cached = this.segmentCache.get(branchId) ?? this.loadSegments(branchId);
    return [{ branch: branchId, maxSeq: Infinity, afterSeq: cached.afterSeq }, ...cached.ancestors];
  }

  /**
   * Reads a branch's segments (branches never change once made, so once per process). Three layouts: a JSON value
   * in the row (version 2), rows of branch_segments (version 1), or nothing stored: derived from the parent's
   * segments cut at the fork point (version 3). The chain of parents is walked without recursion.
   */
  private loadSegments(branchId: string): { readonly afterSeq: number; readonly ancestors: readonly BranchSegment[] } {
    const select = (this.selectSegmentsJson ??= this.db.prepare(
      'SELECT segments, fork_seq, parent_id FROM branches WHERE id = ?',
    ));
    type Row = { segments: string | null; fork_seq: number | null; parent_id: string | null };
    // Up the chain to a branch whose segments are known (cached, stored, or a root).
    const chain: { id: string; row: Row }[] = [];
    let base: { readonly afterSeq: number; readonly ancestors: readonly BranchSegment[] } | undefined;
    for (let id: string | null = branchId; id !== null;) {
      const known = this.segmentCache.get(id);
      if (known !== undefined) {
        base = known;
        break;
      }
      const row = select.get(id) as Row | undefined;
      if (row === undefined) {
        base = { afterSeq: 0, ancestors: [] };
        break;
      }
      const stored =
        row.segments !== null ? (JSON.parse(row.segments) as BranchSegment[]) : row.parent_id === null ? [] : undefined;
      const rows =
        stored === undefined ? (this.selectSegments.all(id) as { ancestor_id: string; max_seq: number }[]) : [];
      if (stored !== undefined || rows.length > 0) {
        base = {
          afterSeq: row.fork_seq ?? 0,
          ancestors: stored ?? rows.map((r) => ({ branch: r.ancestor_id, maxSeq: r.max_seq })),
        };
        this.segmentCache.set(id, base);
        break;
      }
      chain.push({ id, row });
      id = row.parent_id;
    }
    // Down again: each branch sees its parent (all of it, from after the parent's own fork point) cut at its fork.
    let parentId = chain.length === 0 ? branchId : (chain.at(-1)!.row.parent_id ?? branchId);
    let parent = base ?? { afterSeq: 0, ancestors: [] };
    for (let i = chain.length - 1; i >= 0; i--) {
      const { id, row } = chain[i]!;
      const cut = row.fork_seq ?? Infinity;
      const full: BranchSegment[] = [
        { branch: parentId, maxSeq: Infinity, afterSeq: parent.afterSeq },
        ...parent.ancestors,
      ];
      const derived = {
        afterSeq: row.fork_seq ?? 0,
        ancestors: full.map((s) => ({ ...s, maxSeq: Math.min(s.maxSeq, cut) })),
      };
      this.segmentCache.set(id, derived);
      parentId = id;
      parent = derived;
    }
    return this.segmentCache.get(branchId) ?? parent;
  }

  createConversation(row: ConversationRow): void {
    this.insertConversation.run(
      row.id,
      row.session,
      row.branch,
      row.agent,
      row.parent,
      row.parentCallId,
      row.depth,
      row.path,
      row.createdAt,
    );
  }

  conversations(session: string): ConversationRow[] {
    return (this.selectConversations.all(session) as ConversationDbRow[]).map(toConversation);
  }

  conversation(id: string): ConversationRow | undefined {
    const row = this.selectConversation.get(id) as ConversationDbRow | undefined;
    return row === undefined ? undefined : toConversation(row);
  }

  setHead(head: HeadRow): void {
    this.upsertHead.run(head.branch, head.conversation, head.session, head.headSeq, head.phase, head.updatedAt);
  }

  heads(session: string, branch: string): HeadRow[] {
    return (
      this.selectHeads.all(session, branch) as {
        branch_id: string;
        conversation_id: string;
        session_id: string;
        head_seq: number;
        phase: string;
        updated_at: number;
      }[]
    ).map((r) => ({
      branch: r.branch_id,
      conversation: r.conversation_id,
      session: r.session_id,
      headSeq: r.head_seq,
      phase: r.phase,
      updatedAt: r.updated_at,
    }));
  }
}

interface ConversationDbRow {
  id: string;
  session_id: string;
  branch_id: string;
  agent: string;
  parent_id: string | null;
  parent_call_id: string | null;
  depth: number;
  path: string;
  created_at: number;
}

function toConversation(row: ConversationDbRow): ConversationRow {
  return {
    id: row.id,
    session: row.session_id,
    branch: row.branch_id,
    agent: row.agent,
    parent: row.parent_id,
    parentCallId: row.parent_call_id,
    depth: row.depth,
    path: row.path,
    createdAt: row.created_at,
  };
}

function toSession(row: SessionDbRow): SessionRow {
  let options: SessionOptions;
  try {
    options = JSON.parse(row.options) as SessionOptions;
  } catch (error) {
    throw new StoreError('E_DB_CORRUPT', `session ${row.id} has unreadable options`, { cause: error });
  }
  return {
    id: row.id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    agent: row.agent,
    rootConversation: row.root_conversation,
    headBranch: row.head_branch,
    title: row.title,
    source: row.source as SessionSource,
    status: row.status as SessionStatus,
    statusReason: row.status_reason,
    options,
    workspace: row.workspace,
  };
}

/** The WHERE clause of a sessions query: a status, and rollout cell sessions left out (or only those). */
function sessionFilter(o: { status?: SessionStatus; cells?: boolean; onlyCells?: boolean }): {
  where: string;
  params: string[];
} {
  const clauses = o.status === undefined ? [] : ['status = ?'];
  if (o.onlyCells === true || o.cells === false)
    clauses.push(o.onlyCells === true ? "source = 'rollout'" : "source <> 'rollout'");
  return {
    where: clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`,
    params: o.status === undefined ? [] : [o.status],
  };
}
