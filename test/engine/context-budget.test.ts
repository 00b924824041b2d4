import { afterEach, describe, expect, it } from 'vitest';
import { fitContext, messageTokens } from '../../src/engine/context-budget.ts';
import type { ChatMessage } from '../../src/models/provider.ts';
import { openAIServer, type ModelServer } from '../helpers/model-servers.ts';
import { testEngine, type TestEngine } from '../helpers/workspace.ts';
import { countingTool } from '../helpers/tools.ts';
import { stringify } from 'yaml';

const servers: ModelServer[] = [];
const engines: TestEngine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) e.close();
  for (const s of servers.splice(0)) await s.close();
});

const words = (n: number): string => 'word '.repeat(n).trim();

/** A conversation: system, an old task and its turns, the current task, then rounds of tool calls and results. */
function conversation(rounds: number): { messages: ChatMessage[]; taskIndex: number } {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'You are a careful agent.' },
    { role: 'user', content: `old task ${words(50)}` },
    { role: 'assistant', content: words(50) },
  ];
  messages.push({ role: 'user', content: 'the current task' });
  const taskIndex = messages.length - 1;
  for (let i = 0; i < rounds; i++) {
    messages.push({
      role: 'assistant',
      content: null,
      toolCalls: [{ id: `c${i}`, name: 'lookup', arguments: `{"n":${i}}` }],
    });
    messages.push({ role: 'tool', toolCallId: `c${i}`, name: 'lookup', content: `result ${i}: ${words(40)}` });
  }
  return { messages, taskIndex };
}

describe('context budget', () => {
  it('keeps the system prompt, the task and the newest messages, and says in the task what was left out', () => {
    const { messages, taskIndex } = conversation(20);
    const fitted = fitContext(messages, taskIndex, 400);
    expect(fitted.messages[0]).toEqual(messages[0]);
    // The earlier task and its answer are gone; the current task is kept, with notes on both cuts.
    expect(fitted.taskIndex).toBe(1);
    const task = fitted.messages[1] as { role: string; content: string };
    expect(task.role).toBe('user');
    expect(task.content).toMatch(
      /^the current task\n\n\[p2tui: 2 earlier messages \(about \d+ tokens\) left out to fit this model's context budget of 400 tokens\]\n\[p2tui: \d+ later messages/,
    );
    // No extra system messages mid-conversation (some chat templates refuse them).
    expect(fitted.messages.filter((m) => m.role === 'system')).toHaveLength(1);
    // The tail is the newest messages, in order, and never opens with a tool result cut from its call.
    const tail = fitted.messages.slice(2);
    expect(tail).toEqual(messages.slice(messages.length - tail.length));
    expect(tail[0]!.role).toBe('assistant');
    expect(fitted.messages.reduce((sum, m) => sum + messageTokens(m), 0)).toBeLessThanOrEqual(400 + 2 * 40);
    expect(fitted.omitted).toBe(messages.length - 2 - tail.length);
  });

  it('keeps the newest tool results with the call that asked for them, even past the budget', () => {
    const big = words(800);
    const messages: ChatMessage[] = [
      { role: 'system', content: 's' },
      { role: 'user', content: 'task' },
      { role: 'assistant', content: 'earlier' },
      {
        role: 'assistant',
        content: null,
        toolCalls: [
          { id: 'a', name: 'read', arguments: '{}' },
          { id: 'b', name: 'read', arguments: '{}' },
        ],
      },
      { role: 'tool', toolCallId: 'a', name: 'read', content: big },
      { role: 'tool', toolCallId: 'b', name: 'read', content: big },
    ];
    const fitted = fitContext(messages, 1, 1500);
    expect(fitted.messages.slice(-3)).toEqual(messages.slice(-3));
  });

  it('keeps at least the newest message even when it alone is over the budget', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 's' },
      { role: 'user', content: words(500) },
      { role: 'assistant', content: words(500) },
    ];
    const fitted = fitContext(messages, 1, 100);
    expect(fitted.messages.at(-1)).toEqual(messages[2]);
  });

  it('sends the whole conversation while it fits, then a trimmed request that says so (OpenAI-compatible server)', async () => {
    const server = await openAIServer();
    servers.push(server);
    // Ten rounds of a tool with a large result, then an answer.
    const calls = Array.from({ length: 10 }, (_, i) => ({
      kind: 'reply' as const,
      toolCalls: [{ id: `c${i}`, name: 'lookup', arguments: { text: words(200) } }],
    }));
    server.queue(...calls, { kind: 'reply', text: 'done' });
    const tool = countingTool('lookup');
    const t = await testEngine(
      [
        {
          id: 'reader',
          description: 'Reads a lot.',
          model: 'openai/m',
          tools: ['lookup'],
          policies: { context_tokens: 2000 },
        },
      ],
      {
        tools: [tool],
        files: {
          'p2tui.yaml': stringify({ providers: { openai: { base_url: `${server.url}/v1`, retry_base_ms: 5 } } }),
        },
        load: { env: {} },
      },
    );
    engines.push(t);
    const run = t.engine.start({ agent: 'reader', message: 'read everything', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('finished');
    const sent = server.requests.map((r) => r.body['messages'] as { role: string; content: string | null }[]);
    // The first requests carry every message; later ones are cut, with the task kept and a marker.
    expect(sent[1]!.some((m) => m.content?.includes('left out') === true)).toBe(false);
    expect(sent[1]!.length).toBe(4); // system, task, the first call, its result
    const last = sent.at(-1)!;
    expect(last.length).toBeLessThan(2 + 2 * 10);
    expect(last.find((m) => m.role === 'user')!.content).toMatch(
      /^read everything\n\n\[p2tui: \d+ later messages \(about \d+ tokens\) left out to fit this model's context budget/,
    );
    // The record says how many were left out, and the request hash differs from an untrimmed one.
    const recorded = t.engine.store.calls.modelCalls({ session: run.id });
    expect(recorded.at(-1)!.request.rendered.omitted).toBeGreaterThan(0);
    expect(recorded[0]!.request.rendered.omitted).toBeUndefined();
  });
});
