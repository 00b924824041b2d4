import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decide, type DecideInput, type ToolInfo } from '../../src/engine/decide.ts';
import type { ToolCallRequest } from '../../src/models/provider.ts';
import { replay } from '../../src/engine/fsm.ts';

const weatherSchema = z.object({ location: z.string() });
const tools: Record<string, ToolInfo> = {
  get_weather: {
    name: 'get_weather',
    effect: 'pure',
    dedup: 'none',
    validate: (args) => {
      const r = weatherSchema.safeParse(args);
      return r.success
        ? { ok: true }
        : { ok: false, error: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
    },
  },
  pay: { name: 'pay', effect: 'effectful', dedup: 'strict', validate: () => ({ ok: true }) },
  note: { name: 'note', effect: 'effectful', dedup: 'penalty', validate: () => ({ ok: true }) },
};

let counter = 0;
function input(text: string, calls: Partial<ToolCallRequest>[], overrides: Partial<DecideInput> = {}): DecideInput {
  return {
    response: {
      text,
      toolCalls: calls.map((c, i) => ({
        id: c.id ?? `call_${i}`,
        name: c.name ?? 'get_weather',
        arguments: c.arguments ?? '{"location":"Paris"}',
      })),
    },
    modelCall: 'm1',
    steps: 1,
    conversation: { id: 'c1', agent: 'alpha', depth: 0, ancestors: [] },
    persona: {
      tools: ['get_weather', 'pay', 'note'],
      agents: ['beta', 'gamma'],
      canAsk: true,
      maxDepth: 3,
      dedup: undefined,
      reuseChildren: false,
      userTimeoutMs: 60_000,
    },
    now: 1000,
    lookupTool: (name) => tools[name],
    previousCall: () => undefined,
    reusableChild: () => undefined,
    newEntryId: () => `e${++counter}`,
    newConversationId: () => `c${++counter}`,
    ...overrides,
  };
}

/** The plan's entries must be a legal continuation of a ready conversation. */
function legal(plan: ReturnType<typeof decide>): void {
  expect(() =>
    replay([{ kind: 'user_message', payload: { text: 'task' } }, ...plan.entries.map((e) => e.draft)]),
  ).not.toThrow();
}

describe('decide: model response → entries and calls', () => {
  it('text alone is the answer: assistant message then finished', () => {
    const plan = decide(input('It is sunny.', []));
    expect(plan.entries.map((e) => e.draft.kind)).toEqual(['assistant_message', 'finished']);
    expect(plan.calls).toEqual([]);
    legal(plan);
  });

  it('keeps both the text and the tool calls of one response, each call with its own id', () => {
    const plan = decide(
      input('Let me check both.', [
        { id: 'a', arguments: '{"location":"Paris"}' },
        { id: 'b', arguments: '{"location":"Oslo"}' },
      ]),
    );
    expect(plan.entries.map((e) => e.draft.kind)).toEqual(['assistant_message', 'tool_call', 'tool_call', 'waiting']);
    expect(plan.calls.map((c) => c.callId)).toEqual(['a', 'b']);
    expect(new Set(plan.calls.map((c) => c.key)).size).toBe(2);
    legal(plan);
  });

  it('gives invalid arguments back to the model as an error result, never a crash', () => {
    const bad = decide(input('', [{ arguments: '{"location": 12}' }]));
    const call = bad.calls[0]!;
    expect(call.kind === 'tool' && call.immediate?.payload.status).toBe('error');
    expect(call.kind === 'tool' && call.immediate?.payload.error).toMatch(
      /invalid arguments for get_weather: location/,
    );
    const notJson = decide(input('', [{ arguments: '{location: Paris' }]));
    expect(notJson.calls[0]!.kind === 'tool' && notJson.calls[0]!.immediate?.payload.error).toMatch(/not valid JSON/);
    legal(bad);
  });

  it('answers a call of a tool the persona does not have with an error that lists what it has', () => {
    const plan = decide(input('', [{ name: 'launch_rockets', arguments: '{}' }]));
    const call = plan.calls[0]!;
    expect(call.kind === 'tool' && call.immediate?.payload.error).toMatch(
      /unknown tool 'launch_rockets'; available: get_weather, pay, note, delegate, ask_user/,
    );
  });

  it('turns delegate calls into agent calls with new child conversations, in parallel', () => {
    const plan = decide(
      input('Asking both.', [
        { id: 'd1', name: 'delegate', arguments: '{"agent":"beta","message":"weather?"}' },
        { id: 'd2', name: 'delegate', arguments: '{"agent":"gamma","message":"league?"}' },
      ]),
    );
    expect(plan.entries.map((e) => e.draft.kind)).toEqual(['assistant_message', 'agent_call', 'agent_call', 'waiting']);
    const [a, b] = plan.calls;
    expect(a?.kind === 'agent' && b?.kind === 'agent' && a.child !== b.child).toBe(true);
    legal(plan);
  });

  it('refuses a delegation cycle and a delegation past the depth limit, naming the chain', () => {
    const cycle = decide(
      input('', [{ name: 'delegate', arguments: '{"agent":"beta","message":"x"}' }], {
        conversation: { id: 'c', agent: 'gamma', depth: 2, ancestors: ['alpha', 'beta'] },
      }),
    );
    const c = cycle.calls[0]!;
    expect(c.kind === 'agent' && c.refusal).toEqual({
      code: 'E_DELEGATION_CYCLE',
      message: 'delegation cycle: alpha → beta → gamma → beta',
    });
    const deep = decide(
      input('', [{ name: 'delegate', arguments: '{"agent":"gamma","message":"x"}' }], {
        conversation: { id: 'c', agent: 'alpha', depth: 3, ancestors: ['x', 'y', 'z'] },
      }),
    );
    const d = deep.calls[0]!;
    expect(d.kind === 'agent' && d.refusal?.code).toBe('E_DELEGATION_DEPTH');
  });

  it('rejects delegation to an agent the persona may not use', () => {
    const plan = decide(input('', [{ name: 'delegate', arguments: '{"agent":"mallory","message":"x"}' }]));
    const call = plan.calls[0]!;
    expect(call.kind === 'tool' && call.immediate?.payload.error).toMatch(
      /unknown agent 'mallory'; you can delegate to: beta, gamma/,
    );
  });

  it('refuses delegate and ask_user arguments that are not an object (null, a list, a number) as a tool error', () => {
    for (const name of ['delegate', 'ask_user'])
      for (const args of ['null', '[]', '42', '"go"']) {
        const plan = decide(input('', [{ name, arguments: args }]));
        const call = plan.calls[0]!;
        expect(call.kind).toBe('tool');
        expect(call.kind === 'tool' && call.immediate?.payload.error).toBe(
          `${name} takes a JSON object of arguments, not ${args}`,
        );
      }
  });

  it('turns ask_user into a question with a deadline, unless the persona may not ask', () => {
    const plan = decide(input('', [{ name: 'ask_user', arguments: '{"question":"Which city?"}' }]));
    expect(plan.entries[0]!.draft).toMatchObject({
      kind: 'user_input_request',
      payload: { question: 'Which city?', deadline: 61_000 },
    });
    const off = decide(
      input('', [{ name: 'ask_user', arguments: '{"question":"Which city?"}' }], {
        persona: { ...input('', []).persona, canAsk: false },
      }),
    );
    expect(off.calls[0]!.kind === 'tool' && off.calls[0]!.immediate?.payload.error).toMatch(/turned off/);
  });

  it('applies the dedup policies to repeated effectful calls', () => {
    const strict = decide(
      input('', [{ name: 'pay', arguments: '{"to":"b","amount":5}' }], { previousCall: () => 'earlier' }),
    );
    const s = strict.calls[0]!;
    expect(s.kind === 'tool' && s.immediate?.payload).toMatchObject({ status: 'skipped', duplicateOf: 'earlier' });
    const penalty = decide(input('', [{ name: 'note', arguments: '{"text":"x"}' }], { previousCall: () => 'earlier' }));
    const p = penalty.calls[0]!;
    expect(p.kind === 'tool' && p.immediate === undefined && p.duplicateOf).toBe('earlier');
    const allowed = decide(
      input('', [{ name: 'pay', arguments: '{"to":"b","amount":5}' }], {
        previousCall: () => 'earlier',
        persona: { ...input('', []).persona, dedup: 'none' },
      }),
    );
    expect(allowed.calls[0]!.kind === 'tool' && allowed.calls[0]!.immediate).toBeUndefined();
  });

  it('records an empty response as a retryable failure', () => {
    const plan = decide(input('  ', []));
    expect(plan.entries.map((e) => e.draft)).toEqual([
      expect.objectContaining({
        kind: 'failed',
        payload: expect.objectContaining({ code: 'E_EMPTY_RESPONSE', retryable: true }),
      }),
    ]);
  });

  it('makes duplicate call ids from a model unique', () => {
    const plan = decide(input('', [{ id: 'same' }, { id: 'same' }]));
    expect(new Set(plan.calls.map((c) => c.callId)).size).toBe(2);
    legal(plan);
  });
});
