import { afterEach, describe, expect, it } from 'vitest';
import { testEngine, type TestEngine } from '../helpers/workspace.ts';
import { countingTool } from '../helpers/tools.ts';
import { readSession } from '../../src/engine/session-view.ts';
import { App } from '../../src/app/app.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import type { Entry } from '../../src/core/entries.ts';
import { ManualClock, settle, until } from '../helpers/manual-clock.ts';

/**
 * Races and edges: cancels while work is in flight, timeouts that fire mid-step, two attaches of one session,
 * answers that arrive while other calls are pending. Each of these was a real bug once.
 */
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
async function setup(...args: Parameters<typeof testEngine>): Promise<TestEngine> {
  const t = await testEngine(...args);
  cleanups.push(() => t.close());
  return t;
}
const kinds = (entries: readonly Entry[]): string[] =>
  entries.map((e) => (e.kind === 'tool_result' ? `tool_result:${e.payload.status}` : e.kind));

describe('engine edges', () => {
  it('two attaches of one session in one process share one runtime, so no effect runs twice', async () => {
    const charge = countingTool('charge', { effect: 'effectful' });
    const clock = new ManualClock();
    const t = await setup(
      [
        {
          id: 'solo',
          description: 'Solo.',
          model: 'scripted/slow',
          tools: ['charge'],
          script: [{ when: '.', steps: [{ call: 'charge', args: { n: 1 } }, { reply: 'done' }] }],
        },
      ],
      { tools: [charge], clock },
    );
    const first = t.engine.start({ agent: 'solo', message: 'go', source: 'api', options: t.options() });
    await clock.advance(50); // the slow model is still thinking
    first.detach(); // as if its process died: the session is running, nobody drives it
    const workspace = await loadWorkspace(t.ws.dir, { extraTools: [charge] });
    const otherApp = new App({ workspace, clock });
    const other = otherApp.engine;
    cleanups.push(() => otherApp.close());
    const [adoption, attached] = await Promise.all([other.adoptOrphans(), other.attach(first.id)]);
    expect(adoption.adopted).toEqual([attached]);
    const done = attached.idle();
    await clock.advance(2_000);
    expect(await done).toBe('finished');
    expect(charge.calls).toHaveLength(1);
    expect(other.store.calls.modelCalls({ session: first.id }).filter((c) => c.status === 'ok')).toHaveLength(2);
  });

  it('cancelling a session whose effectful call was decided but never started does not start it', async () => {
    const charge = countingTool('charge', { effect: 'effectful' });
    const t = await setup(
      [
        {
          id: 'solo',
          description: 'Solo.',
          tools: ['charge'],
          script: [{ when: '.', steps: [{ call: 'charge', args: { n: 1 } }, { reply: 'done' }] }],
        },
      ],
      { tools: [charge] },
    );
    // Stop right after the decide commit, before the call is marked as started.
    let stopped = false;
    t.engine.store.onCommit((events) => {
      if (!stopped && events.some((e) => e.type === 'entry' && e.kind === 'tool_call')) {
        stopped = true;
        t.engine.get(events[0]!.session!)?.detach();
      }
    });
    const session = t.engine.start({ agent: 'solo', message: 'go', source: 'api', options: t.options() });
    await until(() => stopped, 'the decide commit');
    await settle();
    const again = await t.engine.attach(session.id);
    await again.cancel();
    await settle();
    expect(charge.calls).toHaveLength(0);
    expect(kinds(readSession(t.engine.store, session.id).conversations[0]!.entries)).toEqual([
      'user_message',
      'tool_call',
      'waiting',
      'tool_result:cancelled',
      'failed',
    ]);
  });

  it('a delegation timeout while the child is thinking cancels the child and the caller goes on', async () => {
    const clock = new ManualClock();
    const t = await setup(
      [
        {
          id: 'lead',
          description: 'Lead.',
          agents: ['worker'],
          policies: { delegation_timeout_ms: 100 },
          script: [{ when: '.', steps: [{ delegate: 'worker', message: 'count' }, { reply: 'lead got: {{result}}' }] }],
        },
        {
          id: 'worker',
          description: 'Worker.',
          model: 'scripted/slow',
          script: [{ when: '.', steps: [{ reply: 'one two' }] }],
        },
      ],
      { clock },
    );
    const session = t.engine.start({ agent: 'lead', message: 'go', source: 'api', options: t.options() });
    await clock.advance(100); // the delegation times out while the child's slow model (300 ms) still thinks
    expect(await session.idle()).toBe('finished');
    await clock.advance(400); // the child's model answers now; its answer must be dropped, not crash the session
    expect(session.error).toBeUndefined();
    const view = readSession(t.engine.store, session.id);
    expect(view.session.status).toBe('finished');
    expect(session.answer).toBe('lead got: could not help (no answer within 100 ms)');
    expect(kinds(view.conversations[1]!.entries)).toEqual(['user_message', 'failed']);
  });

  it('a cancel writes the end of every stack and the cancelled status in one commit', async () => {
    const clock = new ManualClock();
    const t = await setup(
      [
        {
          id: 'lead',
          description: 'Lead.',
          model: 'scripted/slow',
          agents: ['worker'],
          script: [{ when: '.', steps: [{ delegate: 'worker', message: 'go' }, { reply: 'done' }] }],
        },
        {
          id: 'worker',
          description: 'Worker.',
          model: 'scripted/slow',
          script: [{ when: '.', steps: [{ reply: 'ok' }] }],
        },
      ],
      { clock },
    );
    const session = t.engine.start({ agent: 'lead', message: 'go', source: 'api', options: t.options() });
    await clock.advance(300); // the lead's slow model delegates; the worker's is thinking
    expect(readSession(t.engine.store, session.id).conversations).toHaveLength(2);
    let statusSeq = 0;
    let lastEntrySeq = 0;
    t.engine.store.onCommit((events) => {
      for (const e of events) {
        if (e.type === 'session.status' && e.payload.status === 'cancelled') statusSeq = e.seq;
        if (e.type === 'entry') lastEntrySeq = Math.max(lastEntrySeq, e.seq);
      }
    });
    await session.cancel();
    expect(await session.idle()).toBe('cancelled');
    const view = readSession(t.engine.store, session.id);
    expect(view.session.status).toBe('cancelled');
    expect(view.conversations.map((c) => c.phase)).toEqual(['failed', 'failed']);
    expect(statusSeq).toBeGreaterThan(lastEntrySeq);
  });

  it('an answered question does not keep the session "waiting" while another call of the turn failed', async () => {
    const t = await setup([
      {
        id: 'lead',
        description: 'Lead.',
        agents: ['worker'],
        script: [
          {
            when: '.',
            steps: [
              { parallel: [{ delegate: 'worker', message: 'count' }, { ask: 'Which city?' }] },
              { reply: 'done {{answer}}' },
            ],
          },
        ],
      },
      { id: 'worker', description: 'Worker.', script: [{ when: '.', steps: [{ reply: 'one' }] }] },
    ]);
    const session = t.engine.start({
      agent: 'lead',
      message: 'go',
      source: 'api',
      options: t.options({ approval: 'ask', maxSteps: 1 }),
    });
    expect(await session.idle()).toBe('waiting');
    await session.respond(session.pendingQuestions()[0]!.callId, 'Paris');
    // The child hit the session's step budget: a failure to resume, not a question.
    expect(await session.idle()).toBe('failed');
    expect(session.pendingQuestions()).toEqual([]);
  });

  it('the strict dedup policy also catches a repeat inside one response', async () => {
    const pay = countingTool('pay', { effect: 'effectful', dedup: 'strict' });
    const t = await setup(
      [
        {
          id: 'w',
          description: 'W.',
          tools: ['pay'],
          script: [
            {
              when: '.',
              steps: [
                {
                  parallel: [
                    { call: 'pay', args: { n: 5 } },
                    { call: 'pay', args: { n: 5 } },
                  ],
                },
                { reply: 'ok' },
              ],
            },
          ],
        },
      ],
      { tools: [pay] },
    );
    const session = t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options() });
    await session.idle();
    expect(pay.calls).toHaveLength(1);
    expect(kinds(readSession(t.engine.store, session.id).conversations[0]!.entries)).toContain('tool_result:skipped');
  });

  it('the model timeout counts the call, not the wait for a slot of the provider', async () => {
    const t = await setup(
      [
        {
          id: 'lead',
          description: 'Lead.',
          agents: ['w'],
          script: [
            {
              when: '.',
              steps: [
                {
                  parallel: [
                    { delegate: 'w', message: 'a' },
                    { delegate: 'w', message: 'b' },
                    { delegate: 'w', message: 'c' },
                  ],
                },
                { reply: '{{result}}' },
              ],
            },
          ],
        },
        {
          id: 'w',
          description: 'W.',
          model: 'scripted/slow',
          policies: { model_timeout_ms: 700 },
          script: [{ when: '.', steps: [{ reply: 'ok' }] }],
        },
      ],
      { files: { 'p2tui.yaml': 'providers:\n  scripted:\n    concurrency: 1\n' } },
    );
    const session = t.engine.start({ agent: 'lead', message: 'go', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('finished');
    expect(session.answer).toBe('ok; ok; ok');
  });

  it('an effectful tool that times out is settled as unknown: it may have taken effect', async () => {
    const hang = countingTool('transfer', { effect: 'effectful', delayMs: () => 10_000, timeoutMs: 40 });
    const t = await setup(
      [
        {
          id: 'w',
          description: 'W.',
          tools: ['transfer'],
          script: [{ when: '.', steps: [{ call: 'transfer', args: {} }, { reply: '{{result}}' }] }],
        },
      ],
      { tools: [hang] },
    );
    const session = t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options() });
    await session.idle();
    const result = readSession(t.engine.store, session.id).conversations[0]!.entries.find(
      (e) => e.kind === 'tool_result',
    );
    expect(result).toMatchObject({
      payload: {
        status: 'unknown',
        error: expect.stringMatching(/timed out after 40 ms while running; it may or may not have taken effect/),
      },
    });
  });
});
