import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Store } from '../../src/store/store.ts';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../src/store/migrations.ts';
import { APPLICATION_ID } from '../../src/store/database.ts';
import { StoreError } from '../../src/core/errors.ts';
import { THIS_HOST } from '../../src/core/host.ts';
import type { StoredEvent } from '../../src/core/events.ts';
import { countRows, withRawDb } from '../helpers/raw-db.ts';

const dirs: string[] = [];
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-store-'));
  dirs.push(dir);
  return join(dir, 'p2tui.db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const entry = (session: string, branch: string, conversation: string, text: string) =>
  ({ type: 'entry', kind: 'user_message', payload: { text }, session, branch, conversation }) as const;

describe('store', () => {
  it('creates a WAL database at the latest schema version', () => {
    const path = tempDb();
    const store = new Store({ path });
    expect(store.describe()).toMatchObject({ journalMode: 'wal', schemaVersion: LATEST_SCHEMA_VERSION });
    store.close();
    // Opening again migrates nothing and keeps the data.
    const again = new Store({ path });
    expect(again.describe().schemaVersion).toBe(LATEST_SCHEMA_VERSION);
    again.close();
  });

  it('refuses a database written by a newer p2tui and leaves the file untouched', () => {
    const path = tempDb();
    new Store({ path }).close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    raw.pragma('journal_mode = DELETE');
    raw.close();
    const before = readFileSync(path);
    let error: unknown;
    try {
      new Store({ path });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('E_DB_NEWER_SCHEMA');
    expect((error as StoreError).message).toMatch(/written by a newer p2tui.*not modified/);
    expect((error as StoreError).hint).toMatch(/Upgrade p2tui/);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('refuses a SQLite file that is not a p2tui database', () => {
    const path = tempDb();
    const raw = new Database(path);
    raw.exec('CREATE TABLE invoices (id INTEGER)');
    raw.close();
    expect(() => new Store({ path })).toThrow(expect.objectContaining({ code: 'E_DB_CORRUPT' }));
  });

  it('reports a database locked by another writer past the busy timeout as E_DB_LOCKED', () => {
    const path = tempDb();
    const store = new Store({ path, busyTimeoutMs: 50 });
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    expect(() => store.write(() => store.append(entry('s', 'b', 'c', 'x'), 1))).toThrow(
      expect.objectContaining({ code: 'E_DB_LOCKED' }),
    );
    other.exec('ROLLBACK');
    other.close();
    expect(store.write(() => store.append(entry('s', 'b', 'c', 'x'), 1)).seq).toBe(1);
    store.close();
  });

  it('group commit: writes of one turn share a transaction, a failing one is undone alone', async () => {
    const store = new Store({ path: tempDb() });
    const published: StoredEvent[][] = [];
    store.onCommit((events) => published.push([...events]));
    const results = await Promise.allSettled([
      store.commit(() => store.append(entry('s', 'b', 'c', 'one'), 1).seq),
      store.commit(() => {
        store.append(entry('s', 'b', 'c', 'doomed'), 1);
        throw new Error('lease lost');
      }),
      store.commit(() => store.append(entry('s', 'b', 'c', 'three'), 1).seq),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(published).toHaveLength(1);
    expect(published[0]!.map((e) => (e.payload as { text: string }).text)).toEqual(['one', 'three']);
    expect(store.log.read(0).map((e) => (e.payload as { text: string }).text)).toEqual(['one', 'three']);
    store.close();
  });

  it('a write alone in its commit (no savepoint) that fails is undone whole, rejects with its error, and the next one lands', async () => {
    const store = new Store({ path: tempDb() });
    const published: StoredEvent[][] = [];
    store.onCommit((events) => published.push([...events]));
    await expect(
      store.commit(() => {
        store.append(entry('s', 'b', 'c', 'doomed'), 1);
        store.setHead({ branch: 'b', conversation: 'c', session: 's', headSeq: 99, phase: 'waiting', updatedAt: 2 });
        throw new Error('lease lost');
      }),
    ).rejects.toThrow('lease lost');
    expect(published).toEqual([]);
    expect(store.log.lastSeq()).toBe(0);
    expect(store.sessions.heads('s', 'b')).toEqual([]);
    // The transaction is over: the next lone commit starts its own and lands.
    const seq = await store.commit(() => store.append(entry('s', 'b', 'c', 'kept'), 1).seq);
    expect(store.log.read(0).map((e) => [e.seq, (e.payload as { text: string }).text])).toEqual([[seq, 'kept']]);
    expect(published.map((batch) => batch.length)).toEqual([1]);
    store.close();
  });

  it('publishes events only after they are committed', () => {
    const store = new Store({ path: tempDb() });
    const seen: number[] = [];
    store.onCommit((events) => seen.push(...events.map((e) => e.seq)));
    expect(() =>
      store.write(() => {
        store.append(entry('s', 'b', 'c', 'x'), 1);
        throw new Error('rolled back');
      }),
    ).toThrow('rolled back');
    expect(seen).toEqual([]);
    expect(store.log.lastSeq()).toBe(0);
    store.close();
  });

  it('shows a branch its own entries plus each ancestor segment up to its seq, in one query', () => {
    const store = new Store({ path: tempDb() });
    store.write(() => {
      store.append(entry('s', 'main', 'c', 'a1'), 1); // seq 1
      store.append(entry('s', 'main', 'c', 'a2'), 1); // seq 2
      store.append(entry('s', 'main', 'c', 'a3'), 1); // seq 3
      store.append(entry('s', 'fork', 'c', 'f1'), 1); // seq 4
      store.append(entry('other', 'main', 'c', 'x'), 1);
    });
    const texts = (segments: { branch: string; maxSeq: number }[]) =>
      store.log.visibleEntries('s', segments).map((e) => (e.payload as { text: string }).text);
    expect(texts([{ branch: 'main', maxSeq: Infinity }])).toEqual(['a1', 'a2', 'a3']);
    expect(
      texts([
        { branch: 'fork', maxSeq: Infinity },
        { branch: 'main', maxSeq: 2 },
      ]),
    ).toEqual(['a1', 'a2', 'f1']);
    store.close();
  });

  it('stores artifacts once per content', () => {
    const store = new Store({ path: tempDb() });
    const [a, b] = store.write(() => [
      store.artifacts.put('same bytes', { mime: 'text/plain', kind: 'file', name: 'a.txt', session: 's' }, 1),
      store.artifacts.put('same bytes', { mime: 'text/plain', kind: 'file', name: 'b.txt', session: 's' }, 2),
    ]);
    expect(a!.hash).toBe(b!.hash);
    expect(countRows(store.path, 'SELECT count(*) AS n FROM artifacts')).toBe(1);
    expect(store.artifacts.list('s').map((r) => r.name)).toEqual(['a.txt', 'b.txt']);
    expect(store.artifacts.get(a!.hash)?.data.toString()).toBe('same bytes');
    store.close();
  });

  it('gives a lease to one owner at a time, and to another once it expires or its process is gone', () => {
    const store = new Store({ path: tempDb() });
    const elsewhere = { owner: 'a', host: 'another-host', pid: 1 };
    const here = { owner: 'b', host: THIS_HOST, pid: process.pid };
    expect(store.write(() => store.leases.acquire('s', elsewhere, 1000, 0))).toEqual({ ok: true, fence: 1 });
    // Another host's process is taken to be alive until its lease expires.
    expect(store.write(() => store.leases.acquire('s', here, 1000, 500)).ok).toBe(false);
    expect(store.write(() => store.leases.acquire('s', here, 1000, 1500))).toEqual({ ok: true, fence: 2 });
    expect(store.write(() => store.leases.heartbeat('s', 'a', 1000, 1600))).toBe(false);
    // A process of this host that is gone (killed, say) frees its lease at once, before the expiry.
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    expect(store.write(() => store.leases.acquire('t', { owner: 'c', host: THIS_HOST, pid: gone }, 60_000, 0))).toEqual(
      { ok: true, fence: 1 },
    );
    expect(store.write(() => store.leases.acquire('t', here, 1000, 100))).toEqual({ ok: true, fence: 2 });
    // A released lease has no holder, and its fence is never handed out again.
    store.write(() => store.leases.release('t', 'b'));
    expect(store.leases.holder('t')).toBeUndefined();
    expect(store.write(() => store.leases.heartbeat('t', 'b', 1000, 200))).toBe(false);
    expect(store.write(() => store.leases.acquire('t', elsewhere, 1000, 300))).toEqual({ ok: true, fence: 3 });
    store.close();
  });

  it('copies the WAL back into the database from a worker thread, not inside the commits that run the agents', async () => {
    const path = tempDb();
    const store = new Store({ path });
    const sizeOfDb = (): number => statSync(path).size;
    const before = sizeOfDb();
    const text = 'x'.repeat(1000);
    // ~6 MB of WAL in group commits: past the worker's 4 MB threshold, far below SQLite's own 64 MB backstop.
    for (let c = 0; c < 60; c++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          store.commit(() => store.append(entry('s', 'b', 'c', `${c}/${i} ${text}`), 1)),
        ),
      );
    }
    const deadline = Date.now() + 10_000;
    while (sizeOfDb() < before + 4 * 2 ** 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(sizeOfDb()).toBeGreaterThan(before + 4 * 2 ** 20);
    // Writing goes on while and after the worker checkpoints, and nothing is lost across a reopen.
    await store.commit(() => store.append(entry('s', 'b', 'c', 'last'), 1));
    store.close();
    const again = new Store({ path });
    expect(again.log.lastSeq()).toBe(6001);
    expect((again.log.read(6000, {}, 10)[0]!.payload as { text: string }).text).toBe('last');
    again.close();
  });

  it('derives a fork’s segments from its parent after a reopen: deep nesting, and on top of a version 2 row', () => {
    const path = tempDb();
    const store = new Store({ path });
    const row = {
      id: 's',
      createdAt: 0,
      updatedAt: 0,
      agent: 'a',
      rootConversation: 'c',
      headBranch: 'b_main',
      title: 't',
      source: 'api' as const,
      status: 'finished' as const,
      statusReason: null,
      options: { seed: 1, maxSteps: 1, approval: 'deny' as const },
      workspace: '/',
    };
    store.write(() => {
      store.sessions.createSession(row);
      store.sessions.createBranch(
        {
          id: 'b_main',
          session: 's',
          parent: null,
          forkSeq: null,
          label: 'main',
          overrides: {},
          createdBy: 't',
          createdAt: 0,
        },
        [],
      );
    });
    // A fork as version 2 wrote it: its segments as JSON in the row (written by another connection, as that version).
    withRawDb(path, (raw) =>
      raw
        .prepare(
          "INSERT INTO branches (id, session_id, parent_id, fork_seq, label, overrides, created_by, created_at, segments) VALUES ('b_v2', 's', 'b_main', 5, NULL, '{}', 't', 0, ?)",
        )
        .run(JSON.stringify([{ branch: 'b_main', maxSeq: 5 }])),
    );
    let parent = 'b_v2';
    const expected = new Map<string, unknown>();
    for (let i = 0; i < 300; i++) {
      store.write(() => {
        store.append(entry('s', parent, 'c', `m${i}`), 1);
        const seq = store.log.lastSeq();
        const id = `b_${i}`;
        const segments = [
          { branch: parent, maxSeq: seq, afterSeq: store.sessions.branch(parent)!.forkSeq ?? 0 },
          ...store.sessions
            .segments(parent)
            .slice(1)
            .map((x) => ({ ...x, maxSeq: Math.min(x.maxSeq, seq) })),
        ];
        store.sessions.createBranch(
          { id, session: 's', parent, forkSeq: seq, label: null, overrides: {}, createdBy: 't', createdAt: 0 },
          segments,
        );
        expected.set(id, store.sessions.segments(id));
        parent = id;
      });
    }
    // New forks store nothing but their parent and fork point.
    expect(countRows(path, 'SELECT count(*) AS n FROM branches WHERE segments IS NOT NULL')).toBe(1);
    store.close();
    const again = new Store({ path });
    // Cold: the deepest first (the chain is walked up, then derived down), then the rest from the cache.
    expect(again.sessions.segments('b_299')).toEqual(expected.get('b_299'));
    for (const [id, segments] of expected) expect(again.sessions.segments(id)).toEqual(segments);
    // The version 2 row's own JSON is read as it was written.
    expect(again.sessions.segments('b_v2')).toEqual([
      { branch: 'b_v2', maxSeq: Infinity, afterSeq: 5 },
      { branch: 'b_main', maxSeq: 5 },
    ]);
    again.close();
  });

  it('migrates a version 1 database to the latest, keeping branches whose segments are rows', () => {
    const path = tempDb();
    const raw = new Database(path);
    raw.exec(MIGRATIONS[0]!.sql);
    raw.pragma('user_version = 1');
    raw.pragma(`application_id = ${APPLICATION_ID}`);
    raw
      .prepare(
        "INSERT INTO branches (id, session_id, parent_id, fork_seq, label, overrides, created_by, created_at) VALUES ('b_old', 's', 'b_main', 5, NULL, '{}', 'test', 0)",
      )
      .run();
    raw.prepare("INSERT INTO branch_segments (branch_id, ancestor_id, max_seq) VALUES ('b_old', 'b_main', 5)").run();
    raw.close();
    const store = new Store({ path });
    expect(store.describe().schemaVersion).toBe(LATEST_SCHEMA_VERSION);
    expect(store.sessions.segments('b_old')).toEqual([
      { branch: 'b_old', maxSeq: Infinity, afterSeq: 5 },
      { branch: 'b_main', maxSeq: 5 },
    ]);
    store.close();
  });
});
