import { describe, expect, it } from 'vitest';
import { until } from '../../helpers/manual-clock.ts';
import { entriesOf, gatedTool, kinds, setup, start, toolResults } from './harness.ts';

/**
 * Settlement (src/engine/session/settlement.ts): results stored as they arrive and appended in call order, a cancel
 * settling everything outstanding, and the timers (a question's deadline, a delegation's timeout) that settle what
 * nobody answered.
 */

const outputN = (r: { output?: unknown }): unknown => (r.output as { n?: number } | undefined)?.n;

describe('results in call order', () => {
  it('stores each result as it arrives, but appends it only once every earlier call of the turn has its result', async () => {
    const work = gatedTool('work');
    const t = await setup(
      [
        {
          id: 'w',
          description: 'W.',
          tools: ['work'],
          script: [
            {
              when: '.',
              steps: [
                {
                  parallel: [
                    { call: 'work', args: { n: 1 } },
                    { call: 'work', args: { n: 2 } },
                    { call: 'work', args: { n: 3 } },
                  ],
                },
                { reply: 'done' },
              ],
            },
          ],
        },
      ],
      { tools: [work] },
    );
    const session = start(t, 'w');
    await until(() => work.runs.length === 3, 'three calls running');
    const { store } = t.engine;
    const results = () => toolResults(entriesOf(t, session.id)).map(outputN);

    work.runOf(3).finish();
    await t.clock.advance(0);
    // Durable at once (a crash now loses nothing), yet not in the transcript ahead of calls 1 and 2.
    expect(store.calls.intent(work.runOf(3).key)).toMatchObject({
      status: 'done',
      result: { kind: 'tool_result', payload: { status: 'ok', output: { n: 3 } } },
    });
    expect(results()).toEqual([]);
    expect(session.currentStatus).toBe('running');

    work.runOf(1).finish();
    await t.clock.advance(0);
    expect(results()).toEqual([1]);

    work.runOf(2).finish();
    expect(await session.idle()).toBe('finished');
    expect(results()).toEqual([1, 2, 3]);
    const entries = entriesOf(t, session.id);
    const callOrder = entries.flatMap((e) => (e.kind === 'tool_call' ? [e.payload.callId] : []));
    expect(toolResults(entries).map((r) => r.callId)).toEqual(callOrder);
  });
});

describe('cancel', () => {
  it('settles every outstanding call of a turn as what it was, in call order, and takes no late result', async () => {
    const scan = gatedTool('scan');
    const charge = gatedTool('charge', { effect: 'effectful' });
    const t = await setup(
      [
        {
          id: 'lead',
          description: 'Lead.',
          tools: ['scan', 'charge'],
          agents: ['child'],
          script: [
            {
              when: '.',
              steps: [
                {
                  parallel: [
                    { call: 'scan', args: { n: 1 } },
                    { call: 'charge', args: { n: 2 } },
                    { delegate: 'child', message: 'help' },
                    { ask: 'Which city?' },
                  ],
                },
                { reply: 'never' },
              ],
            },
          ],
        },
        // A slow model on the manual clock: the child is still thinking when the cancel comes.
        {
          id: 'child',
          description: 'Child.',
          model: 'scripted/slow',
          script: [{ when: '.', steps: [{ reply: 'hi' }] }],
        },
      ],
      { tools: [scan, charge] },
    );
    const session = start(t, 'lead', 'go', { approval: 'ask' });
    await until(() => scan.runs.length === 1 && charge.runs.length === 1, 'both tools running');
    await session.cancel();
    expect(await session.idle()).toBe('cancelled');

    const lead = entriesOf(t, session.id, 'lead');
    expect(kinds(lead).slice(-5)).toEqual([
      'tool_result:cancelled',
      'tool_result:unknown',
      'agent_result:cancelled',
      'user_response',
      'failed',
    ]);
    const [scanResult, chargeResult] = toolResults(lead);
    expect(scanResult).toMatchObject({ tool: 'scan', status: 'cancelled' });
    // The effectful call had started: it may have taken effect, so it is not called cancelled.
    expect(chargeResult).toMatchObject({
      tool: 'charge',
      error: 'cancelled by the user while it was running; it may or may not have taken effect',
    });
    expect(lead.find((e) => e.kind === 'user_response')).toMatchObject({
      payload: { text: '(cancelled: cancelled by the user)', by: 'policy' },
    });
    expect(lead.at(-1)).toMatchObject({ payload: { code: 'E_CANCELLED', retryable: false } });
    expect(kinds(entriesOf(t, session.id, 'child'))).toEqual(['user_message', 'failed']);
    expect(session.pendingQuestions()).toEqual([]);
    expect(t.engine.store.calls.intent(charge.runOf(2).key)?.result).toMatchObject({ payload: { status: 'unknown' } });

    // The tools end and the child's model answers after the cancel: none of it is written.
    const seq = t.engine.store.log.lastSeqOf(session.id);
    scan.runOf(1).finish();
    charge.runOf(2).finish();
    await t.clock.advance(1_000);
    expect(t.engine.store.log.lastSeqOf(session.id)).toBe(seq);
    expect(t.engine.store.calls.intent(charge.runOf(2).key)?.result).toMatchObject({ payload: { status: 'unknown' } });
  });
});

describe('timers', () => {
  const asker = {
    id: 'asker',
    description: 'Asks.',
    policies: { user_timeout_ms: 60_000 },
    script: [{ when: '.', steps: [{ ask: 'Which city?' }, { reply: 'city: {{answer}}' }] }],
  };

  it("an answer that comes before the question's deadline stays the only answer: the deadline passing writes nothing", async () => {
    const t = await setup([asker]);
    const session = start(t, 'asker', 'go', { approval: 'ask' });
    expect(await session.idle()).toBe('waiting');
    await session.respond(session.pendingQuestions()[0]!.callId, 'Oslo');
    expect(await session.idle()).toBe('finished');
    const seq = t.engine.store.log.lastSeqOf(session.id);
    await t.clock.advance(120_000);
    expect(t.engine.store.log.lastSeqOf(session.id)).toBe(seq);
    const responses = entriesOf(t, session.id).filter((e) => e.kind === 'user_response');
    expect(responses.map((e) => e.kind === 'user_response' && [e.payload.by, e.payload.text])).toEqual([
      ['user', 'Oslo'],
    ]);
  });

  it('a question keeps its deadline across a restart: the new runtime waits only for the time left', async () => {
    const t = await setup([asker]);
    const session = start(t, 'asker', 'go', { approval: 'ask' });
    expect(await session.idle()).toBe('waiting');
    const [asked] = session.pendingQuestions();
    await t.clock.advance(40_000);
    session.detach();
    const resumed = await t.engine.attach(session.id);
    expect(await resumed.idle()).toBe('waiting');
    expect(resumed.pendingQuestions()).toEqual([asked]);
    await t.clock.advance(19_999);
    expect(resumed.currentStatus).toBe('waiting');
    await t.clock.advance(1);
    expect(await resumed.idle()).toBe('finished');
    expect(entriesOf(t, session.id).find((e) => e.kind === 'user_response')).toMatchObject({
      payload: { by: 'timeout', text: 'No answer arrived within 60 s; proceed without it.' },
    });
  });

  it("a delegation timeout answers the caller and cancels the child with the child's running call", async () => {
    const work = gatedTool('work');
    const t = await setup(
      [
        {
          id: 'lead',
          description: 'Lead.',
          agents: ['child'],
          policies: { delegation_timeout_ms: 1_000 },
          script: [{ when: '.', steps: [{ delegate: 'child', message: 'work' }, { reply: 'lead: {{result}}' }] }],
        },
        {
          id: 'child',
          description: 'Child.',
          tools: ['work'],
          script: [{ when: '.', steps: [{ call: 'work', args: { n: 1 } }, { reply: 'worked' }] }],
        },
      ],
      { tools: [work] },
    );
    const session = start(t, 'lead');
    await until(() => work.runs.length === 1, "the child's call to start");
    await t.clock.advance(999);
    expect(kinds(entriesOf(t, session.id, 'lead'))).not.toContain('agent_result:timeout');
    await t.clock.advance(1);
    expect(await session.idle()).toBe('finished');
    expect(entriesOf(t, session.id, 'lead').find((e) => e.kind === 'agent_result')).toMatchObject({
      payload: { agent: 'child', status: 'timeout', error: 'no answer within 1 s' },
    });
    const child = entriesOf(t, session.id, 'child');
    expect(kinds(child)).toEqual(['user_message', 'tool_call', 'waiting', 'tool_result:cancelled', 'failed']);
    expect(child.at(-1)).toMatchObject({
      payload: { code: 'E_CANCELLED', message: 'the delegating agent stopped waiting (timeout)' },
    });
    const seq = t.engine.store.log.lastSeqOf(session.id);
    work.runOf(1).finish();
    await t.clock.advance(0);
    expect(t.engine.store.log.lastSeqOf(session.id)).toBe(seq);
  });
});
