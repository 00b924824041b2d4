import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Transcript } from '../../src/engine/transcript.ts';
import type { EntryDraft } from '../../src/core/entries.ts';
import { canonicalJson } from '../../src/core/json.ts';
import { EMPTY_CHAIN, chainHash, sha256 } from '../../src/core/hash.ts';

const turn = (i: number): EntryDraft[] => [
  { kind: 'assistant_message', payload: { text: `thinking ${i}`, modelCall: `m${i}` } },
  {
    kind: 'tool_call',
    payload: { callId: `a${i}`, tool: 't', args: { i }, effect: 'pure', key: `k${i}`, modelCall: `m${i}` },
  },
  { kind: 'agent_call', payload: { callId: `b${i}`, agent: 'beta', message: 'go', child: 'c2', modelCall: `m${i}` } },
  { kind: 'waiting', payload: { callIds: [`a${i}`, `b${i}`], deadline: null } },
  { kind: 'tool_result', payload: { callId: `a${i}`, tool: 't', status: 'ok', output: i } },
  { kind: 'agent_result', payload: { callId: `b${i}`, agent: 'beta', child: 'c2', status: 'ok', text: 'done' } },
];

describe('transcript rendering', () => {
  it('renders a turn with text and calls as one assistant message, results as tool messages', () => {
    const t = new Transcript('system');
    t.append('e0', { kind: 'user_message', payload: { text: 'task' } });
    turn(1).forEach((d, i) => t.append(`e${i + 1}`, d));
    expect(t.messages).toEqual([
      { role: 'system', content: 'system' },
      { role: 'user', content: 'task' },
      {
        role: 'assistant',
        content: 'thinking 1',
        toolCalls: [
          { id: 'a1', name: 't', arguments: '{"i":1}' },
          { id: 'b1', name: 'delegate', arguments: '{"agent":"beta","message":"go"}' },
        ],
      },
      { role: 'tool', toolCallId: 'a1', name: 't', content: '{"status":"ok","output":1}' },
      { role: 'tool', toolCallId: 'b1', name: 'delegate', content: '{"agent":"beta","status":"ok","answer":"done"}' },
    ]);
    expect(t.round).toBe(1);
    expect(t.taskIndex).toBe(1);
  });

  it('its running request hash equals a hash of the whole request computed from scratch (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 5 }), (turns, params) => {
        const t = new Transcript('sys');
        t.append('u', { kind: 'user_message', payload: { text: 'task' } });
        for (let i = 0; i < turns; i++) turn(i).forEach((d, j) => t.append(`e${i}-${j}`, d));
        // From scratch: fold every message but the last into the chain, hash the last with the params.
        const messages = t.messages;
        let chain = EMPTY_CHAIN;
        for (const m of messages.slice(0, -1)) chain = chainHash(chain, JSON.stringify(m));
        const expected = sha256(
          `${chain}\n${JSON.stringify(messages[messages.length - 1])}\n${canonicalJson({ params })}`,
        );
        expect(t.requestHash({ params })).toBe(expected);
      }),
      { numRuns: 60 },
    );
  });

  it('hashes differently when anything in the request differs', () => {
    const a = new Transcript('sys');
    const b = new Transcript('sys');
    a.append('1', { kind: 'user_message', payload: { text: 'one' } });
    b.append('1', { kind: 'user_message', payload: { text: 'two' } });
    expect(a.requestHash({})).not.toBe(b.requestHash({}));
    expect(a.requestHash({ temperature: 0 })).not.toBe(a.requestHash({ temperature: 1 }));
  });
});
