import Database from 'better-sqlite3';
import { dirname } from 'node:path';
import { makeFolder } from '../core/folders.ts';
import { StoreError, messageOf, storageFailureOf } from '../core/errors.ts';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from './migrations.ts';

export type Db = Database.Database;

/** 'P2TU' — marks a SQLite file as a p2tui database so a stranger's file is refused rather than migrated. */
export const APPLICATION_ID = 0x50325455;

export interface OpenOptions {
  /** File path, or ':memory:'. */
  readonly path: string;
  /** How long a write waits for another process's write lock before failing with E_DB_LOCKED. */
  readonly busyTimeoutMs?: number;
  readonly appVersion?: string;
  /**
   * normal (default): in WAL, a commit survives a killed process but the last ones may be lost on a power cut or an
   * OS crash. full: every commit is synced to disk first (survives a power cut; slower writes). The environment's
   * P2TUI_DURABILITY overrides it for a process.
   */
  readonly durability?: Durability;
}

export type Durability = 'normal' | 'full';

/** The durability a process uses: P2TUI_DURABILITY when set (normal|full), else the given one, else normal. */
export function durabilityOf(requested: Durability | undefined): Durability {
  const env = process.env['P2TUI_DURABILITY'];
  if (env === 'normal' || env === 'full') return env;
  return requested ?? 'normal';
}

/**
 * Opens (creating if needed) a p2tui database: checks it is ours and not newer than this code, before anything
 * that could modify it, then turns on WAL and applies pending migrations.
 */
export function openDatabase(options: OpenOptions): Db {
  const { path } = options;
  if (path !== ':memory:') {
    try {
      makeFolder(dirname(path));
    } catch (error) {
      throw new StoreError('E_DB_OPEN', `cannot create the folder for database ${path}: ${messageOf(error)}`, {
        hint: 'Check the path and its permissions, or point --db at another file.',
      });
    }
  }
  let db: Db;
  try {
    db = new Database(path);
  } catch (error) {
    throw new StoreError('E_DB_OPEN', `cannot open database ${path}: ${messageOf(error)}`, {
      hint: 'Check the path and its permissions, or point --db at another file.',
    });
  }
  try {
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    // Two processes creating the same new database at once: switching to WAL and migrating can meet a lock that
    // SQLite reports at once instead of waiting on it; retry until the busy timeout is spent.
    retryWhileBusy(busyTimeoutMs, () => checkOwnershipAndVersion(db, path));
    if (path !== ':memory:') {
      const mode = retryWhileBusy(busyTimeoutMs, () => String(db.pragma('journal_mode = WAL', { simple: true })));
      if (mode.toLowerCase() !== 'wal') {
        throw new StoreError('E_DB_OPEN', `database ${path} could not switch to WAL mode (it reports '${mode}')`, {
          hint: 'Put the database on a local file system (WAL does not work over some network file systems).',
        });
      }
    }
    db.pragma(`synchronous = ${durabilityOf(options.durability) === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('temp_store = MEMORY');
    // The store's WalCheckpointer checkpoints from a worker thread from ~4 MB of WAL on; SQLite's own checkpoint
    // (which runs inside a COMMIT, on the thread that runs the agents) is only the backstop, at ~64 MB.
    db.pragma('wal_autocheckpoint = 16000');
    retryWhileBusy(busyTimeoutMs, () => migrate(db, path, options.appVersion ?? 'unknown'));
    return db;
  } catch (error) {
    db.close();
    throw translateSqliteError(error, path);
  }
}

function retryWhileBusy<T>(budgetMs: number, fn: () => T): T {
  const deadline = Date.now() + budgetMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (error) {
      const code = (error as SqliteErrorLike | null)?.code ?? '';
      const busy = code.startsWith('SQLITE_BUSY') || code === 'SQLITE_LOCKED' || code === 'E_DB_LOCKED';
      if (!busy || Date.now() >= deadline) throw error;
      // A short synchronous pause: this runs while opening, before anything else of p2tui starts.
      Atomics.wait(pause, 0, 0, Math.min(50, 5 * (attempt + 1)));
    }
  }
}

function checkOwnershipAndVersion(db: Db, path: string): void {
  let version: number;
  let appId: number;
  let tables: number;
  try {
    version = Number(db.pragma('user_version', { simple: true }));
    appId = Number(db.pragma('application_id', { simple: true }));
    tables = Number(
      (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n,
    );
  } catch (error) {
    throw translateSqliteError(error, path);
  }
  if (appId !== APPLICATION_ID && (appId !== 0 || tables > 0)) {
    throw new StoreError('E_DB_CORRUPT', `${path} is a SQLite database but not a p2tui database; it was not modified`, {
      hint: 'Point --db at a p2tui database or at a path where a new one can be created.',
    });
  }
  if (version > LATEST_SCHEMA_VERSION) {
    throw new StoreError(
      'E_DB_NEWER_SCHEMA',
      `database ${path} has schema version ${version}, written by a newer p2tui; ` +
        `this p2tui knows versions up to ${LATEST_SCHEMA_VERSION}. The database was not modified.`,
      { hint: 'Upgrade p2tui to open it, or use --db to work with another database.' },
    );
  }
}

function migrate(db: Db, path: string, appVersion: string): void {
  const current = Number(db.pragma('user_version', { simple: true }));
  if (current === LATEST_SCHEMA_VERSION) return;
  const run = db.transaction(() => {
    // Another process may have migrated between our check and our lock.
    const now = Number(db.pragma('user_version', { simple: true }));
    if (now > LATEST_SCHEMA_VERSION) {
      throw new StoreError('E_DB_NEWER_SCHEMA', `database ${path} was upgraded by a newer p2tui while opening it`, {
        hint: 'Upgrade p2tui.',
      });
    }
    for (const migration of MIGRATIONS) {
      if (migration.version <= now) continue;
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.prepare('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)').run('written_by', appVersion);
  });
  run.immediate();
}

interface SqliteErrorLike {
  code?: string;
  message?: string;
}

/** Maps SQLite's errors to ones that say what happened and what to do (E_DB_*, exit code 5); others pass through. */
export function translateSqliteError(error: unknown, path: string): unknown {
  return storageFailureOf(error, path) ?? error;
}

/** The SQLite library's version, from a throwaway in-memory database (what `doctor` reports; throws if it cannot load). */
/**
 * Throws E_DB_READONLY unless SQLite can really write the file. A file it may not open for writing (no write
 * permission, `chattr +i`, a read-only mount) is opened read-only without a word, and an empty transaction
 * succeeds there: so a row is written and rolled back, which needs the write lock and changes nothing.
 */
export function assertWritable(db: Db, path: string): void {
  const rollback = new Error('rolled back on purpose');
  try {
    db.transaction(() => {
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('write_probe', 'doctor')").run();
      throw rollback;
    }).immediate();
  } catch (error) {
    if (error === rollback) return;
    throw translateSqliteError(error, path);
  }
}

export function sqliteVersion(): string {
  const db = new Database(':memory:');
  try {
    return (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  } finally {
    db.close();
  }
}
