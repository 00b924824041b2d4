import { describe, expect, it } from 'vitest';
import { settle, until } from '../../helpers/manual-clock.ts';
import { entriesOf, eventsOf, gatedTool, kinds, restart, setup, start, toolResults } from './harness.ts';

/**
 * Recovery (src/engine/session/recovery.ts): what a resume does with the calls an interrupted run left in flight.
 * The "crash" is a detach (or a closed engine) while calls run; the resume is an attach that rebuilds from the log.
 */

const parallel = (id: string, tools: string[], calls: { call: string; args: Record<string, unknown> }[]) => ({
  id,
  description: `${id}.`,
  tools,
  script: [{ when: '.', steps: [{ parallel: calls }, { reply: 'done' }] }],
});

describe('calls in flight at the crash', () => {
  it('pure and idempotent calls run again with the same key; an effectful one that had started does not', async () => {
    const scan = gatedTool('scan', { effect: 'pure' });
    const sync = gatedTool('sync', { effect: 'idempotent' });
    const charge = gatedTool('charge', { effect: 'effectful' });
    const t = await setup(
      [
        parallel(
          'w',
          ['scan', 'sync', 'charge'],
          [
            { call: 'scan', args: { n: 1 } },
            { call: 'sync', args: { n: 2 } },
            { call: 'charge', args: { n: 3 } },
          ],
        ),
      ],
      { tools: [scan, sync, charge] },
    );
    const session = start(t, 'w');
    await until(() => scan.runs.length + sync.runs.length + charge.runs.length === 3, 'three calls running');
    session.detach();
    const resumed = await t.engine.attach(session.id);
    await until(() => scan.runs.length === 2 && sync.runs.length === 2, 'the pure and idempotent calls to run again');
    expect(scan.runs[1]!.key).toBe(scan.runs[0]!.key);
    expect(sync.runs[1]!.key).toBe(sync.runs[0]!.key);
    scan.runs[1]!.finish();
    sync.runs[1]!.finish();
    expect(await resumed.idle()).toBe('finished');
    expect(charge.runs).toHaveLength(1);
    expect(toolResults(entriesOf(t, session.id)).map((r) => [r.tool, r.status])).toEqual([
      ['scan', 'ok'],
      ['sync', 'ok'],
      ['charge', 'unknown'],
    ]);
  });

  it('an effectful call that had started is reconciled by its tool: found is its result, absent runs it, a failed lookup is unknown', async () => {
    const looked: Record<string, string> = {};
    const found = gatedTool('found', {
      effect: 'effectful',
      reconcile: (args, ctx) => {
        looked['found'] = ctx.key;
        return { n: args.n ?? null, reconciled: true };
      },
    });
    const absent = gatedTool('absent', {
      effect: 'effectful',
      reconcile: (_args, ctx) => {
        looked['absent'] = ctx.key;
        return null;
      },
    });
    const broken = gatedTool('broken', {
      effect: 'effectful',
      reconcile: () => {
        throw new Error('ledger unreachable');
      },
    });
    const t = await setup(
      [
        parallel(
          'w',
          ['found', 'absent', 'broken'],
          [
            { call: 'found', args: { n: 1 } },
            { call: 'absent', args: { n: 2 } },
            { call: 'broken', args: { n: 3 } },
          ],
        ),
      ],
      { tools: [found, absent, broken] },
    );
    const session = start(t, 'w');
    await until(() => found.runs.length + absent.runs.length + broken.runs.length === 3, 'three calls running');
    session.detach();
    // The crashed process's runs die with it (one still going in this process would not be run again: below).
    for (const run of [...found.runs, ...absent.runs, ...broken.runs]) run.fail(new Error('the process died'));
    await settle();
    const resumed = await t.engine.attach(session.id);
    await until(() => absent.runs.length === 2, 'the call whose effect provably did not happen to run again');
    absent.runs[1]!.finish();
    expect(await resumed.idle()).toBe('finished');
    expect(looked).toEqual({ found: found.runs[0]!.key, absent: absent.runs[0]!.key });
    expect([found.runs.length, absent.runs.length, broken.runs.length]).toEqual([1, 2, 1]);
    const [fromLookup, rerun, unknown] = toolResults(entriesOf(t, session.id));
    expect(fromLookup).toMatchObject({ tool: 'found', status: 'ok', output: { n: 1, reconciled: true } });
    expect(rerun).toMatchObject({ tool: 'absent', status: 'ok', output: { n: 2, by: 'absent' } });
    expect(unknown).toMatchObject({
      tool: 'broken',
      status: 'unknown',
      error:
        'the process stopped while this call was running and reconciling it failed: ledger unreachable; it was not run again',
    });
  });

  it('a lookup that meets a damaged database stops the session with E_DB_CORRUPT instead of settling the call unknown', async () => {
    let damaged = true;
    const charge = gatedTool('charge', {
      effect: 'effectful',
      reconcile: () => {
        // What better-sqlite3 throws when the ledger's pages are damaged.
        if (damaged) throw Object.assign(new Error('database disk image is malformed'), { code: 'SQLITE_CORRUPT' });
        return { n: 1, reconciled: true };
      },
    });
    const t = await setup([parallel('w', ['charge'], [{ call: 'charge', args: { n: 1 } }])], { tools: [charge] });
    const session = start(t, 'w');
    await until(() => charge.runs.length === 1, 'the call running');
    session.detach();
    charge.runs[0]!.fail(new Error('the process died'));
    await settle();
    const resumed = await t.engine.attach(session.id);
    expect(await resumed.idle()).toBe('running');
    expect(resumed.error).toMatchObject({ code: 'E_DB_CORRUPT' });
    // Nothing settled: the call is still to be looked up once the database is repaired.
    expect(toolResults(entriesOf(t, session.id))).toEqual([]);
    damaged = false;
    const repaired = await t.engine.attach(session.id);
    expect(await repaired.idle()).toBe('finished');
    expect(charge.runs).toHaveLength(1);
    expect(toolResults(entriesOf(t, session.id))).toMatchObject([
      { tool: 'charge', status: 'ok', output: { n: 1, reconciled: true } },
    ]);
  });

  it('an effectful call whose earlier run is still going in this process is not run again, though its lookup finds nothing', async () => {
    const absent = gatedTool('absent', { effect: 'effectful', reconcile: () => null });
    const t = await setup([parallel('w', ['absent'], [{ call: 'absent', args: { n: 1 } }])], { tools: [absent] });
    const session = start(t, 'w');
    await until(() => absent.runs.length === 1, 'the call running');
    // Detached, not dead: the tool ignores its signal and may still do its effect.
    session.detach();
    const resumed = await t.engine.attach(session.id);
    expect(await resumed.idle()).toBe('finished');
    expect(absent.runs).toHaveLength(1);
    expect(toolResults(entriesOf(t, session.id))).toMatchObject([
      {
        tool: 'absent',
        status: 'unknown',
        error:
          'an earlier run of this call in this process is still going; the lookup found no effect yet, and it was not run again',
      },
    ]);
    absent.runs[0]!.finish();
  });

  it('a result stored before the crash but not yet appended is appended as stored, without running its call again', async () => {
    const work = gatedTool('work');
    const t = await setup(
      [
        parallel(
          'w',
          ['work'],
          [
            { call: 'work', args: { n: 1 } },
            { call: 'work', args: { n: 2 } },
          ],
        ),
      ],
      { tools: [work] },
    );
    const session = start(t, 'w');
    await until(() => work.runs.length === 2, 'two calls running');
    work.runOf(2).finish({ n: 2, note: 'finished before the crash' });
    await t.clock.advance(0);
    expect(toolResults(entriesOf(t, session.id))).toEqual([]);
    session.detach();
    const resumed = await t.engine.attach(session.id);
    await until(() => work.runs.length === 3, 'the unfinished call to run again');
    expect(work.runs[2]!.args.n).toBe(1);
    work.runs[2]!.finish();
    expect(await resumed.idle()).toBe('finished');
    expect(toolResults(entriesOf(t, session.id)).map((r) => r.output)).toEqual([
      { n: 1, by: 'work' },
      { n: 2, note: 'finished before the crash' },
    ]);
  });

  it('an effectful call decided but never started runs on resume, once', async () => {
    const charge = gatedTool('charge', { effect: 'effectful' });
    const t = await setup([parallel('w', ['charge'], [{ call: 'charge', args: { n: 1 } }])], { tools: [charge] });
    // The process stops right after the decide commit, before the call is marked as started.
    let stopped = false;
    t.engine.store.onCommit((events) => {
      if (!stopped && events.some((e) => e.type === 'entry' && e.kind === 'tool_call')) {
        stopped = true;
        t.engine.get(events[0]!.session!)?.detach();
      }
    });
    const session = start(t, 'w');
    await until(() => stopped, 'the decide commit');
    await settle();
    const call = entriesOf(t, session.id).find((e) => e.kind === 'tool_call');
    expect(call?.kind === 'tool_call' && t.engine.store.calls.intent(call.payload.key)?.status).toBe('pending');
    expect(charge.runs).toHaveLength(0);
    const resumed = await t.engine.attach(session.id);
    await until(() => charge.runs.length === 1, 'the call to start');
    charge.runs[0]!.finish();
    expect(await resumed.idle()).toBe('finished');
    expect(charge.runs).toHaveLength(1);
    expect(toolResults(entriesOf(t, session.id)).map((r) => r.status)).toEqual(['ok']);
  });

  it('a call to a tool the workspace no longer has is settled as an error, and the session goes on', async () => {
    const gone = gatedTool('gone');
    const t = await setup(
      [
        {
          id: 'w',
          description: 'W.',
          tools: ['gone'],
          script: [{ when: '.', steps: [{ call: 'gone', args: { n: 1 } }, { reply: 'after: {{result}}' }] }],
        },
      ],
      { tools: [gone] },
    );
    const session = start(t, 'w');
    await until(() => gone.runs.length === 1, 'the call to start');
    t.app.close();
    // Restarted with a workspace that dropped the tool (and the persona's use of it).
    t.ws.persona({
      id: 'w',
      description: 'W.',
      script: [{ when: '.', steps: [{ reply: 'unused' }, { reply: 'after: {{result}}' }] }],
    });
    const app = await restart(t, []);
    const resumed = await app.engine.attach(session.id);
    expect(await resumed.idle()).toBe('finished');
    expect(toolResults(entriesOf(app, session.id))).toEqual([
      {
        callId: gone.runs[0]!.callId,
        tool: 'gone',
        status: 'error',
        error: "tool 'gone' no longer exists in this workspace",
      },
    ]);
    expect(resumed.answer).toMatch(/^after: /);
    expect(gone.runs).toHaveLength(1);
  });
});

describe('questions and cancelled sessions', () => {
  const asker = {
    id: 'asker',
    description: 'Asks.',
    script: [{ when: '.', steps: [{ ask: 'Which city?' }, { reply: 'city: {{answer}}' }] }],
  };

  it('a question left waiting is answered by the approval policy the session is resumed with', async () => {
    const t = await setup([asker]);
    const session = start(t, 'asker', 'go', { approval: 'ask' });
    expect(await session.idle()).toBe('waiting');
    session.detach();
    const resumed = await t.engine.attach(session.id, { approval: 'deny' });
    expect(await resumed.idle()).toBe('finished');
    expect(entriesOf(t, session.id).find((e) => e.kind === 'user_response')).toMatchObject({
      payload: {
        by: 'policy',
        text: 'No. (Answered by the approval policy: no user is at a terminal; continue without the user.)',
      },
    });
    expect(t.engine.store.sessions.require(session.id).options.approval).toBe('deny');
  });

  it('a cancelled session is only read on attach: nothing is settled or written, and it takes no new message', async () => {
    const work = gatedTool('work');
    const t = await setup([parallel('w', ['work'], [{ call: 'work', args: { n: 1 } }])], { tools: [work] });
    const session = start(t, 'w');
    await until(() => work.runs.length === 1, 'the call to start');
    await session.cancel();
    session.detach();
    const seq = t.engine.store.log.lastSeqOf(session.id);
    const again = await t.engine.attach(session.id);
    await settle();
    expect(again.currentStatus).toBe('cancelled');
    expect(work.runs).toHaveLength(1);
    expect(t.engine.store.log.lastSeqOf(session.id)).toBe(seq);
    expect(kinds(entriesOf(t, session.id)).slice(-2)).toEqual(['tool_result:cancelled', 'failed']);
    await expect(again.send('more')).rejects.toMatchObject({ code: 'E_SESSION_STATE' });
    expect(
      eventsOf(t, session.id)
        .filter((e) => e.type === 'session.status')
        .at(-1),
    ).toMatchObject({
      payload: { status: 'cancelled' },
    });
  });
});
