import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool } from '../../../src/tools/define.ts';
import { until } from '../../helpers/manual-clock.ts';
import { countRows, withRawDb } from '../../helpers/raw-db.ts';
import { entriesOf, gatedTool, kinds, setup, start, toolResults } from './harness.ts';

/**
 * The session writer (src/engine/session/writer.ts): every append of a session goes through its group commit, which
 * fills in each event's session, branch and conversation, checks the lease inside the transaction, and stops the
 * runtime when a commit fails.
 */

/** Events whose conversation is the session's own business (no conversation), by type. */
const SESSION_LEVEL = new Set(['session.created', 'session.status', 'branch.created', 'branch.checkout']);

describe('event headers', () => {
  it('stamps every event with its session and the branch it was written on, and each conversation event with its conversation', async () => {
    const note = defineTool({
      name: 'note',
      description: 'Writes a note.',
      input: z.object({ n: z.number() }),
      effect: 'idempotent',
      run: ({ n }, ctx) => {
        ctx.attach('note.txt', `note ${n}`, 'text/plain');
        ctx.milestone?.('noted');
        return { n };
      },
    });
    const t = await setup(
      [
        {
          id: 'lead',
          description: 'Lead.',
          agents: ['helper'],
          script: [{ when: '.', steps: [{ delegate: 'helper', message: 'note it' }, { reply: 'lead done' }] }],
        },
        {
          id: 'helper',
          description: 'Helper.',
          tools: ['note'],
          policies: { approve_tools: ['note'] },
          script: [{ when: '.', steps: [{ call: 'note', args: { n: 1 } }, { reply: 'noted' }] }],
        },
      ],
      { tools: [note] },
    );
    const session = start(t, 'lead', 'go', { approval: 'approve' });
    expect(await session.idle()).toBe('finished');
    const main = session.branch;
    // Forked at the head and checked out: the same runtime goes on writing, now on the new branch.
    const fork = await t.engine.fork(session.id, { checkout: true, createdBy: 'test' });
    expect(session.branch).toBe(fork.branch.id);
    await session.send('again');
    expect(await session.idle()).toBe('finished');

    const { store } = t.engine;
    const conversations = store.sessions.conversations(session.id);
    // The lead, its helper on main, and the helper of the second message on the new branch.
    expect(conversations.map((c) => [c.agent, c.branch])).toEqual([
      ['lead', main],
      ['helper', main],
      ['helper', fork.branch.id],
    ]);
    const [root, ...helpers] = conversations.map((c) => c.id);
    const events = store.log.read(0, {}, 100_000);
    const types = new Set(events.map((e) => e.type));
    for (const type of ['model.call', 'artifact.created', 'milestone', 'approval.decided', 'conversation.created'])
      expect(types).toContain(type);
    const forkedAt = events.findIndex((e) => e.type === 'branch.created');
    expect(forkedAt).toBeGreaterThan(0);
    events.forEach((e, i) => {
      const where = `${e.type}${e.kind === null ? '' : `:${e.kind}`} (seq ${e.seq})`;
      expect(e.session, where).toBe(session.id);
      expect(e.branch, where).toBe(i < forkedAt ? main : fork.branch.id);
      if (SESSION_LEVEL.has(e.type)) expect(e.conversation, where).toBeNull();
      else expect([root, ...helpers], where).toContain(e.conversation);
    });
    // Each conversation's events are its own: a helper's tool work never lands in the lead's stack.
    const conversationOf = (type: string) => events.filter((e) => e.type === type).map((e) => e.conversation);
    expect(conversationOf('artifact.created')).toEqual(helpers);
    expect(conversationOf('milestone')).toEqual(helpers);
    expect(conversationOf('approval.decided')).toEqual(helpers);
    for (const e of events.filter((x) => x.type === 'model.call')) {
      const id = e.type === 'model.call' ? e.payload.id : '';
      const row = withRawDb(store.path, (db) =>
        db.prepare('SELECT conversation_id AS c, branch_id AS b FROM model_calls WHERE id = ?').get(id),
      );
      expect(row).toEqual({ c: e.conversation, b: e.branch });
    }
    for (const index of [0, 1]) {
      expect(kinds(entriesOf(t, session.id, 'helper', index))).toEqual([
        'user_message',
        'tool_call',
        'waiting',
        'tool_result:ok',
        'assistant_message',
        'finished',
      ]);
    }
    // The heads the commits moved: the new branch's root at its last entry; main's left where the fork found it.
    const lastEntry = (branch: string) =>
      events.filter((e) => e.type === 'entry' && e.conversation === root && e.branch === branch).at(-1)!.seq;
    const headOf = (branch: string) => store.sessions.heads(session.id, branch).find((h) => h.conversation === root);
    expect(headOf(fork.branch.id)).toMatchObject({ headSeq: lastEntry(fork.branch.id), phase: 'finished' });
    expect(headOf(main)).toMatchObject({ headSeq: lastEntry(main), phase: 'finished' });
  });
});

describe('a refused commit', () => {
  it('a commit past the expiry of a lease nobody took over renews it instead of giving the session up', async () => {
    const t = await setup(
      [{ id: 'echo', description: 'Echo.', script: [{ when: '(?<m>.+)', steps: [{ reply: 'heard {{m}}' }] }] }],
      { leaseTtlMs: 1_000 },
    );
    const session = start(t, 'echo', 'one');
    expect(await session.idle()).toBe('finished');
    // Heartbeats missed (a stalled event loop): the lease is past its expiry, still in this process's name.
    const path = t.engine.store.path;
    withRawDb(path, (db) =>
      db.prepare('UPDATE leases SET expires_at = ? WHERE session_id = ?').run(t.clock.now() - 1, session.id),
    );
    await session.send('two');
    expect(await session.idle()).toBe('finished');
    expect(session.error).toBeUndefined();
    expect(session.answer).toBe('heard two');
    expect(t.engine.store.leases.holder(session.id)?.expiresAt).toBeGreaterThan(t.clock.now());
  });

  it('a commit refused for a lost lease stops that runtime and stores nothing of it; a commit grouped with it still lands', async () => {
    // A lease shorter than the heartbeat: every commit asks the database who holds it, not its memory.
    const t = await setup(
      [{ id: 'echo', description: 'Echo.', script: [{ when: '(?<m>.+)', steps: [{ reply: 'heard {{m}}' }] }] }],
      { leaseTtlMs: 1_000 },
    );
    const robbed = start(t, 'echo', 'one');
    const other = start(t, 'echo', 'one');
    expect(await robbed.idle()).toBe('finished');
    expect(await other.idle()).toBe('finished');
    const path = t.engine.store.path;
    // Another process takes the lease over.
    withRawDb(path, (db) =>
      db
        .prepare("UPDATE leases SET owner = 'elsewhere:1', host = 'elsewhere', expires_at = ? WHERE session_id = ?")
        .run(t.clock.now() + 600_000, robbed.id),
    );
    const seq = t.engine.store.log.lastSeqOf(robbed.id);
    // Sent in the same tick: one group commit, each write in its own savepoint.
    const [lost, kept] = await Promise.allSettled([robbed.send('two'), other.send('two')]);
    expect(lost).toMatchObject({ status: 'rejected', reason: { code: 'E_LEASE_LOST' } });
    expect(kept.status).toBe('fulfilled');
    expect(robbed.error?.code).toBe('E_LEASE_LOST');
    expect(robbed.active).toBe(false);
    expect(await robbed.idle()).toBe('finished');
    expect(t.engine.store.log.lastSeqOf(robbed.id)).toBe(seq);
    expect(t.engine.store.sessions.require(robbed.id).status).toBe('finished');
    // The runtime that lost it does not release a lease it no longer holds.
    expect(t.engine.store.leases.holder(robbed.id)?.owner).toBe('elsewhere:1');
    await expect(robbed.send('three')).rejects.toMatchObject({ code: 'E_LEASE_LOST' });

    expect(await other.idle()).toBe('finished');
    expect(other.answer).toBe('heard two');
  });

  it('a commit the database refuses stops the runtime, rolls back everything in it, and lets go of the lease', async () => {
    const work = gatedTool('work', { cacheTtlMs: 60_000 });
    const t = await setup(
      [
        {
          id: 'w',
          description: 'W.',
          tools: ['work'],
          script: [{ when: '.', steps: [{ call: 'work', args: { n: 1 } }, { reply: 'done' }] }],
        },
      ],
      { tools: [work] },
    );
    const path = t.engine.store.path;
    const session = start(t, 'w');
    await until(() => work.runs.length === 1, 'the call to start');
    withRawDb(path, (db) =>
      db.exec(
        "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.kind = 'tool_result' BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
      ),
    );
    work.runOf(1).finish();
    expect(await session.idle()).toBe('running');
    expect(session.error).toMatchObject({ code: 'E_INTERNAL', message: expect.stringContaining('disk says no') });
    expect(session.active).toBe(false);
    // Nothing of the result's commit: no entry, the intent still open, no cache entry.
    expect(toolResults(entriesOf(t, session.id))).toEqual([]);
    expect(t.engine.store.calls.intent(work.runOf(1).key)?.status).toBe('pending');
    expect(countRows(path, 'SELECT count(*) AS n FROM tool_cache')).toBe(0);
    expect(t.engine.store.leases.holder(session.id)).toBeUndefined();

    // The log is the truth: once the database accepts writes again, a resume runs the call again and finishes.
    withRawDb(path, (db) => db.exec('DROP TRIGGER refuse'));
    const resumed = await t.engine.attach(session.id);
    await until(() => work.runs.length === 2, 'the call to run again');
    work.runs[1]!.finish();
    expect(await resumed.idle()).toBe('finished');
    expect(toolResults(entriesOf(t, session.id)).map((r) => r.status)).toEqual(['ok']);
  });
});

describe('a detached runtime', () => {
  it('refuses to write: its cancel is refused, and a call that ends after the detach leaves nothing', async () => {
    const work = gatedTool('work');
    const t = await setup(
      [
        {
          id: 'w',
          description: 'W.',
          tools: ['work'],
          script: [{ when: '.', steps: [{ call: 'work', args: { n: 1 } }, { reply: 'done' }] }],
        },
      ],
      { tools: [work] },
    );
    const session = start(t, 'w');
    await until(() => work.runs.length === 1, 'the call to start');
    const seq = t.engine.store.log.lastSeqOf(session.id);
    session.detach();
    await expect(session.cancel()).rejects.toMatchObject({
      code: 'E_CANCELLED',
      message: 'the session was detached from this process',
    });
    await expect(session.send('more')).rejects.toMatchObject({ code: 'E_SESSION_STATE' });
    work.runOf(1).finish();
    await t.clock.advance(0);
    expect(t.engine.store.log.lastSeqOf(session.id)).toBe(seq);
    expect(t.engine.store.sessions.require(session.id).status).toBe('running');
    expect(t.engine.store.calls.intent(work.runOf(1).key)?.status).toBe('pending');
  });
});
