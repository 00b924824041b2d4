import { afterEach, describe, expect, it } from 'vitest';
import { testEngine, type TestEngine } from '../helpers/workspace.ts';
import { App } from '../../src/app/app.ts';
import { countingTool } from '../helpers/tools.ts';
import { readSession } from '../../src/engine/session-view.ts';
import { ProviderError } from '../../src/core/errors.ts';
import { ScriptedProvider } from '../../src/models/scripted/provider.ts';
import type { ModelProvider, ModelRequest, CompleteOptions, ModelResponse } from '../../src/models/provider.ts';
import type { Entry } from '../../src/core/entries.ts';
import { defineTool } from '../../src/tools/define.ts';
import { z } from 'zod';
import { countRows, withRawDb } from '../helpers/raw-db.ts';
import { ManualClock, settle, until } from '../helpers/manual-clock.ts';

const engines: TestEngine[] = [];
afterEach(() => {
  for (const e of engines.splice(0)) e.close();
});
async function setup(...args: Parameters<typeof testEngine>): Promise<TestEngine> {
  const t = await testEngine(...args);
  engines.push(t);
  return t;
}

/** Entries of one agent's conversations, as "kind" or "kind:detail". */
function kinds(entries: readonly Entry[]): string[] {
  return entries.map((e) => e.kind);
}

function entriesOf(t: TestEngine, session: string, agent: string, index = 0): Entry[] {
  const view = readSession(t.engine.store, session);
  const conv = view.conversations.filter((c) => c.row.agent === agent)[index];
  if (conv === undefined) throw new Error(`no conversation ${index} of ${agent}`);
  return [...conv.entries];
}

const coordinator = (agents: string[], script: unknown[] = [], policies: Record<string, unknown> = {}) => ({
  id: 'lead',
  description: 'Coordinator that delegates.',
  agents,
  script,
  policies,
});

describe('delegation', () => {
  it('pushes a child conversation, waits, pops its answer back, and calls the caller again to reason about it', async () => {
    const t = await setup([
      coordinator(
        ['worker'],
        [
          {
            when: '.',
            steps: [
              { delegate: 'worker', message: 'count to three' },
              { reply: 'The worker said: {{result}}. So we are done.' },
            ],
          },
        ],
      ),
      { id: 'worker', description: 'Worker.', script: [{ when: 'count', steps: [{ reply: 'one two three' }] }] },
    ]);
    const session = t.engine.start({ agent: 'lead', message: 'go', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('finished');
    const lead = entriesOf(t, session.id, 'lead');
    expect(kinds(lead)).toEqual([
      'user_message',
      'agent_call',
      'waiting',
      'agent_result',
      'assistant_message',
      'finished',
    ]);
    const child = entriesOf(t, session.id, 'worker');
    expect(kinds(child)).toEqual(['user_message', 'assistant_message', 'finished']);
    expect(lead[3]).toMatchObject({ kind: 'agent_result', payload: { status: 'ok', text: 'one two three' } });
    // The caller's model ran again with the result and produced its own answer (not an echo).
    expect(session.answer).toBe('The worker said: one two three. So we are done.');
    expect(t.engine.store.calls.modelCalls({ conversation: lead[0]!.conversation })).toHaveLength(2);
  });

  it('runs parallel delegations at once and resumes the caller only when all have answered', async () => {
    const slow = countingTool('slow_task', { delayMs: () => 80 });
    const t = await setup(
      [
        coordinator(
          ['a', 'b'],
          [
            {
              when: '.',
              steps: [
                {
                  parallel: [
                    { delegate: 'a', message: 'x' },
                    { delegate: 'b', message: 'y' },
                  ],
                },
                { reply: 'both: {{result}}' },
              ],
            },
          ],
        ),
        {
          id: 'a',
          description: 'A.',
          tools: ['slow_task'],
          script: [{ when: '.', steps: [{ call: 'slow_task', args: {} }, { reply: 'a done' }] }],
        },
        { id: 'b', description: 'B.', script: [{ when: '.', steps: [{ reply: 'b done' }] }] },
      ],
      { tools: [slow] },
    );
    const session = t.engine.start({ agent: 'lead', message: 'go', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('finished');
    const lead = entriesOf(t, session.id, 'lead');
    expect(kinds(lead)).toEqual([
      'user_message',
      'agent_call',
      'agent_call',
      'waiting',
      'agent_result',
      'agent_result',
      'assistant_message',
      'finished',
    ]);
    // b answered long before a, yet results are in call order and the caller waited for both.
    expect(lead.slice(4, 6).map((e) => (e.kind === 'agent_result' ? e.payload.agent : ''))).toEqual(['a', 'b']);
    expect(session.answer).toBe('both: a done; b done');
  });

  it('supports nested delegation and repeated delegation to the same agent (a new child each time)', async () => {
    const t = await setup([
      coordinator(
        ['mid'],
        [
          {
            when: '.',
            steps: [
              { delegate: 'mid', message: 'first' },
              { delegate: 'mid', message: 'second' },
              { reply: 'done: {{result}}' },
            ],
          },
        ],
      ),
      {
        id: 'mid',
        description: 'Mid.',
        agents: ['leaf'],
        script: [
          {
            when: '(?<what>first|second)',
            steps: [{ delegate: 'leaf', message: '{{what}}' }, { reply: 'mid got {{result}}' }],
          },
        ],
      },
      { id: 'leaf', description: 'Leaf.', script: [{ when: '(?<what>.+)', steps: [{ reply: 'leaf {{what}}' }] }] },
    ]);
    const session = t.engine.start({ agent: 'lead', message: 'go', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('finished');
    const view = readSession(t.engine.store, session.id);
    expect(view.conversations.map((c) => c.row.path)).toEqual([
      'lead',
      'lead/mid#1',
      'lead/mid#1/leaf#1',
      'lead/mid#2',
      'lead/mid#2/leaf#1',
    ]);
    expect(view.conversations.every((c) => c.phase === 'finished')).toBe(true);
    expect(session.answer).toBe('done: mid got leaf second');
  });

  it('reuses a finished child conversation when the persona asks for it', async () => {
    const t = await setup([
      coordinator(
        ['mid'],
        [
          {
            when: '.',
            steps: [{ delegate: 'mid', message: 'first' }, { delegate: 'mid', message: 'second' }, { reply: 'ok' }],
          },
        ],
        { reuse_children: true },
      ),
      { id: 'mid', description: 'Mid.', script: [{ when: '.', steps: [{ reply: 'heard {{task}}' }] }] },
    ]);
    const session = t.engine.start({ agent: 'lead', message: 'go', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('finished');
    const view = readSession(t.engine.store, session.id);
    const mids = view.conversations.filter((c) => c.row.agent === 'mid');
    expect(mids).toHaveLength(1);
    expect(kinds(mids[0]!.entries)).toEqual([
      'user_message',
      'assistant_message',
      'finished',
      'user_message',
      'assistant_message',
      'finished',
    ]);
  });

  it('ends a delegation cycle in a clear failed entry, which the caller hears about', async () => {
    const t = await setup([
      {
        id: 'ping',
        description: 'Ping.',
        agents: ['pong'],
        script: [{ when: '.', steps: [{ delegate: 'pong', message: 'hit' }, { reply: 'ping saw: {{result}}' }] }],
      },
      {
        id: 'pong',
        description: 'Pong.',
        agents: ['ping'],
        script: [{ when: '.', steps: [{ delegate: 'ping', message: 'back' }, { reply: 'pong saw: {{result}}' }] }],
      },
    ]);
    const session = t.engine.start({ agent: 'ping', message: 'go', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('finished');
    const refused = entriesOf(t, session.id, 'ping', 1);
    expect(refused.at(-1)).toMatchObject({
      kind: 'failed',
      payload: { code: 'E_DELEGATION_CYCLE', message: 'delegation cycle: ping → pong → ping' },
    });
    const pong = entriesOf(t, session.id, 'pong');
    expect(pong.find((e) => e.kind === 'agent_result')).toMatchObject({
      payload: { status: 'failed', error: 'delegation cycle: ping → pong → ping' },
    });
  });

  it('ends delegation past the depth limit in a failed entry', async () => {
    const chain = (id: string, next: string) => ({
      id,
      description: id,
      agents: [next],
      policies: { max_depth: 2 },
      script: [{ when: '.', steps: [{ delegate: next, message: 'go' }, { reply: '{{result}}' }] }],
    });
    const t = await setup([chain('a', 'b'), chain('b', 'c'), chain('c', 'd'), { id: 'd', description: 'd' }]);
    const session = t.engine.start({ agent: 'a', message: 'go', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('finished');
    const d = entriesOf(t, session.id, 'd');
    expect(d.at(-1)).toMatchObject({ kind: 'failed', payload: { code: 'E_DELEGATION_DEPTH' } });
  });

  it('a finished root conversation takes the next user message', async () => {
    const t = await setup([
      { id: 'echo', description: 'Echo.', script: [{ when: '(?<t>.+)', steps: [{ reply: 'you said {{t}}' }] }] },
    ]);
    const session = t.engine.start({ agent: 'echo', message: 'one', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('finished');
    await session.send('two');
    expect(await session.idle()).toBe('finished');
    expect(session.answer).toBe('you said two');
    await expect(Promise.all([session.send('three'), session.send('four')])).rejects.toMatchObject({
      code: 'E_CONVERSATION_BUSY',
    });
  });
});

describe('tools in a turn', () => {
  it('runs several tool calls of one response in parallel and appends their results in call order', async () => {
    const tool = countingTool('work', { delayMs: (args) => (args.n === 1 ? 80 : 5) });
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
                  ],
                  say: 'both at once',
                },
                { reply: '{{result}}' },
              ],
            },
          ],
        },
      ],
      { tools: [tool] },
    );
    const session = t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('finished');
    const entries = entriesOf(t, session.id, 'w');
    expect(kinds(entries)).toEqual([
      'user_message',
      'assistant_message',
      'tool_call',
      'tool_call',
      'waiting',
      'tool_result',
      'tool_result',
      'assistant_message',
      'finished',
    ]);
    expect(entries[1]).toMatchObject({ payload: { text: 'both at once' } });
    expect(
      entries.slice(5, 7).map((e) => (e.kind === 'tool_result' ? (e.payload.output as { n: number }).n : 0)),
    ).toEqual([1, 2]);
    // They overlapped: the slow one did not make the fast one wait to start.
    expect(tool.calls).toHaveLength(2);
  });

  it('sends invalid tool arguments back to the model as an error result and goes on', async () => {
    const tool = countingTool('work');
    const t = await setup(
      [
        {
          id: 'w',
          description: 'W.',
          tools: ['work'],
          script: [
            { when: '.', steps: [{ call: 'work', args: { n: 'not a number' } }, { reply: 'tool said: {{result}}' }] },
          ],
        },
      ],
      { tools: [tool] },
    );
    const session = t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('finished');
    const result = entriesOf(t, session.id, 'w').find((e) => e.kind === 'tool_result');
    expect(result).toMatchObject({
      payload: { status: 'error', error: expect.stringMatching(/invalid arguments for work: n: /) },
    });
    expect(tool.calls).toHaveLength(0);
    expect(session.answer).toMatch(/^tool said: work failed: invalid arguments/);
  });

  it('times a tool out, and serves a pure tool from its cache the second time', async () => {
    const hang = countingTool('hang', { delayMs: () => 10_000, timeoutMs: 40 });
    const pure = countingTool('lookup', { effect: 'pure' });
    const t = await setup(
      [
        {
          id: 'w',
          description: 'W.',
          tools: ['hang', 'lookup'],
          script: [
            {
              when: '.',
              steps: [
                { call: 'hang', args: {} },
                { call: 'lookup', args: { n: 1 } },
                { call: 'lookup', args: { n: 1 } },
                { reply: 'done' },
              ],
            },
          ],
        },
      ],
      { tools: [hang, pure] },
    );
    const session = t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('finished');
    const results = entriesOf(t, session.id, 'w').filter((e) => e.kind === 'tool_result');
    expect(results.map((e) => (e.kind === 'tool_result' ? [e.payload.status, e.payload.cached ?? false] : []))).toEqual(
      [
        ['timeout', false],
        ['ok', false],
        ['ok', true],
      ],
    );
    expect(pure.calls).toHaveLength(1);
  });

  it('keeps large outputs and files a tool writes as content-addressed artifacts, announced on the log', async () => {
    const big = defineTool({
      name: 'report',
      description: 'Writes a report.',
      input: z.object({}),
      effect: 'idempotent',
      run: (_args, ctx) => {
        ctx.attach('report.md', '# Report\n\nAll good.', 'text/markdown');
        return { rows: Array.from({ length: 2000 }, (_, i) => ({ i, text: 'row of the report' })) };
      },
    });
    const t = await setup(
      [
        {
          id: 'w',
          description: 'W.',
          tools: ['report'],
          script: [
            { when: '.', steps: [{ call: 'report', args: {} }, { call: 'report', args: {} }, { reply: 'done' }] },
          ],
        },
      ],
      { tools: [big] },
    );
    const session = t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('finished');
    const result = entriesOf(t, session.id, 'w').find((e) => e.kind === 'tool_result');
    expect(result).toMatchObject({
      payload: {
        status: 'ok',
        artifact: expect.stringMatching(/^[0-9a-f]{64}$/),
        output: expect.stringMatching(/full output in artifact/),
      },
    });
    const refs = t.engine.store.artifacts.list(session.id);
    expect(refs.map((r) => [r.name, r.kind])).toEqual([
      ['report.md', 'file'],
      ['report-output.json', 'tool_output'],
      ['report.md', 'file'],
      ['report-output.json', 'tool_output'],
    ]);
    // Two calls, identical bytes: stored once each.
    expect(countRows(t.engine.store.path, 'SELECT count(*) AS n FROM artifacts')).toBe(2);
    const full = JSON.parse(t.engine.store.artifacts.get(refs[1]!.hash)!.data.toString()) as { rows: unknown[] };
    expect(full.rows).toHaveLength(2000);
    expect(t.engine.store.log.read(0, { session: session.id, types: ['artifact.created'] })).toHaveLength(4);
  });

  it('blocks a repeated effectful call under the strict dedup policy', async () => {
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
              steps: [{ call: 'pay', args: { n: 5 } }, { call: 'pay', args: { n: 5 } }, { reply: '{{result}}' }],
            },
          ],
        },
      ],
      { tools: [pay] },
    );
    const session = t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('finished');
    const results = entriesOf(t, session.id, 'w').filter((e) => e.kind === 'tool_result');
    expect(results[1]).toMatchObject({ payload: { status: 'skipped', duplicateOf: expect.any(String) } });
    expect(pay.calls).toHaveLength(1);
  });
});

describe('questions to the user', () => {
  const asker = {
    id: 'asker',
    description: 'Asks.',
    script: [{ when: '.', steps: [{ ask: 'Which city?' }, { reply: 'city: {{answer}}' }] }],
  };

  it('waits for an answer with approval ask, and continues when it comes', async () => {
    const t = await setup([asker]);
    const session = t.engine.start({
      agent: 'asker',
      message: 'go',
      source: 'api',
      options: t.options({ approval: 'ask' }),
    });
    expect(await session.idle()).toBe('waiting');
    const [question] = session.pendingQuestions();
    expect(question).toMatchObject({ agent: 'asker', question: 'Which city?' });
    await session.respond(question!.callId, 'Oslo');
    expect(await session.idle()).toBe('finished');
    expect(session.answer).toBe('city: Oslo');
  });

  it('is answered by policy when nobody is there (deny / approve), never hanging', async () => {
    for (const approval of ['deny', 'approve'] as const) {
      const t = await setup([asker]);
      const session = t.engine.start({
        agent: 'asker',
        message: 'go',
        source: 'api',
        options: t.options({ approval }),
      });
      expect(await session.idle()).toBe('finished');
      const response = entriesOf(t, session.id, 'asker').find((e) => e.kind === 'user_response');
      expect(response).toMatchObject({
        payload: {
          by: 'policy',
          text: approval === 'deny' ? expect.stringMatching(/^No\./) : expect.stringMatching(/^Yes\./),
        },
      });
    }
  });

  it('times a question out', async () => {
    const clock = new ManualClock();
    const t = await setup([{ ...asker, policies: { user_timeout_ms: 30 * 60_000 } }], { clock });
    const session = t.engine.start({
      agent: 'asker',
      message: 'go',
      source: 'api',
      options: t.options({ approval: 'ask' }),
    });
    expect(await session.idle()).toBe('waiting');
    await clock.advance(30 * 60_000 - 1);
    expect(session.currentStatus).toBe('waiting');
    await clock.advance(1);
    expect(await session.idle()).toBe('finished');
    expect(entriesOf(t, session.id, 'asker').find((e) => e.kind === 'user_response')).toMatchObject({
      payload: { by: 'timeout' },
    });
  });
});

/** Fails the first `failures` calls with the given error, then answers like the simulator. */
class FlakyProvider implements ModelProvider {
  readonly id = 'flaky';
  readonly simulated = true;
  calls = 0;
  private readonly inner = new ScriptedProvider();
  private failures: number;
  private readonly error: () => Error;
  constructor(failures: number, error: () => Error) {
    this.failures = failures;
    this.error = error;
  }
  async complete(request: ModelRequest, options: CompleteOptions): Promise<ModelResponse> {
    this.calls += 1;
    if (this.failures > 0) {
      this.failures -= 1;
      throw this.error();
    }
    return this.inner.complete(request, options);
  }
}

describe('failures, budgets and control', () => {
  it('a provider error becomes a failed entry with its message; resuming retries the call', async () => {
    const provider = new FlakyProvider(
      1,
      () => new ProviderError('E_MODEL_PROVIDER', '503 Service Unavailable', { retryable: true, status: 503 }),
    );
    const t = await setup(
      [{ id: 'w', description: 'W.', model: 'flaky/x', script: [{ when: '.', steps: [{ reply: 'fine now' }] }] }],
      {
        load: { configure: (providers) => providers.register(provider) },
      },
    );
    const session = t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('failed');
    expect(entriesOf(t, session.id, 'w').at(-1)).toMatchObject({
      kind: 'failed',
      payload: { code: 'E_MODEL_PROVIDER', message: 'flaky/x failed: 503 Service Unavailable', retryable: true },
    });
    session.detach();
    const resumed = await t.engine.attach(session.id, { retryFailed: true });
    expect(await resumed.idle()).toBe('finished');
    expect(resumed.answer).toBe('fine now');
    expect(kinds(entriesOf(t, session.id, 'w'))).toEqual(['user_message', 'failed', 'assistant_message', 'finished']);
  });

  it('a model that does not answer in time fails the step with E_MODEL_TIMEOUT', async () => {
    const t = await setup([{ id: 'w', description: 'W.', policies: { model_timeout_ms: 30 } }], {
      files: { 'p2tui.yaml': 'providers:\n  scripted:\n    latency_ms: 500\n' },
    });
    const session = t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('failed');
    expect(entriesOf(t, session.id, 'w').at(-1)).toMatchObject({
      kind: 'failed',
      payload: { code: 'E_MODEL_TIMEOUT', retryable: true },
    });
  });

  it('stops at the step budget, and a resume with a larger budget goes on', async () => {
    const tool = countingTool('tick');
    const t = await setup(
      [
        {
          id: 'w',
          description: 'W.',
          tools: ['tick'],
          script: [{ when: '.', steps: [{ call: 'tick', args: { n: '{{round}}' }, repeat: 5 }, { reply: 'ticked' }] }],
        },
      ],
      { tools: [tool] },
    );
    const session = t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options({ maxSteps: 3 }) });
    expect(await session.idle()).toBe('failed');
    expect(entriesOf(t, session.id, 'w').at(-1)).toMatchObject({
      kind: 'failed',
      payload: { code: 'E_STEP_BUDGET', hint: expect.stringMatching(/--max-steps 6/) },
    });
    session.detach();
    const resumed = await t.engine.attach(session.id, { retryFailed: true, maxSteps: 10 });
    expect(await resumed.idle()).toBe('finished');
    expect(resumed.answer).toBe('ticked');
    expect(tool.calls.map((a) => (a as { n: number }).n)).toEqual([0, 1, 2, 3, 4]);
  });

  it('cancel stops outstanding calls and marks the session cancelled', async () => {
    const tool = countingTool('slow', { delayMs: () => 5_000 });
    const t = await setup(
      [
        {
          id: 'w',
          description: 'W.',
          tools: ['slow'],
          script: [{ when: '.', steps: [{ call: 'slow', args: {} }, { reply: 'never' }] }],
        },
      ],
      { tools: [tool] },
    );
    const session = t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options() });
    await until(() => tool.calls.length === 1);
    await session.cancel();
    expect(await session.idle()).toBe('cancelled');
    expect(kinds(entriesOf(t, session.id, 'w')).slice(-2)).toEqual(['tool_result', 'failed']);
    expect(entriesOf(t, session.id, 'w').at(-2)).toMatchObject({ payload: { status: 'cancelled' } });
    expect(t.engine.store.sessions.require(session.id).status).toBe('cancelled');
  });

  it('pause lets running steps finish and starts no new one until resume', async () => {
    const tool = countingTool('tick', { delayMs: () => 20 });
    const t = await setup(
      [
        {
          id: 'w',
          description: 'W.',
          tools: ['tick'],
          script: [{ when: '.', steps: [{ call: 'tick', args: { n: '{{round}}' }, repeat: 4 }, { reply: 'done' }] }],
        },
      ],
      { tools: [tool] },
    );
    const session = t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options() });
    session.pause();
    expect(await session.idle()).toBe('paused');
    const calls = tool.calls.length;
    // Nothing waits on time while paused: a step wrongly started would show within a few turns of the loop.
    await settle();
    expect(tool.calls.length).toBe(calls);
    session.resume();
    expect(await session.idle()).toBe('finished');
    expect(tool.calls).toHaveLength(4);
  });

  it('only the lease holder drives a session', async () => {
    const t = await setup([
      { id: 'w', description: 'W.', script: [{ when: '.', steps: [{ ask: 'ok?' }, { reply: 'fine' }] }] },
    ]);
    const session = t.engine.start({
      agent: 'w',
      message: 'go',
      source: 'api',
      options: t.options({ approval: 'ask' }),
    });
    expect(await session.idle()).toBe('waiting');
    const otherApp = new App({ workspace: t.app.workspace, store: t.engine.store });
    const other = otherApp.engine;
    await expect(other.attach(session.id)).rejects.toMatchObject({ code: 'E_LEASE_HELD' });
    session.detach();
    const taken = await other.attach(session.id);
    await taken.respond(session.pendingQuestions()[0]?.callId ?? taken.pendingQuestions()[0]!.callId, 'yes');
    expect(await taken.idle()).toBe('finished');
    otherApp.close();
  });
});

describe('scheduler limits', () => {
  /** Counts how many calls are in flight at once. */
  class GaugeProvider implements ModelProvider {
    readonly id = 'gauge';
    readonly simulated = true;
    inFlight = 0;
    peak = 0;
    private readonly inner = new ScriptedProvider();
    async complete(request: ModelRequest, options: CompleteOptions): Promise<ModelResponse> {
      this.inFlight += 1;
      this.peak = Math.max(this.peak, this.inFlight);
      await new Promise((r) => setTimeout(r, 10));
      this.inFlight -= 1;
      return this.inner.complete(request, options);
    }
  }

  it('never runs more steps at once than the concurrency, nor more calls than a provider allows', async () => {
    const gauge = new GaugeProvider();
    const t = await setup(
      [{ id: 'w', description: 'W.', model: 'gauge/x', script: [{ when: '.', steps: [{ reply: 'ok' }] }] }],
      {
        concurrency: 8,
        files: { 'p2tui.yaml': 'providers:\n  gauge:\n    concurrency: 3\n' },
        load: { configure: (providers) => providers.register(gauge) },
      },
    );
    const sessions = Array.from({ length: 20 }, () =>
      t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options() }),
    );
    expect(await Promise.all(sessions.map((s) => s.idle()))).toEqual(Array(20).fill('finished'));
    expect(gauge.peak).toBe(3);
  });
});

describe('the log', () => {
  it('stores each entry once, as an event with a global seq, and heads point at the newest entry', async () => {
    const t = await setup([{ id: 'w', description: 'W.', script: [{ when: '.', steps: [{ reply: 'hi' }] }] }]);
    const session = t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options() });
    await session.idle();
    const events = t.engine.store.log.read(0, { session: session.id });
    expect(events.map((e) => (e.type === 'entry' ? e.kind : e.type))).toEqual([
      'session.created',
      'conversation.created',
      'user_message',
      'model.call',
      'assistant_message',
      'finished',
      'session.status',
    ]);
    const seqs = events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const [head] = t.engine.store.sessions.heads(session.id, session.session.headBranch);
    expect(head).toMatchObject({ phase: 'finished', headSeq: events[5]!.seq });
    const tables = withRawDb(t.engine.store.path, (db) =>
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%entr%'").all(),
    );
    expect(tables).toEqual([]);
  });

  it('records every model call with a request hash and what it rendered', async () => {
    const t = await setup([{ id: 'w', description: 'W.', script: [{ when: '.', steps: [{ reply: 'hi' }] }] }]);
    const session = t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options() });
    await session.idle();
    const [call] = t.engine.store.calls.modelCalls({ session: session.id });
    expect(call).toMatchObject({
      ordinal: 1,
      provider: 'scripted',
      model: 'scripted/default',
      status: 'ok',
      estimated: true,
    });
    expect(call!.requestHash).toMatch(/^[0-9a-f]{64}$/);
    expect(call!.request.rendered).toMatchObject({ entries: 1, messages: 2 });
    expect(call!.tokensIn).toBeGreaterThan(0);
    expect(call!.costUsd).toBeGreaterThan(0);
  });
});
