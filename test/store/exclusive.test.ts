import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Store } from '../../src/store/store.ts';

/**
 * Issue 16, point 1 (ingest all or nothing): an exclusive transaction holds across awaits. What it writes, its
 * group-committed writes included, is seen by nobody until it commits; a failure rolls all of it back; writes from
 * elsewhere in the process wait for it.
 */
const dirs: string[] = [];
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-excl-'));
  dirs.push(dir);
  return join(dir, 'p2tui.db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const entry = (text: string) =>
  ({ type: 'entry', kind: 'user_message', payload: { text }, session: 's', branch: 'b', conversation: 'c' }) as const;

/** What another process reading the file sees. */
function texts(path: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT payload FROM events ORDER BY seq').all() as { payload: string }[]).map(
      (r) => (JSON.parse(r.payload) as { text: string }).text,
    );
  } finally {
    db.close();
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('store.exclusive', () => {
  it('publishes and shows its writes only once all of it commits; commits from elsewhere wait for its end', async () => {
    const path = tempDb();
    const store = new Store({ path });
    const published: string[] = [];
    store.onCommit((events) => published.push(...events.map((e) => (e.payload as { text: string }).text)));
    try {
      await store.commit(() => store.append(entry('before'), 1));
      // A commit from elsewhere (a timer set before the transaction began) while it holds: queued, not run inside.
      let outside: Promise<unknown> | undefined;
      const timer = new Promise<void>((resolve) =>
        setTimeout(() => {
          outside = store.commit(() => store.append(entry('outside'), 1));
          resolve();
        }, 5),
      );
      const done = store.exclusive(async () => {
        await store.commit(() => store.append(entry('inside 1'), 1));
        await timer;
        await tick();
        await tick();
        store.write(() => store.append(entry('inside 2'), 1));
        // Nothing of it is visible to another reader, nor published, while it holds.
        expect(texts(path)).toEqual(['before']);
        expect(published).toEqual(['before']);
        return 'ok';
      });
      expect(await done).toBe('ok');
      expect(published).toEqual(['before', 'inside 1', 'inside 2']);
      await outside;
      expect(texts(path)).toEqual(['before', 'inside 1', 'inside 2', 'outside']);
      expect(published).toEqual(['before', 'inside 1', 'inside 2', 'outside']);
    } finally {
      store.close();
    }
  });

  it('rolls all of it back on a failure anywhere, publishes nothing of it, and tells the rollback listeners', async () => {
    const path = tempDb();
    const store = new Store({ path });
    const published: string[] = [];
    store.onCommit((events) => published.push(...events.map((e) => (e.payload as { text: string }).text)));
    let rollbacks = 0;
    store.onRollback(() => (rollbacks += 1));
    try {
      // A refused commit inside rolls back alone (its savepoint); a throw after it rolls back everything.
      const failing = store.exclusive(async () => {
        await store.commit(() => store.append(entry('paid'), 1));
        await expect(
          store.commit(() => {
            store.append(entry('refused'), 1);
            throw new Error('refused');
          }),
        ).rejects.toThrow('refused');
        store.write(() => store.append(entry('imported'), 1));
        await tick();
        throw new Error('the import failed');
      });
      await expect(failing).rejects.toThrow('the import failed');
      expect(texts(path)).toEqual([]);
      expect(published).toEqual([]);
      expect(rollbacks).toBe(1);
      // The store goes on: the next one commits, and so do queued commits.
      await store.exclusive(async () => {
        await store.commit(() => store.append(entry('next'), 1));
      });
      await store.commit(() => store.append(entry('after'), 1));
      expect(texts(path)).toEqual(['next', 'after']);
      expect(published).toEqual(['next', 'after']);
    } finally {
      store.close();
    }
  });

  it('a sync write from elsewhere while it holds joins it, and is written again on its own when it rolls back', async () => {
    const path = tempDb();
    const store = new Store({ path });
    try {
      // A lease's heartbeat, say: a timer set before the transaction, writing synchronously (it cannot wait).
      const timer = new Promise<number>((resolve) =>
        setTimeout(() => resolve(store.write(() => store.append(entry('heartbeat'), 1).seq)), 5),
      );
      const failing = store.exclusive(async () => {
        await store.commit(() => store.append(entry('paid'), 1));
        expect(await timer).toBeGreaterThan(0);
        throw new Error('the import failed');
      });
      await expect(failing).rejects.toThrow('the import failed');
      expect(texts(path)).toEqual(['heartbeat']);
    } finally {
      store.close();
    }
  });

  it('runs exclusive transactions one after another', async () => {
    const path = tempDb();
    const store = new Store({ path });
    const order: string[] = [];
    try {
      await Promise.all(
        ['a', 'b', 'c'].map((name) =>
          store.exclusive(async () => {
            order.push(`${name} start`);
            await tick();
            await store.commit(() => store.append(entry(name), 1));
            order.push(`${name} end`);
          }),
        ),
      );
      expect(order).toEqual(['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
      expect(texts(path)).toEqual(['a', 'b', 'c']);
    } finally {
      store.close();
    }
  });
});
