// Long because one class opens every repository and holds the write queue (group commit, savepoints, listeners).
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  assertWritable,
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
import { SnapshotRepository } from './snapshots.ts';
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
  readonly snapshots: SnapshotRepository;

  private pending: StoredEvent[] = [];
  private heads: HeadRow[] = [];
  private sql: Record<'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo', Statement> | undefined;
  private readonly listeners = new Set<(events: readonly StoredEvent[]) => void>();
  private queue: QueuedWrite[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly checkpointer: WalCheckpointer | undefined;
  private commits = 0;
  /** Whether an exclusive transaction (see exclusive) is open: checked first, so other commits pay nothing more. */
  private held = false;
  /** The async context of the exclusive transaction that is open (its commits run inside it, at once). */
  private readonly inside = new AsyncLocalStorage<object>();
  /** Which exclusive transaction is open (a timer an earlier one left behind is not inside this one). */
  private token: object = {};
  /** Exclusive transactions run one after another: the tail of those waiting. */
  private exclusiveTail: Promise<unknown> = Promise.resolve();
  /** Sync writes from outside the exclusive transaction that joined it: written again on their own if it rolls back. */
  private joined: (() => unknown)[] = [];
  private readonly rollbackListeners = new Set<() => void>();

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
    this.snapshots = new SnapshotRepository(this.db);
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
    if (this.db.inTransaction) {
      // Elsewhere in this process while an exclusive transaction awaits (a lease's heartbeat): it cannot wait, so it
      // joins, and is written again on its own should that transaction roll back.
      if (this.held && this.inside.getStore() !== this.token) {
        const value = this.db.transaction(fn)();
        this.joined.push(fn);
        return value;
      }
      return this.db.transaction(fn)();
    }
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
    // Inside the exclusive transaction: now, in a savepoint of it (its caller awaits it before going on).
    if (this.held && this.inside.getStore() === this.token) return this.inExclusive(fn);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Runs `fn` (asynchronous: the embedded ledger's payments) in one immediate transaction that holds across its
   * awaits: nothing of it is visible until all of it commits, and a failure anywhere rolls all of it back (then the
   * rollback listeners hear of it). Its `commit()` calls run at once in savepoints of it, its sync writes join it;
   * commits from elsewhere in the process wait until it ends. Exclusive transactions run one at a time. Keep `fn`
   * to the store's own work: another process waits (busy timeout) for as long as it holds.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.held && this.inside.getStore() === this.token) return fn();
    const run = this.exclusiveTail.then(
      () => this.runExclusive(fn),
      () => this.runExclusive(fn),
    );
    this.exclusiveTail = run.catch(() => undefined);
    return run;
  }

  /** Called when an exclusive transaction rolled back (what a cache learned inside it may be gone). */
  onRollback(listener: () => void): () => void {
    this.rollbackListeners.add(listener);
    return () => this.rollbackListeners.delete(listener);
  }

  private async runExclusive<T>(fn: () => Promise<T>): Promise<T> {
    // Writes already queued go first, in their own transaction.
    if (this.queue.length > 0) this.flush();
    const sql = this.statements();
    try {
      sql.begin.run();
    } catch (error) {
      throw translateSqliteError(error, this.path);
    }
    this.held = true;
    this.token = {};
    this.joined = [];
    let result: T;
    try {
      result = await this.inside.run(this.token, fn);
      this.writeHeads();
      sql.commit.run();
    } catch (error) {
      try {
        if (this.db.inTransaction) sql.rollback.run();
      } catch {
        // SQLite abandoned it already (disk full, I/O error): rolled back either way.
      }
      this.pending = [];
      this.heads = [];
      this.held = false;
      const joined = this.joined;
      this.joined = [];
      for (const listener of this.rollbackListeners) listener();
      for (const write of joined) {
        try {
          this.write(write);
        } catch {
          // As a write of its own, it may fail as it could have then (a lease lost meanwhile): its caller has gone on.
        }
      }
      this.resumeQueue();
      throw translateSqliteError(error, this.path);
    }
    this.held = false;
    this.joined = [];
    this.committed();
    this.publishPending();
    this.resumeQueue();
    return result;
  }

  /** A commit inside the exclusive transaction: its own savepoint, so a refused one rolls back alone. */
  private inExclusive<T>(fn: () => T): Promise<T> {
    const sql = this.statements();
    const mark = this.pending.length;
    const headMark = this.heads.length;
    sql.savepoint.run();
    try {
      const value = fn();
      sql.release.run();
      return Promise.resolve(value);
    } catch (error) {
      this.pending.length = mark;
      this.heads.length = headMark;
      try {
        sql.rollbackTo.run();
        sql.release.run();
      } catch {
        // The whole transaction is gone (SQLite abandoned it): the exclusive transaction fails at its COMMIT.
      }
      return Promise.reject(translateSqliteError(error, this.path));
    }
  }

  /** Commits queued while an exclusive transaction held go now. */
  private resumeQueue(): void {
    if (this.queue.length > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
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

  /** Throws E_DB_READONLY unless SQLite can really write the file (see assertWritable in database.ts). */
  assertWritable(): void {
    assertWritable(this.db, this.path);
  }

  /** Copies the WAL into the database file and truncates it (what is on disk is then the whole database). */
  checkpoint(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** Gives the space freed by deletions back to the file system (rewrites the file: not inside a write). */
  vacuum(): void {
    this.checkpoint();
    this.db.exec('VACUUM');
    // VACUUM writes into the WAL: copied back and truncated, so the space is freed now and the file's size is true.
    this.checkpoint();
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
    // Held by an exclusive transaction: the batch waits for its end (see resumeQueue).
    if (this.held) return;
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
      return this.abandon(batch, error);
    }
    for (const item of batch) {
      // A savepoint per write, by hand: better-sqlite3's nested transaction() allocates wrappers on every call. A write
      // alone (a session stepping by itself) needs none: its failure rolls back the transaction, all of it is its own.
      const mark = this.pending.length;
      const headMark = this.heads.length;
      if (batch.length > 1) sql.savepoint.run();
      try {
        outcomes.push({ ok: true, value: item.fn() });
        if (batch.length > 1) sql.release.run();
      } catch (error) {
        if (batch.length === 1) return this.abandon(batch, error);
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
