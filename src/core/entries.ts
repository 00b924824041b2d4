import type { JsonValue } from './json.ts';

/**
 * The interaction stack. Each conversation's stack is a sequence of immutable entries; the kind of an entry is the
 * FSM state it puts the conversation in. Nothing is ever removed: a delegation "pops" by appending `agent_result`.
 */
export const ENTRY_KINDS = [
  'user_message',
  'assistant_message',
  'tool_call',
  'tool_result',
  'agent_call',
  'agent_result',
  'user_input_request',
  'user_response',
  'waiting',
  'finished',
  'failed',
] as const;

export type EntryKind = (typeof ENTRY_KINDS)[number];

export type EffectClass = 'pure' | 'idempotent' | 'effectful';

/** Outcome of a tool call. `unknown`: an effectful call whose outcome could not be established after a crash. */
export type ToolStatus = 'ok' | 'error' | 'timeout' | 'unknown' | 'skipped' | 'cancelled';
export type AgentStatus = 'ok' | 'failed' | 'timeout' | 'cancelled';
export type ResponderKind = 'user' | 'policy' | 'timeout';

export interface EntryPayloads {
  user_message: { text: string };
  /** Text the model produced. When the same response also called tools, the calls follow as their own entries. */
  assistant_message: { text: string; modelCall: string };
  tool_call: {
    callId: string;
    tool: string;
    args: JsonValue;
    effect: EffectClass;
    /** Idempotency key of the intent: effectful tools receive it and may pass it on (a ledger command id). */
    key: string;
    modelCall: string;
    /** Large arguments live in this artifact (stored once); `args` then holds a preview naming it. */
    argsArtifact?: string;
  };
  tool_result: {
    callId: string;
    tool: string;
    status: ToolStatus;
    output?: JsonValue;
    error?: string;
    /** Served from the pure-tool cache. */
    cached?: boolean;
    /** On a dry-run branch: the tool's `simulate` answered, or (status `skipped`, E_DRY_RUN) nothing ran. */
    simulated?: boolean;
    /** Set when a dedup policy recognised this call as a repeat of an earlier one. */
    duplicateOf?: string;
    /** Large outputs live in an artifact; `output` then holds a preview. */
    artifact?: string;
    latencyMs?: number;
  };
  agent_call: { callId: string; agent: string; message: string; child: string; modelCall: string };
  agent_result: { callId: string; agent: string; child: string; status: AgentStatus; text: string; error?: string };
  user_input_request: { callId: string; question: string; deadline: number | null; modelCall: string };
  user_response: { callId: string; text: string; by: ResponderKind };
  /** The conversation waits for these calls; past the deadline they are settled as timed out. */
  waiting: { callIds: string[]; deadline: number | null };
  /**
   * The conversation answered. Its answer is the text of the assistant message right before this entry (kept once,
   * not copied here); `steps` counts the model calls the conversation took.
   */
  finished: { steps: number };
  failed: { code: string; message: string; retryable: boolean; hint?: string };
}

export type EntryDraft = { [K in EntryKind]: { kind: K; payload: EntryPayloads[K] } }[EntryKind];

export type Entry = EntryDraft & {
  readonly id: string;
  readonly seq: number;
  readonly ts: number;
  readonly session: string;
  readonly branch: string;
  readonly conversation: string;
};

export type CallEntryKind = 'tool_call' | 'agent_call' | 'user_input_request';
export type ResultEntryKind = 'tool_result' | 'agent_result' | 'user_response';

export const isCallKind = (kind: EntryKind): kind is CallEntryKind =>
  kind === 'tool_call' || kind === 'agent_call' || kind === 'user_input_request';

export const isResultKind = (kind: EntryKind): kind is ResultEntryKind =>
  kind === 'tool_result' || kind === 'agent_result' || kind === 'user_response';

export function callIdOf(draft: EntryDraft): string | undefined {
  switch (draft.kind) {
    case 'tool_call':
    case 'tool_result':
    case 'agent_call':
    case 'agent_result':
    case 'user_input_request':
    case 'user_response':
      return draft.payload.callId;
    default:
      return undefined;
  }
}
