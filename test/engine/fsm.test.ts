import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { INITIAL_STATE, apply, outstanding, replay, type ConversationState, type Phase } from '../../src/engine/fsm.ts';
import { TransitionError } from '../../src/core/errors.ts';
import { ENTRY_KINDS, type EntryDraft, type EntryKind } from '../../src/core/entries.ts';

const user = (text = 'hi'): EntryDraft => ({ kind: 'user_message', payload: { text } });
const said = (text = 'ok'): EntryDraft => ({ kind: 'assistant_message', payload: { text, modelCall: 'm1' } });
const toolCall = (callId: string): EntryDraft => ({
  kind: 'tool_call',
  payload: { callId, tool: 't', args: {}, effect: 'pure', key: `k${callId}`, modelCall: 'm1' },
});
const toolResult = (callId: string): EntryDraft => ({
  kind: 'tool_result',
  payload: { callId, tool: 't', status: 'ok', output: 1 },
});
const agentCall = (callId: string): EntryDraft => ({
  kind: 'agent_call',
  payload: { callId, agent: 'b', message: 'do', child: 'c2', modelCall: 'm1' },
});
const agentResult = (callId: string): EntryDraft => ({
  kind: 'agent_result',
  payload: { callId, agent: 'b', child: 'c2', status: 'ok', text: 'done' },
});
const ask = (callId: string): EntryDraft => ({
  kind: 'user_input_request',
  payload: { callId, question: '?', deadline: null, modelCall: 'm1' },
});
const answer = (callId: string): EntryDraft => ({
  kind: 'user_response',
  payload: { callId, text: 'yes', by: 'user' },
});
const waiting = (...callIds: string[]): EntryDraft => ({ kind: 'waiting', payload: { callIds, deadline: null } });
const finished = (): EntryDraft => ({ kind: 'finished', payload: { steps: 1 } });
const failed = (retryable = true): EntryDraft => ({
  kind: 'failed',
  payload: { code: 'E_X', message: 'x', retryable },
});

/** One representative way to reach each phase, and a sample entry of each kind that could follow it. */
const REACH: Record<Phase, EntryDraft[]> = {
  idle: [],
  ready: [user()],
  deciding: [user(), said()],
  waiting: [user(), toolCall('a'), waiting('a')],
  finished: [user(), said(), finished()],
  failed: [user(), failed(false)],
};

const SAMPLE: Record<EntryKind, EntryDraft> = {
  user_message: user(),
  assistant_message: said(),
  tool_call: toolCall('z'),
  tool_result: toolResult('a'),
  agent_call: agentCall('y'),
  agent_result: agentResult('a'),
  user_input_request: ask('x'),
  user_response: answer('a'),
  waiting: waiting(),
  finished: finished(),
  failed: failed(),
};

/** The transition table: which entry kinds each phase accepts (with the samples above). */
const LEGAL: Record<Phase, EntryKind[]> = {
  idle: ['user_message'],
  ready: ['assistant_message', 'tool_call', 'agent_call', 'user_input_request', 'failed'],
  deciding: ['tool_call', 'agent_call', 'user_input_request', 'finished'],
  waiting: ['tool_result'],
  finished: ['user_message'],
  failed: ['user_message'],
};

describe('conversation FSM', () => {
  for (const phase of Object.keys(REACH) as Phase[]) {
    const state = replay(REACH[phase]);
    it(`reaches phase ${phase}`, () => expect(state.phase).toBe(phase));
    for (const kind of ENTRY_KINDS) {
      const legal = LEGAL[phase].includes(kind);
      it(`${phase} ${legal ? 'accepts' : 'rejects'} ${kind}`, () => {
        if (legal) expect(() => apply(state, SAMPLE[kind])).not.toThrow();
        else expect(() => apply(state, SAMPLE[kind])).toThrow(TransitionError);
      });
    }
  }

  it('a turn with text and several calls waits for every result, appended in call order', () => {
    let s = replay([user(), said('looking'), toolCall('a'), agentCall('b'), ask('c'), waiting('a', 'b', 'c')]);
    expect(s.phase).toBe('waiting');
    expect(outstanding(s).map((c) => c.callId)).toEqual(['a', 'b', 'c']);
    expect(() => apply(s, agentResult('b'))).toThrow(/call order/);
    s = apply(s, toolResult('a'));
    s = apply(s, agentResult('b'));
    expect(s.phase).toBe('waiting');
    expect(() => apply(s, toolResult('c'))).toThrow(/answered by user_response/);
    s = apply(s, answer('c'));
    expect(s.phase).toBe('ready');
  });

  it('rejects a waiting entry that does not list the calls of the turn', () => {
    expect(() => replay([user(), toolCall('a'), waiting('b')])).toThrow(TransitionError);
    expect(() => replay([user(), toolCall('a'), toolCall('a')])).toThrow(/duplicate call id/);
  });

  it('finished needs the answer right before it', () => {
    expect(() => replay([user(), finished()])).toThrow(TransitionError);
    expect(() => replay([user(), toolCall('a'), finished()])).toThrow(TransitionError);
  });

  it('a retryable failure is retried by the next model response; a final one is not', () => {
    const retryable = replay([user(), failed(true)]);
    expect(apply(retryable, said()).phase).toBe('deciding');
    const final = replay([user(), failed(false)]);
    expect(() => apply(final, said())).toThrow(TransitionError);
    expect(apply(final, user()).phase).toBe('ready');
  });

  it('a finished conversation takes the next user message and runs again', () => {
    const s = replay([user(), said(), finished(), user('more'), said('again'), finished()]);
    expect(s.phase).toBe('finished');
  });

  it('never ends up in an impossible state, whatever is appended (property)', () => {
    const draft = fc.oneof(
      fc.constant(user()),
      fc.constant(said()),
      fc.constantFrom('a', 'b', 'c').map(toolCall),
      fc.constantFrom('a', 'b', 'c').map(toolResult),
      fc.constantFrom('a', 'b').map(agentCall),
      fc.constantFrom('a', 'b').map(agentResult),
      fc.constant(waiting('a')),
      fc.constant(waiting('a', 'b')),
      fc.constant(finished()),
      fc.boolean().map(failed),
    );
    fc.assert(
      fc.property(fc.array(draft, { maxLength: 40 }), (drafts) => {
        let s: ConversationState = INITIAL_STATE;
        for (const d of drafts) {
          try {
            s = apply(s, d);
          } catch (error) {
            expect(error).toBeInstanceOf(TransitionError);
            continue;
          }
          // Invariants of every reachable state.
          if (s.phase === 'waiting') expect(outstanding(s).length).toBeGreaterThan(0);
          if (s.phase === 'ready' || s.phase === 'finished' || s.phase === 'idle') expect(outstanding(s)).toEqual([]);
          const settled = s.turn.map((c) => c.settled);
          expect(settled).toEqual([...settled].sort((x, y) => Number(y) - Number(x)));
        }
      }),
      { numRuns: 500 },
    );
  });
});
