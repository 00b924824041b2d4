import { describe, expect, it } from 'vitest';
import { until } from '../../helpers/manual-clock.ts';
import { entriesOf, eventsOf, gatedTool, kinds, setup, start, toolResults } from './harness.ts';

/**
 * Approvals (src/engine/session/approvals.ts): a tool call a persona guards with approve_tools waits for a person's
 * yes before it runs; the question and the answer are events, and a timeout or the session's policy decides when
 * nobody answers.
 */

const GUARD = 'solo calls charge {"n":1} (policies.approve_tools in personas/solo.yaml)';

async function guarded(policies: Record<string, unknown> = {}) {
  const charge = gatedTool('charge', { effect: 'effectful' });
  const t = await setup(
    [
      {
        id: 'solo',
        description: 'Solo.',
        tools: ['charge'],
        policies: { approve_tools: ['charge'], ...policies },
        script: [{ when: '.', steps: [{ call: 'charge', args: { n: 1 } }, { reply: 'done: {{result}}' }] }],
      },
    ],
    { tools: [charge] },
  );
  return { t, charge };
}

function decisions(t: Parameters<typeof eventsOf>[0], session: string) {
  return eventsOf(t, session).flatMap((e) =>
    e.type === 'approval.decided' ? [{ approved: e.payload.approved, by: e.payload.by, text: e.payload.text }] : [],
  );
}

describe('approvals', () => {
  it('a guarded call waits unstarted (its intent still pending) until a yes; then it runs once, knowing it was approved', async () => {
    const { t, charge } = await guarded();
    const session = start(t, 'solo', 'go', { approval: 'ask' });
    expect(await session.idle()).toBe('waiting');
    const [question] = session.pendingQuestions();
    expect(question).toMatchObject({ agent: 'solo', question: `approve charge? ${GUARD} (yes/no)` });
    const call = entriesOf(t, session.id).find((e) => e.kind === 'tool_call');
    if (call?.kind !== 'tool_call') throw new Error('no tool call');
    expect(question!.callId).toBe(call.payload.callId);
    // Not started: not marked running, so a crash now could never leave it "unknown".
    expect(t.engine.store.calls.intent(call.payload.key)?.status).toBe('pending');
    expect(charge.runs).toHaveLength(0);
    const requested = eventsOf(t, session.id).filter((e) => e.type === 'approval.requested');
    expect(requested.map((e) => e.type === 'approval.requested' && [e.payload.key, e.payload.tool])).toEqual([
      [call.payload.key, 'charge'],
    ]);

    await session.respond(question!.callId, 'yes');
    await until(() => charge.runs.length === 1, 'the approved call to start');
    expect(charge.runs[0]).toMatchObject({ approved: true, key: call.payload.key });
    charge.runs[0]!.finish();
    expect(await session.idle()).toBe('finished');
    expect(charge.runs).toHaveLength(1);
    expect(toolResults(entriesOf(t, session.id)).map((r) => r.status)).toEqual(['ok']);
    expect(decisions(t, session.id)).toEqual([{ approved: true, by: 'user', text: 'yes' }]);
  });

  it('a no settles the call as "not run: …" with the answer and the reason, and the tool never runs', async () => {
    const { t, charge } = await guarded();
    const session = start(t, 'solo', 'go', { approval: 'ask' });
    expect(await session.idle()).toBe('waiting');
    await session.respond(session.pendingQuestions()[0]!.callId, 'nope');
    expect(await session.idle()).toBe('finished');
    expect(charge.runs).toHaveLength(0);
    const [result] = toolResults(entriesOf(t, session.id));
    expect(result).toMatchObject({
      status: 'error',
      error: `not run: the user did not approve it (answered 'nope'): ${GUARD}`,
    });
    expect(decisions(t, session.id)).toEqual([{ approved: false, by: 'user', text: 'nope' }]);
    expect(session.pendingQuestions()).toEqual([]);
  });

  it('an unanswered approval is refused at the user timeout (manual clock), and a late answer finds nothing to decide', async () => {
    const { t, charge } = await guarded({ user_timeout_ms: 60_000 });
    const session = start(t, 'solo', 'go', { approval: 'ask' });
    expect(await session.idle()).toBe('waiting');
    const { callId } = session.pendingQuestions()[0]!;
    await t.clock.advance(59_999);
    expect(session.currentStatus).toBe('waiting');
    expect(decisions(t, session.id)).toEqual([]);
    await t.clock.advance(1);
    expect(await session.idle()).toBe('finished');
    expect(charge.runs).toHaveLength(0);
    expect(toolResults(entriesOf(t, session.id))[0]).toMatchObject({
      status: 'error',
      error: `not run: nobody approved it within 60 s: ${GUARD}`,
    });
    expect(decisions(t, session.id)).toEqual([{ approved: false, by: 'timeout', text: 'no answer within 60 s' }]);
    await expect(session.respond(callId, 'yes')).rejects.toMatchObject({ code: 'E_SESSION_STATE' });
    expect(charge.runs).toHaveLength(0);
    expect(decisions(t, session.id)).toHaveLength(1);
  });

  it('an unattended session is answered by its approval policy: approve runs the call as approved, nobody is asked', async () => {
    const { t, charge } = await guarded();
    const session = start(t, 'solo', 'go', { approval: 'approve' });
    await until(() => charge.runs.length === 1, 'the call approved by policy to start');
    expect(charge.runs[0]!.approved).toBe(true);
    charge.runs[0]!.finish();
    expect(await session.idle()).toBe('finished');
    expect(eventsOf(t, session.id).filter((e) => e.type === 'approval.requested')).toEqual([]);
    expect(decisions(t, session.id)).toEqual([{ approved: true, by: 'policy', text: 'approve' }]);
  });

  it('a tool that cannot tell whether a call needs approval (its check throws) is asked about, not run unasked', async () => {
    const charge = gatedTool('charge', { effect: 'effectful' });
    const checked = Object.assign(charge, {
      approval: () => {
        throw new Error('wallet service unreachable');
      },
    });
    const t = await setup(
      [
        {
          id: 'solo',
          description: 'Solo.',
          tools: ['charge'],
          script: [{ when: '.', steps: [{ call: 'charge', args: { n: 1 } }, { reply: 'done: {{result}}' }] }],
        },
      ],
      { tools: [checked] },
    );
    const session = start(t, 'solo', 'go', { approval: 'ask' });
    expect(await session.idle()).toBe('waiting');
    const [question] = session.pendingQuestions();
    expect(question?.question).toContain(
      'charge could not tell whether this call needs approval (wallet service unreachable)',
    );
    expect(charge.runs).toHaveLength(0);
    await session.respond(question!.callId, 'no');
    expect(await session.idle()).toBe('finished');
    expect(charge.runs).toHaveLength(0);
  });

  it('a cancel while a call waits for approval settles it as cancelled; it never runs and nothing is left to answer', async () => {
    const { t, charge } = await guarded({ user_timeout_ms: 60_000 });
    const session = start(t, 'solo', 'go', { approval: 'ask' });
    expect(await session.idle()).toBe('waiting');
    const { callId } = session.pendingQuestions()[0]!;
    await session.cancel();
    expect(await session.idle()).toBe('cancelled');
    expect(session.pendingQuestions()).toEqual([]);
    expect(kinds(entriesOf(t, session.id))).toEqual([
      'user_message',
      'tool_call',
      'waiting',
      'tool_result:cancelled',
      'failed',
    ]);
    await t.clock.advance(120_000); // past the approval timeout: nothing decides it later
    expect(charge.runs).toHaveLength(0);
    expect(decisions(t, session.id)).toEqual([]);
    await expect(session.respond(callId, 'yes')).rejects.toMatchObject({ code: 'E_SESSION_STATE' });
  });

  it('of two answers given at once, the first decides what runs: the tool runs at most once', async () => {
    for (const [answers, runs] of [
      [['yes', 'no'], 1],
      [['no', 'yes'], 0],
    ] as const) {
      const { t, charge } = await guarded();
      const session = start(t, 'solo', 'go', { approval: 'ask' });
      expect(await session.idle()).toBe('waiting');
      const { callId } = session.pendingQuestions()[0]!;
      await Promise.allSettled(answers.map((a) => session.respond(callId, a)));
      if (runs === 1) {
        await until(() => charge.runs.length === 1, 'the approved call to start');
        charge.runs[0]!.finish();
      }
      expect(await session.idle()).toBe('finished');
      expect(charge.runs).toHaveLength(runs);
      expect(toolResults(entriesOf(t, session.id)).map((r) => r.status)).toEqual([runs === 1 ? 'ok' : 'error']);
    }
  });

  // Once a bug: the first answer's claim took the question off before its decision was committed, so the second
  // answer found neither a waiting question nor a decision and recorded a second, contradicting one.
  it('of two answers given at once, the second is refused and the log keeps one decision', async () => {
    const { t, charge } = await guarded();
    const session = start(t, 'solo', 'go', { approval: 'ask' });
    expect(await session.idle()).toBe('waiting');
    const { callId } = session.pendingQuestions()[0]!;
    const [first, second] = await Promise.allSettled([session.respond(callId, 'no'), session.respond(callId, 'yes')]);
    expect(await session.idle()).toBe('finished');
    expect(first.status).toBe('fulfilled');
    expect(second).toMatchObject({ status: 'rejected', reason: { code: 'E_SESSION_STATE' } });
    expect(charge.runs).toHaveLength(0);
    expect(decisions(t, session.id)).toEqual([{ approved: false, by: 'user', text: 'no' }]);
  });
});
