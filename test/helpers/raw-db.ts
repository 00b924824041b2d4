import Database from 'better-sqlite3';

/**
 * A second connection to a store's database file, as another program (or someone editing the file by hand) would
 * open it: tests read what was stored, or tamper with it, without going through the store they test.
 */
export function withRawDb<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    db.pragma('busy_timeout = 5000');
    return fn(db);
  } finally {
    db.close();
  }
}

/** The count a `SELECT count(*) AS n …` query returns. */
export function countRows(path: string, sql: string, ...params: unknown[]): number {
  return withRawDb(path, (db) => (db.prepare(sql).get(...params) as { n: number }).n);
}
