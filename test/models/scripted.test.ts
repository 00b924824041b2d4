import { afterEach, describe, expect, it } from 'vitest';
import { testEngine, type TestEngine } from '../helpers/workspace.ts';
import { readSession } from '../../src/engine/session-view.ts';
import { decide, looseProbability, skipProbability } from '../../src/models/scripted/policy.ts';
import { clauses, extractArgs, placeName } from '../../src/models/scripted/language.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { App } from '../../src/app/app.ts';
import { ScriptedProvider } from '../../src/models/scripted/provider.ts';

const engines: (TestEngine | App)[] = [];
afterEach(() => {
  for (const e of engines.splice(0)) e.close();
});

/** Runs the demo workspace's agent on a message and returns the root answer and the entry kinds per conversation. */
async function demo(
  agent: string,
  message: string,
  seed: number,
  temperature?: number,
): Promise<{ answer: string; trace: string }> {
  const workspace = await loadWorkspace(new URL('../..', import.meta.url).pathname, { db: ':memory:' });
  const app = new App({ workspace });
  const engine = app.engine;
  engines.push(app);
  const session = engine.start({
    agent,
    message,
    source: 'api',
    options: engine.sessionOptions({ seed, approval: 'deny', ...(temperature === undefined ? {} : { temperature }) }),
  });
  await session.idle();
  const view = readSession(engine.store, session.id);
  const trace = view.conversations.map((c) => `${c.row.path}: ${c.entries.map((e) => e.kind).join(',')}`).join('\n');
  return { answer: view.answer ?? '', trace };
}

describe('the scripted simulator', () => {
  it('is deterministic for a given seed', async () => {
    const a = await demo('agent_alpha', "What's the weather in Paris and who leads the Premier League?", 42, 1.2);
    const b = await demo('agent_alpha', "What's the weather in Paris and who leads the Premier League?", 42, 1.2);
    expect(b).toEqual(a);
  });

  it('at temperature 0 the seed changes nothing', async () => {
    const runs = await Promise.all(
      [1, 2, 3, 4].map((seed) =>
        demo('agent_alpha', "What's the weather in Paris and who leads the Premier League?", seed, 0),
      ),
    );
    expect(new Set(runs.map((r) => r.answer)).size).toBe(1);
    expect(runs[0]!.answer).toContain('Paris: 22 °C, partly cloudy');
    expect(runs[0]!.answer).toContain('Manchester City leads the Premier League');
  });

  it('at a high temperature it skips steps or answers loosely, so seeds differ', async () => {
    const runs = await Promise.all(
      Array.from({ length: 12 }, (_, seed) =>
        demo('agent_alpha', "What's the weather in Paris and who leads the Premier League?", seed, 1.5),
      ),
    );
    const answers = new Set(runs.map((r) => r.answer));
    expect(answers.size).toBeGreaterThan(1);
    expect(runs.some((r) => r.answer.startsWith('Roughly:'))).toBe(true);
    expect(new Set(runs.map((r) => r.trace)).size).toBeGreaterThan(1);
  });

  it('documents its probabilities', () => {
    expect([skipProbability(0), skipProbability(1), skipProbability(5)]).toEqual([0, 0.2, 0.5]);
    expect([looseProbability(0), looseProbability(1), looseProbability(5)]).toEqual([0, 0.35, 0.8]);
  });

  it('routes the demo: a coordinator delegates in parallel, specialists call tools, ask, and finish', async () => {
    const { trace, answer } = await demo(
      'agent_alpha',
      "What's the weather in Paris and who leads the Premier League?",
      1,
      0,
    );
    expect(trace).toBe(
      [
        'agent_alpha: user_message,assistant_message,agent_call,agent_call,waiting,agent_result,agent_result,assistant_message,finished',
        'agent_alpha/agent_helper#1: user_message,tool_call,waiting,tool_result,assistant_message,finished',
        'agent_alpha/agent_beta#1: user_message,tool_call,waiting,tool_result,assistant_message,finished',
      ].join('\n'),
    );
    expect(answer).toMatch(/^I asked agent_helper and agent_beta\./);
    const asked = await demo('agent_helper', 'What is the weather like?', 1, 0);
    expect(asked.trace).toContain('user_input_request');
  });

  it('reports approximate token counts (chars / 4), marked as estimated', async () => {
    const provider = new ScriptedProvider();
    const response = await provider.complete(
      {
        model: 'default',
        messages: [
          { role: 'system', content: 'You are w.' },
          { role: 'user', content: 'hello there' },
        ],
        tools: [],
        temperature: 0,
        seed: 1,
        estimatedInputTokens: 6,
      },
      { signal: new AbortController().signal },
    );
    expect(response.usage).toEqual({
      inputTokens: 6,
      outputTokens: Math.ceil(response.text.length / 4),
      estimated: true,
    });
    expect(
      decide({
        model: 'default',
        messages: [{ role: 'user', content: 'hello there' }],
        tools: [],
        temperature: 0,
        seed: 1,
        estimatedInputTokens: 3,
      }).text,
    ).toBe(response.text);
  });

  it('reads plain language: clauses, places, arguments by schema', () => {
    expect(clauses("What's the weather in Paris and who leads the Premier League?")).toEqual([
      "What's the weather in Paris",
      'who leads the Premier League',
    ]);
    expect(placeName('weather in New York today')).toBe('New York');
    const spec = {
      name: 'pay',
      description: 'Pay',
      parameters: {
        type: 'object',
        properties: { to: { type: 'string' }, amount: { type: 'number' } },
        required: ['to', 'amount'],
      },
    };
    expect(extractArgs('pay agent_beta 25 for the analysis', spec, 'treasurer')).toEqual({
      ok: true,
      args: { to: 'agent_beta', amount: 25 },
    });
    expect(extractArgs('pay someone', spec, 'treasurer')).toEqual({ ok: false, missing: 'to' });
  });
});

describe('simulated scripts in personas', () => {
  it('follows steps with templates from named groups, task and results, with repeat', async () => {
    const t = await testEngine([
      {
        id: 'w',
        description: 'W.',
        script: [{ when: 'greet (?<name>\\w+)', steps: [{ reply: 'Hello {{name}}, you said "{{task}}"' }] }],
      },
    ]);
    engines.push(t);
    const session = t.engine.start({ agent: 'w', message: 'greet Ada', source: 'api', options: t.options() });
    await session.idle();
    expect(session.answer).toBe('Hello Ada, you said "greet Ada"');
  });

  it('never answers nothing: a reply whose templates are empty answers from what the calls found', async () => {
    const t = await testEngine(
      [
        {
          id: 'w',
          description: 'W.',
          tools: ['blank'],
          // `{{answer}}` is empty: nobody was asked a question.
          script: [{ when: '.', steps: [{ call: 'blank', args: {} }, { reply: '{{answer}}' }] }],
        },
      ],
      {
        files: {
          'tools/blank.ts':
            "import { defineTool, z } from 'p2tui';\nexport const b = defineTool({ name: 'blank', description: 'b', input: z.object({}), effect: 'pure', run: () => '' });\n",
        },
      },
    );
    engines.push(t);
    const session = t.engine.start({ agent: 'w', message: 'go', source: 'api', options: t.options() });
    expect(await session.idle()).toBe('finished');
    expect(session.answer).toBe('blank returned nothing.');
  });

  it('never pays an agent whose delegation it skipped: a skipped delegation skips the later calls that name the agent', async () => {
    const t = await testEngine([
      {
        id: 'lead',
        description: 'Leads.',
        temperature: 2,
        agents: ['writer'],
        tools: ['transfer_funds'],
        balance: 100,
        script: [
          {
            when: '.',
            steps: [
              { delegate: 'writer', message: 'write the report' },
              { call: 'transfer_funds', args: { to: 'writer', amount: '5', reason: 'the report' } },
              { reply: 'done' },
            ],
          },
        ],
      },
      { id: 'writer', description: 'Writes.', script: [{ when: '.', steps: [{ reply: 'the report' }] }] },
    ]);
    engines.push(t);
    const runs: { delegated: boolean; paid: boolean }[] = [];
    for (let seed = 1; seed <= 24; seed++) {
      const session = t.engine.start({
        agent: 'lead',
        message: 'go',
        source: 'api',
        options: t.options({ seed }),
      });
      await session.idle();
      const view = readSession(t.engine.store, session.id);
      const calls = view.conversations[0]!.entries.flatMap((e) => (e.kind === 'tool_call' ? [e.payload.tool] : []));
      // The writer's conversation exists only when the lead delegated to it.
      runs.push({ delegated: view.conversations.length > 1, paid: calls.includes('transfer_funds') });
    }
    // At temperature 2 some delegations are skipped (and some payments on their own); none is paid without the work.
    expect(runs.some((r) => !r.delegated)).toBe(true);
    expect(runs.some((r) => r.delegated && r.paid)).toBe(true);
    expect(runs.filter((r) => !r.delegated && r.paid)).toEqual([]);
  });
});
