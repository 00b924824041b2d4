import { TransitionError } from '../core/errors.ts';
import type { CallEntryKind, EntryDraft, EntryKind, ResultEntryKind } from '../core/entries.ts';

/**
 * The conversation state machine, as a pure function over entries.
 *
 *   idle      empty stack; accepts the first user_message
 *   ready     the model must be called (after a user message, after every call of a turn has its result)
 *   deciding  the entries of one model response are being appended (assistant text, calls); transient
 *   waiting   calls of the turn are outstanding; results are appended in call order
 *   finished  answered; accepts the user's next message (a root, or a child delegated to again)
 *   failed    stopped with an error; accepts a user message, and is retried when `retryable`
 *
 * Every append goes through `apply`; anything not listed here is a TransitionError, never a silent hang.
 */
export type Phase = 'idle' | 'ready' | 'deciding' | 'waiting' | 'finished' | 'failed';

export interface TurnCall {
  readonly callId: string;
  readonly kind: CallEntryKind;
  readonly settled: boolean;
}

export interface ConversationState {
  readonly phase: Phase;
  /** Calls of the current turn in call order. */
  readonly turn: readonly TurnCall[];
  /** For phase failed: whether resuming may succeed. */
  readonly retryable: boolean;
  readonly last: EntryKind | null;
}

export const INITIAL_STATE: ConversationState = { phase: 'idle', turn: [], retryable: false, last: null };

const RESULT_FOR: Record<CallEntryKind, ResultEntryKind> = {
  tool_call: 'tool_result',
  agent_call: 'agent_result',
  user_input_request: 'user_response',
};

/** Entry kinds a model response may append when the conversation is ready (or being retried). */
const DECIDE_KINDS: readonly EntryKind[] = ['assistant_message', 'tool_call', 'agent_call', 'user_input_request'];

export function apply(state: ConversationState, draft: EntryDraft): ConversationState {
  let phase = state.phase;
  // A retryable failure followed by a model's entries is a retry (the stack shows the failed attempt, then the new one).
  if (phase === 'failed' && state.retryable && (DECIDE_KINDS.includes(draft.kind) || draft.kind === 'failed'))
    phase = 'ready';
  const next = (patch: Partial<ConversationState>): ConversationState => ({
    ...state,
    retryable: false,
    ...patch,
    last: draft.kind,
  });
  const illegal = (why?: string): never => {
    throw new TransitionError(
      `illegal transition: '${draft.kind}' cannot follow phase '${state.phase}'${why === undefined ? '' : ` (${why})`}`,
      {
        hint: 'This is a bug in the caller or a damaged database; the entry was not written.',
      },
    );
  };

  switch (draft.kind) {
    case 'user_message':
      if (phase === 'idle' || phase === 'finished' || phase === 'failed') return next({ phase: 'ready', turn: [] });
      return illegal(phase === 'waiting' ? 'the conversation is waiting for its calls' : 'the conversation is busy');

    case 'assistant_message':
      if (phase === 'ready') return next({ phase: 'deciding', turn: [] });
      return illegal();

    case 'tool_call':
    case 'agent_call':
    case 'user_input_request': {
      if (phase !== 'ready' && phase !== 'deciding') return illegal();
      const callId = draft.payload.callId;
      const turn = phase === 'ready' ? [] : state.turn;
      if (turn.some((c) => c.callId === callId)) return illegal(`duplicate call id ${callId}`);
      return next({ phase: 'deciding', turn: [...turn, { callId, kind: draft.kind, settled: false }] });
    }

    case 'waiting': {
      if (phase !== 'deciding' || state.turn.length === 0)
        return illegal('waiting needs the calls of a turn before it');
      const expected = state.turn.map((c) => c.callId).join(',');
      if (draft.payload.callIds.join(',') !== expected)
        return illegal(`waiting lists ${draft.payload.callIds.join(',')} but the turn called ${expected}`);
      return next({ phase: 'waiting' });
    }

    case 'tool_result':
    case 'agent_result':
    case 'user_response': {
      if (phase !== 'waiting') return illegal();
      const index = state.turn.findIndex((c) => !c.settled);
      const call = state.turn[index];
      if (call === undefined) return illegal('no call is outstanding');
      if (call.callId !== draft.payload.callId) {
        const known = state.turn.some((c) => c.callId === draft.payload.callId);
        return illegal(
          known
            ? `results are appended in call order; ${call.callId} comes first`
            : `unknown call id ${draft.payload.callId}`,
        );
      }
      if (RESULT_FOR[call.kind] !== draft.kind)
        return illegal(`a ${call.kind} is answered by ${RESULT_FOR[call.kind]}`);
      const turn = state.turn.map((c, i) => (i === index ? { ...c, settled: true } : c));
      return next({ phase: turn.every((c) => c.settled) ? 'ready' : 'waiting', turn });
    }

    case 'finished':
      if (phase === 'deciding' && state.turn.length === 0 && state.last === 'assistant_message')
        return next({ phase: 'finished', turn: [] });
      return illegal('finished follows the assistant message of a turn without calls');

    case 'failed':
      if (phase === 'ready') return next({ phase: 'failed', turn: [], retryable: draft.payload.retryable });
      return illegal(phase === 'waiting' ? 'settle or cancel the outstanding calls first' : undefined);
  }
}

/** Replays entries from the start, e.g. when loading a conversation from the store. */
export function replay(drafts: Iterable<EntryDraft>, from: ConversationState = INITIAL_STATE): ConversationState {
  let state = from;
  for (const draft of drafts) state = apply(state, draft);
  return state;
}

/** Calls of the turn still without a result, in call order. */
export function outstanding(state: ConversationState): TurnCall[] {
  return state.turn.filter((c) => !c.settled);
}

/** Whether the conversation wants a model call now. */
export const needsModel = (state: ConversationState): boolean => state.phase === 'ready';

/** A user message is accepted in these phases. */
export const acceptsUserMessage = (state: ConversationState): boolean =>
  state.phase === 'idle' || state.phase === 'finished' || state.phase === 'failed';

export const resultKindFor = (kind: CallEntryKind): ResultEntryKind => RESULT_FOR[kind];
