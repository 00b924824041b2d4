import {
  durabilityOf,
  openDatabase,
  translateSqliteError,
  type Db,
  type Durability,
  type OpenOptions,
} from './database.ts';
import { EventLog } from './log.ts';
import { SessionRepository } from './sessions.ts';
import { CallRepository } from './calls.ts';
import { ArtifactRepository } from './artifacts.ts';
import { ScoreRepository } from './scores.ts';
import { WalCheckpointer } from './checkpointer.ts';
import { LeaseRepository, ToolCacheRepository } from './leases.ts';
import { RolloutRepository } from './rollouts.ts';
import { LedgerRepository } from './ledger.ts';
import { BundleRepository } from './bundles.ts';
import { McpListingRepository } from './mcp.ts';
import type { Statement } from 'better-sqlite3';
import type { EventDraft, StoredEvent } from '../core/events.ts';
import { StoreError, messageOf } from '../core/errors.ts';
import type { HeadRow } from './sessions.ts';

interface QueuedWrite {
  readonly fn: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The SQLite store. Every write is a `BEGIN IMMEDIATE` transaction (waiting up to the busy timeout for another
 * process); events appended inside it reach the commit listeners (the bus) only after COMMIT, so no reader ever
 * sees an event that was rolled back.
 *
 * `commit()` is group commit: writes submitted in the same turn of the event loop share one transaction, each in
 * its own savepoint so one failing write (a lost lease, say) does not undo the others.
 */
export class Store {
  private readonly db: Db;
  readonly path: string;
  readonly log: EventLog;
  readonly sessions: SessionRepository;
  readonly calls: CallRepository;
  readonly artifacts: ArtifactRepository;
  readonly scores: ScoreRepository;
  readonly leases: LeaseRepository;
  readonly toolCache: ToolCacheRepository;
  readonly rollouts: RolloutRepository;
  /** The embedded ledger's tables. */
  readonly ledger: LedgerRepository;
  /** Sessions moved between databases (export, import) and removed. */
  readonly bundles: BundleRepository;
  /** The MCP tool listings sessions started with (replays build those tools from them). */
  readonly mcp: McpListingRepository;

  private pending: StoredEvent[] = [];
  private heads: HeadRow[] = [];
  private sql: Record<'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo', Statement> | undefined;
  private readonly listeners = new Set<(events: readonly StoredEvent[]) => void>();
  private queue: QueuedWrite[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly checkpointer: WalCheckpointer | undefined;
  private commits = 0;

  /** Switches this connection's durability (p2tui.yaml's `durability`, unless P2TUI_DURABILITY says otherwise). */
  setDurability(mode: Durability): void {
    this.db.pragma(`synchronous = ${durabilityOf(mode) === 'full' ? 'FULL' : 'NORMAL'}`);
  }

  constructor(options: OpenOptions) {
    this.path = options.path;
    this.db = openDatabase(options);
    this.log = new EventLog(this.db);
    this.sessions = new SessionRepository(this.db);
    this.calls = new CallRepository(this.db);
    this.artifacts = new ArtifactRepository(this.db);
    this.scores = new ScoreRepository(this.db);
    this.leases = new LeaseRepository(this.db);
    this.toolCache = new ToolCacheRepository(this.db);
    this.rollouts = new RolloutRepository(this.db);
    this.ledger = new LedgerRepository(this.db);
    this.mcp = new McpListingRepository(this.db);
    this.bundles = new BundleRepository(this.db, this.sessions, this.mcp, (fn) => this.write(fn));
    this.checkpointer = options.path === ':memory:' ? undefined : new WalCheckpointer(options.path);
  }

  /** Appends an event to the log; only valid inside `write` or `commit`. */
  append(draft: EventDraft, ts: number, id?: string): StoredEvent {
    const event = this.log.append(draft, ts, id);
    this.pending.push(event);
    return event;
  }

  /** Runs `fn` in its own immediate transaction now. Nested inside another write, it joins that one. */
  write<T>(fn: () => T): T {
    if (this.db.inTransaction) return this.db.transaction(fn)();
    let result: T;
    try {
      result = this.db
        .transaction(() => {
          const value = fn();
          this.writeHeads();
          return value;
        })
        .immediate();
    } catch (error) {
      this.pending = [];
      this.heads = [];
      throw translateSqliteError(error, this.path);
    }
    this.committed();
    this.publishPending();
    return result;
  }

  /** Group commit: resolves after the transaction holding `fn` has committed. */
  commit<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Called with the events of every committed transaction, in seq order. */
  onCommit(listener: (events: readonly StoredEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** What `doctor` reports of the file: its schema version, journal mode and how many sessions it holds. */
  describe(): { schemaVersion: number; journalMode: string; sessions: number } {
    return {
      schemaVersion: Number(this.db.pragma('user_version', { simple: true })),
      journalMode: String(this.db.pragma('journal_mode', { simple: true })),
      sessions: this.sessions.count(),
    };
  }

  /**
   * SQLite's own check of the whole file (`PRAGMA integrity_check`: every page, every index against its table):
   * the problems it reports, at most `limit` of them; empty when the file is sound.
   */
  integrityProblems(limit = 20): string[] {
    let rows: { integrity_check: string }[];
    try {
      rows = this.db.pragma(`integrity_check(${Math.max(1, Math.floor(limit))})`) as { integrity_check: string }[];
    } catch (error) {
      // A file damaged where the check itself starts (the schema's pages) fails the pragma instead of listing.
      const failure = translateSqliteError(error, this.path);
      if (failure instanceof StoreError && failure.code === 'E_DB_CORRUPT') return [messageOf(error)];
      throw failure;
    }
    const problems = rows.map((r) => r.integrity_check);
    return problems.length === 1 && problems[0] === 'ok' ? [] : problems;
  }

  /** Throws E_DB_CORRUPT, naming what SQLite found, unless the integrity check finds the file sound. */
  assertIntact(): void {
    const problems = this.integrityProblems();
    if (problems.length === 0) return;
    throw new StoreError(
      'E_DB_CORRUPT',
      `database ${this.path} is damaged: SQLite's integrity check found ${problems.length === 20 ? '20 or more' : problems.length} ` +
        `problem${problems.length === 1 ? '' : 's'}:\n${problems.slice(0, 5).join('\n')}`,
      {
        hint:
          'Restore the file from a backup, or recover what is readable with: sqlite3 <file> .recover | sqlite3 <new file>; ' +
          'then point --db at the new file.',
      },
    );
  }

  /** Copies the WAL into the database file and truncates it (what is on disk is then the whole database). */
  checkpoint(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** Gives the space freed by deletions back to the file system (rewrites the file: not inside a write). */
  vacuum(): void {
    this.checkpoint();
    this.db.exec('VACUUM');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.queue.length > 0) this.flush();
    this.checkpointer?.close();
    this.db.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    if (!this.db.open) {
      for (const item of batch) item.reject(new StoreError('E_DB_OPEN', 'the store is closed'));
      return;
    }
    const sql = this.statements();
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      sql.begin.run();
    } catch (error) {
      const translated = translateSqliteError(error, this.path);
      for (const item of batch) item.reject(translated);
      return;
    }
    for (const item of batch) {
      // A savepoint per write, by hand: better-sqlite3's nested transaction() allocates wrappers on every call.
      const mark = this.pending.length;
      const headMark = this.heads.length;
      sql.savepoint.run();
      try {
        outcomes.push({ ok: true, value: item.fn() });
        sql.release.run();
      } catch (error) {
        this.pending.length = mark;
        this.heads.length = headMark;
        outcomes.push({ ok: false, value: translateSqliteError(error, this.path) });
        try {
          sql.rollbackTo.run();
          sql.release.run();
        } catch (rollbackError) {
          // SQLite already abandoned the whole transaction (disk full, I/O error): nothing of this batch is stored.
          this.abandon(batch, rollbackError);
          return;
        }
      }
    }
    try {
      this.writeHeads();
      sql.commit.run();
    } catch (error) {
      this.abandon(batch, error);
      return;
    }
    this.committed();
    this.publishPending();
    batch.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.value);
    });
  }

  /** Every few commits, lets the checkpointer look at the WAL's size (a stat call; the copying is elsewhere). */
  private committed(): void {
    if (++this.commits % 8 === 0) this.checkpointer?.poke();
  }

  /** Rolls the whole transaction back (if SQLite has not already) and fails every write of the batch. */
  private abandon(batch: readonly QueuedWrite[], error: unknown): void {
    try {
      if (this.db.inTransaction) this.statements().rollback.run();
    } catch {
      // Nothing more can be done; the transaction is gone either way.
    }
    this.pending = [];
    this.heads = [];
    const translated = translateSqliteError(error, this.path);
    for (const item of batch) item.reject(translated);
  }

  /**
   * Records a conversation's head; written once per transaction, whatever number of writes in it moved the same
   * head (the last one wins).
   */
  setHead(head: HeadRow): void {
    this.heads.push(head);
  }

  private writeHeads(): void {
    if (this.heads.length === 0) return;
    const last = new Map<string, HeadRow>();
    for (const head of this.heads) last.set(`${head.branch}\u0000${head.conversation}`, head);
    this.heads = [];
    for (const head of last.values()) this.sessions.setHead(head);
  }

  private statements(): Record<'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo', Statement> {
    this.sql ??= {
      begin: this.db.prepare('BEGIN IMMEDIATE'),
      commit: this.db.prepare('COMMIT'),
      rollback: this.db.prepare('ROLLBACK'),
      savepoint: this.db.prepare('SAVEPOINT p2tui_write'),
      release: this.db.prepare('RELEASE p2tui_write'),
      rollbackTo: this.db.prepare('ROLLBACK TO p2tui_write'),
    };
    return this.sql;
  }

  private publishPending(): void {
    if (this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    for (const listener of this.listeners) {
      try {
        listener(events);
      } catch {
        // A listener's failure must not undo or block a committed write.
      }
    }
  }
}
