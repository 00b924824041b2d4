import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../../src/core/events.ts';
import type { IntentRow } from '../../../src/store/calls.ts';
import type { CompleteOptions, ModelProvider, ModelRequest, ModelResponse } from '../../../src/models/provider.ts';
import { ScriptedProvider } from '../../../src/models/scripted/provider.ts';
import { countingTool } from '../../helpers/tools.ts';
import { entriesOf, eventsOf, kinds, setup, start } from './harness.ts';

/**
 * Model steps (src/engine/session/model-steps.ts): the budgets checked before a step, the model called within the
 * persona's timeout (on the engine's clock), a failure recorded as a failed entry, an answer dropped when the step
 * was stopped meanwhile, and the decide commit that records the call with its entries and intents.
 */

/** Never answers its first call (until the call is aborted); answers like the simulator after that. */
class HangOnceProvider implements ModelProvider {
  readonly id = 'hang';
  readonly simulated = true;
  calls = 0;
  aborted = 0;
  private readonly inner = new ScriptedProvider();
  async complete(request: ModelRequest, options: CompleteOptions): Promise<ModelResponse> {
    this.calls += 1;
    if (this.calls === 1) {
      await new Promise<never>((_, reject) =>
        options.signal.addEventListener(
          'abort',
          () => {
            this.aborted += 1;
            reject(options.signal.reason as Error);
          },
          { once: true },
        ),
      );
    }
    return this.inner.complete(request, options);
  }
}

const modelCallEvents = (t: Parameters<typeof eventsOf>[0], session: string) =>
  eventsOf(t, session).flatMap((e) => (e.type === 'model.call' ? [e] : []));

describe('the model timeout', () => {
  it("fails the step with E_MODEL_TIMEOUT at the persona's timeout on the clock; the failed call uses no budget and a retry succeeds", async () => {
    const provider = new HangOnceProvider();
    const t = await setup(
      [
        {
          id: 'w',
          description: 'W.',
          model: 'hang/x',
          policies: { model_timeout_ms: 5_000 },
          script: [{ when: '.', steps: [{ reply: 'fine now' }] }],
        },
      ],
      { load: { configure: (providers) => providers.register(provider) } },
    );
    const session = start(t, 'w', 'go', { maxSteps: 1 });
    await t.clock.advance(4_999);
    expect(session.currentStatus).toBe('running');
    expect(kinds(entriesOf(t, session.id))).toEqual(['user_message']);
    await t.clock.advance(1);
    expect(await session.idle()).toBe('failed');
    expect(provider.aborted).toBe(1);
    expect(entriesOf(t, session.id).at(-1)).toMatchObject({
      kind: 'failed',
      payload: {
        code: 'E_MODEL_TIMEOUT',
        message: 'hang/x did not answer within 5000 ms',
        retryable: true,
        hint: `Resume to try again: p2tui session resume ${session.id}`,
      },
    });
    expect(t.engine.store.calls.modelCalls({ session: session.id })).toMatchObject([
      { status: 'error', error: 'hang/x did not answer within 5000 ms', latencyMs: 5_000, response: null },
    ]);

    expect(session.retry()).toBe(1);
    expect(await session.idle()).toBe('finished');
    expect(session.answer).toBe('fine now');
    expect(kinds(entriesOf(t, session.id))).toEqual(['user_message', 'failed', 'assistant_message', 'finished']);
    expect(modelCallEvents(t, session.id).map((e) => e.payload.status)).toEqual(['error', 'ok']);
  });
});

describe('step budgets', () => {
  const tick = () => countingTool('tick');
  const worker = (policies: Record<string, unknown> = {}) => ({
    id: 'worker',
    description: 'Worker.',
    tools: ['tick'],
    policies,
    script: [{ when: '.', steps: [{ call: 'tick', args: { n: '{{round}}' }, repeat: 2 }, { reply: 'ticked' }] }],
  });
  const lead = {
    id: 'lead',
    description: 'Lead.',
    agents: ['worker'],
    script: [{ when: '.', steps: [{ delegate: 'worker', message: 'tick' }, { reply: 'lead: {{result}}' }] }],
  };

  it("counts model calls over every conversation; the step past the session's budget fails resumably without calling the model", async () => {
    const tool = tick();
    const t = await setup([lead, worker()], { tools: [tool] });
    const session = start(t, 'lead', 'go', { maxSteps: 3 });
    expect(await session.idle()).toBe('failed');
    // lead 1 (delegate) + worker 2 (tick, tick) = 3; the worker's third step is refused.
    expect(t.engine.store.calls.modelCalls({ session: session.id })).toHaveLength(3);
    expect(tool.calls).toHaveLength(2);
    expect(entriesOf(t, session.id, 'worker').at(-1)).toMatchObject({
      kind: 'failed',
      payload: {
        code: 'E_STEP_BUDGET',
        message: 'the session used its step budget of 3 model calls',
        retryable: true,
        hint: `Resume with a larger budget: p2tui session resume ${session.id} --max-steps 6`,
      },
    });
    // A resumable failure does not pop back: the lead still waits for its worker.
    expect(kinds(entriesOf(t, session.id, 'lead'))).toEqual(['user_message', 'agent_call', 'waiting']);
    expect(t.engine.store.sessions.require(session.id)).toMatchObject({
      status: 'failed',
      statusReason: 'worker failed; resumable',
    });

    session.detach();
    const resumed = await t.engine.attach(session.id, { retryFailed: true, maxSteps: 5 });
    expect(await resumed.idle()).toBe('finished');
    expect(resumed.answer).toBe('lead: ticked');
    expect(t.engine.store.calls.modelCalls({ session: session.id })).toHaveLength(5);
  });

  it("a persona's max_steps ends its conversation for good, and its caller hears why", async () => {
    const tool = tick();
    const t = await setup([lead, worker({ max_steps: 2 })], { tools: [tool] });
    const session = start(t, 'lead');
    expect(await session.idle()).toBe('finished');
    const message = 'worker reached its limit of 2 model calls in one conversation (policies.max_steps)';
    expect(entriesOf(t, session.id, 'worker').at(-1)).toMatchObject({
      kind: 'failed',
      payload: { code: 'E_STEP_BUDGET', message, retryable: false },
    });
    expect(entriesOf(t, session.id, 'lead').find((e) => e.kind === 'agent_result')).toMatchObject({
      payload: { agent: 'worker', status: 'failed', text: '', error: message },
    });
    expect(session.retry()).toBe(0);
  });
});

describe('a step stopped while the model works', () => {
  const slow = {
    id: 'w',
    description: 'W.',
    model: 'scripted/slow',
    script: [{ when: '.', steps: [{ reply: 'slow answer' }] }],
  };

  it('an answer cut off by a detach is not recorded, so it uses none of the budget the resume takes the step again with', async () => {
    const t = await setup([slow]);
    const session = start(t, 'w', 'go', { maxSteps: 1 });
    await t.clock.advance(100);
    session.detach();
    const resumed = await t.engine.attach(session.id);
    await t.clock.advance(300);
    expect(await resumed.idle()).toBe('finished');
    expect(resumed.answer).toBe('slow answer');
    expect(t.engine.store.calls.modelCalls({ session: session.id }).map((c) => c.status)).toEqual(['ok']);
  });

  it('a cancel drops the answer: no model call is recorded and the conversation ends cancelled', async () => {
    const t = await setup([slow]);
    const session = start(t, 'w');
    await t.clock.advance(100);
    await session.cancel();
    await t.clock.advance(300);
    expect(await session.idle()).toBe('cancelled');
    expect(t.engine.store.calls.modelCalls({ session: session.id })).toEqual([]);
    expect(kinds(entriesOf(t, session.id))).toEqual(['user_message', 'failed']);
  });
});

describe('the decide commit', () => {
  it('records the model call, the entries of its response and an intent per call in one transaction, before any call runs', async () => {
    const lookup = countingTool('lookup');
    const t = await setup(
      [
        {
          id: 'w',
          description: 'W.',
          tools: ['lookup'],
          script: [
            {
              when: '.',
              steps: [
                {
                  parallel: [
                    { call: 'lookup', args: { n: 1 } },
                    { call: 'lookup', args: { n: 2 } },
                  ],
                  say: 'looking',
                },
                { reply: 'done' },
              ],
            },
          ],
        },
      ],
      { tools: [lookup] },
    );
    let decide: { events: StoredEvent[]; intents: (IntentRow | undefined)[]; runs: number } | undefined;
    t.engine.store.onCommit((events) => {
      if (decide !== undefined || !events.some((e) => e.type === 'entry' && e.kind === 'tool_call')) return;
      const keys = events.flatMap((e) => (e.type === 'entry' && e.kind === 'tool_call' ? [e.payload.key] : []));
      decide = {
        events: [...events],
        intents: keys.map((k) => t.engine.store.calls.intent(k)),
        runs: lookup.calls.length,
      };
    });
    const session = start(t, 'w');
    expect(await session.idle()).toBe('finished');
    const batch = decide!;
    expect(batch.events.map((e) => (e.type === 'entry' ? e.kind : e.type))).toEqual([
      'model.call',
      'assistant_message',
      'tool_call',
      'tool_call',
      'waiting',
    ]);
    expect(batch.runs).toBe(0);
    expect(batch.intents.map((i) => [i?.kind, i?.tool, i?.status, i?.args])).toEqual([
      ['tool', 'lookup', 'pending', { n: 1 }],
      ['tool', 'lookup', 'pending', { n: 2 }],
    ]);
    const modelCallId = batch.events[0]!.type === 'model.call' ? batch.events[0]!.payload.id : '';
    expect(t.engine.store.calls.modelCalls({ session: session.id }).map((c) => c.id)).toContain(modelCallId);
    expect(lookup.calls).toHaveLength(2);
  });
});
