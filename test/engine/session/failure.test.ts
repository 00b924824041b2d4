import { describe, expect, it } from 'vitest';
import { withRawDb } from '../../helpers/raw-db.ts';
import { entriesOf, eventsOf, kinds, setup, start } from './harness.ts';

/**
 * A session stopped by an internal fault (src/engine/session/failure.ts) ends failed over the whole tree of its
 * conversations, written from the log (not from memory, which may hold what the failed commit rolled back).
 */
describe('an internal fault in a commit', () => {
  it('ends every working conversation of the tree and the session failed; a later attach does not step again', async () => {
    const t = await setup([
      {
        id: 'lead',
        description: 'Lead.',
        agents: ['helper'],
        script: [{ when: '.', steps: [{ delegate: 'helper', message: 'help' }, { reply: 'lead done' }] }],
      },
      { id: 'helper', description: 'Helper.', script: [{ when: '.', steps: [{ reply: 'helped' }] }] },
    ]);
    const path = t.engine.store.path;
    // The helper's decide commit breaks (the lead's went through): a fault inside a commit, not in a known step.
    withRawDb(path, (db) =>
      db.exec(
        `CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.type = 'model.call'
           AND (SELECT count(*) FROM events WHERE type = 'model.call') >= 1
         BEGIN SELECT RAISE(ABORT, 'the helper step broke'); END`,
      ),
    );
    const session = start(t, 'lead');
    expect(await session.idle()).toBe('failed');
    expect(session.error).toMatchObject({
      code: 'E_INTERNAL',
      message: expect.stringContaining('the helper step broke'),
    });
    expect(session.active).toBe(false);
    const row = t.engine.store.sessions.require(session.id);
    expect([row.status, row.statusReason]).toEqual([
      'failed',
      expect.stringMatching(/^E_INTERNAL: session s_\w+ stopped: /),
    ]);
    // The helper's step never committed: it ends cancelled with the reason, and the lead's delegation with it.
    const reason = expect.stringContaining('stopped by an internal error: ');
    expect(kinds(entriesOf(t, session.id, 'helper'))).toEqual(['user_message', 'failed']);
    expect(entriesOf(t, session.id, 'helper').at(-1)!.payload).toMatchObject({ code: 'E_CANCELLED', message: reason });
    expect(kinds(entriesOf(t, session.id))).toEqual([
      'user_message',
      'agent_call',
      'waiting',
      'agent_result:cancelled',
      'failed',
    ]);
    expect(t.engine.store.leases.holder(session.id)).toBeUndefined();
    // Taken over again (the database accepts writes now): it rests failed, and no model is asked again.
    withRawDb(path, (db) => db.exec('DROP TRIGGER refuse'));
    const calls = eventsOf(t, session.id).filter((e) => e.type === 'model.call').length;
    const again = await t.engine.attach(session.id, { retryFailed: true });
    expect(await again.idle()).toBe('failed');
    expect(eventsOf(t, session.id).filter((e) => e.type === 'model.call')).toHaveLength(calls);
  });
});
