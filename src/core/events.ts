import type { EntryKind, EntryPayloads } from './entries.ts';

/**
 * The typed event union. Every event is one row of the append-only log with a global `seq`; the stack entries are
 * events of type `entry` (one row, not a copy). Payload shapes are versioned by `EVENT_VERSION`: a reader meeting a
 * higher version than it knows treats the payload as opaque rather than misreading it.
 */
export const EVENT_VERSION = 1;

export type SessionStatus = 'running' | 'paused' | 'waiting' | 'finished' | 'failed' | 'cancelled';
export type SessionSource = 'run' | 'chat' | 'tui' | 'rollout' | 'replay' | 'api';
export type ApprovalPolicy = 'deny' | 'approve' | 'ask';
/** What effectful tool calls do (see engine/effects-policy.ts). */
export type EffectsPolicy = 'live' | 'dry-run' | 'ask';

export interface SessionOptions {
  seed: number;
  maxSteps: number;
  approval: ApprovalPolicy;
  /** `provider/name` overriding every persona of this session. */
  model?: string;
  temperature?: number;
  /** Serve model calls, tool results and answers from this recorded session (`--replay-from`). */
  /**
   * `staged`: a `session replay`, which reproduces the recorded branch's forks: a call recorded on a branch forked
   * later than the replay's own head is not served, nor made live, until the replay has forked there too.
   */
  replay?: { from: string; onMiss: 'fail' | 'live'; staged?: boolean };
  /** The agents' wallets are this scope's parties (a rollout cell's own), not the workspace's. */
  ledgerScope?: string;
  /**
   * Effectful calls get idempotency keys made from this scope and the call itself (its conversation, step, position,
   * tool and arguments): the same on every attempt of the same work (a rollout cell run again on another worker).
   */
  effectKeys?: string;
  /** What effectful calls do on this session's branches unless a fork says otherwise (see engine/effects-policy). */
  effects?: EffectsPolicy;
  /**
   * `provider/name` of the judge for every evaluator that scores this session (a rollout's `--judge-model`, or the
   * scripted judge of an offline `--model scripted/…` dry run), beating the evaluators' and p2tui.yaml's.
   */
  judgeModel?: string;
}

export interface OtherPayloads {
  'session.created': {
    agent: string;
    conversation: string;
    title: string;
    source: SessionSource;
    workspace: string;
    options: SessionOptions;
  };
  'session.status': { status: SessionStatus; reason?: string };
  'conversation.created': {
    agent: string;
    parent: string | null;
    parentCallId: string | null;
    depth: number;
    path: string;
  };
  'model.call': {
    id: string;
    ordinal: number;
    provider: string;
    model: string;
    simulated: boolean;
    tokensIn: number;
    tokensOut: number;
    estimated: boolean;
    costUsd: number;
    latencyMs: number;
    requestHash: string;
    status: 'ok' | 'error';
    error?: string;
    /** Messages left out of the request to fit the model's context window. */
    omitted?: number;
  };
  'artifact.created': { hash: string; kind: string; name: string; mime: string; size: number; entry?: string };
  /** A fork: a new timeline of the session that sees the parent's history up to forkSeq. */
  'branch.created': {
    branch: string;
    parent: string;
    forkSeq: number;
    label: string | null;
    overrides: { model?: string; temperature?: number };
  };
  /** An effectful call's effect was undone by its tool's compensating action, on the user's request. */
  'effect.compensated': {
    key: string;
    tool: string;
    status: 'started' | 'ok' | 'error';
    output?: unknown;
    error?: string;
    by: string;
  };
  /** A judge's verdict (value null: the judge failed, which is never a zero). */
  'score.recorded': {
    score: string;
    job: string | null;
    target: { kind: 'conversation' | 'branch' | 'step' | 'artifact'; id: string };
    evaluator: string;
    metric: string;
    value: number | null;
    status: 'ok' | 'failed';
    model: string | null;
    sample: number;
    /** What queued the job: a conversation finishing, an artifact, a milestone, or `demand` (eval run). */
    trigger: string;
    /** Why, and the per-criterion breakdown (so views need not read the scores table). */
    reasoning: string;
    criteria: { id: string; score: number | null; reason: string; weight?: number }[];
  };
  /** An escrow paying a delegate was settled by the judge's score of the delegate's work. */
  'escrow.settled': {
    reference: string;
    payee: string;
    amount: string;
    outcome: 'release' | 'refund' | 'error';
    evaluator: string;
    value: number;
    threshold: number;
    error?: string;
  };
  /**
   * A tool call waits for a person's approval before it runs (a payment above the agent's threshold, a tool the
   * persona guards with approve_tools). `callId` is what an answer names; `key` the call's idempotency key.
   */
  'approval.requested': { callId: string; key: string; agent: string; tool: string; reason: string };
  /** The approval was given or refused: by the user, by the session's approval policy, or by a timeout (refused). */
  'approval.decided': {
    callId: string;
    key: string;
    approved: boolean;
    by: 'user' | 'policy' | 'timeout';
    text: string;
  };
  /** A tool marked a milestone of the work (ctx.milestone); `entry`: the key (entry id) of its tool call. */
  milestone: { name: string; detail: string | null; tool: string; entry: string };
  /** A score policy of the workspace acted on a score (a retry on a new branch), or wrote a note, or failed. */
  'policy.acted': { policy: string; score: string; action: 'retry' | 'note' | 'error'; branch?: string; text: string };
  /** A judge job was queued (in the commit that triggered it); its score.recorded follows when the judge is done. */
  'eval.queued': {
    job: string;
    target: { kind: 'conversation' | 'branch' | 'step' | 'artifact'; id: string };
    evaluator: string;
    trigger: string;
  };
  /** The checked-out branch changed (what readers show and a resume drives). */
  'branch.checkout': { branch: string; previous: string };
  /**
   * A request to the process driving a session, written by any process (another terminal's `session cancel`, the
   * TUI): the driver polls its session's log for these and carries them out.
   */
  'session.control':
    | { action: 'cancel' | 'pause' | 'resume'; from: string }
    | { action: 'respond'; callId: string; text: string; from: string }
    /** The user's next message, typed in a TUI that does not drive the session (issue 18). */
    | { action: 'send'; text: string; from: string };
}

export type OtherType = keyof OtherPayloads;
export type EventType = 'entry' | OtherType;

export interface EventHeader {
  readonly seq: number;
  readonly id: string;
  readonly ts: number;
  readonly v: number;
  readonly session: string | null;
  readonly branch: string | null;
  readonly conversation: string | null;
}

export type EntryEvent = {
  [K in EntryKind]: EventHeader & { readonly type: 'entry'; readonly kind: K; readonly payload: EntryPayloads[K] };
}[EntryKind];

export type OtherEvent = {
  [T in OtherType]: EventHeader & { readonly type: T; readonly kind: null; readonly payload: OtherPayloads[T] };
}[OtherType];

export type StoredEvent = EntryEvent | OtherEvent;

/** An event before the store has given it a seq. */
export type EventDraft =
  | {
      [K in EntryKind]: {
        type: 'entry';
        kind: K;
        payload: EntryPayloads[K];
        session: string;
        branch: string;
        conversation: string;
      };
    }[EntryKind]
  | {
      [T in OtherType]: {
        type: T;
        kind?: null;
        payload: OtherPayloads[T];
        session: string | null;
        branch: string | null;
        conversation: string | null;
      };
    }[OtherType];

/** Ephemeral bus traffic: never stored, no seq. The committed entry holds the whole text. */
export type EphemeralEvent =
  | { type: 'delta'; session: string; conversation: string; agent: string; modelCall: string; text: string }
  /** The model call's response is complete (its entries are about to be committed). */
  | { type: 'stream.end'; session: string; conversation: string; modelCall: string }
  | { type: 'tool.started'; session: string; conversation: string; callId: string; tool: string }
  /** A tool call's name and arguments as the model streams them (the committed tool_call entry holds them whole). */
  | {
      type: 'tool.delta';
      session: string;
      conversation: string;
      agent: string;
      modelCall: string;
      callId: string;
      name: string;
      argumentsDelta: string;
    }
  /** The model call failed and will be tried again after delayMs; text streamed by the failed attempt is void. */
  | {
      type: 'model.retry';
      session: string;
      conversation: string;
      agent: string;
      modelCall: string;
      attempt: number;
      delayMs: number;
      reason: string;
    }
  | { type: 'step.started'; session: string; conversation: string; agent: string; ordinal: number };

export interface EventFilter {
  session?: string;
  conversation?: string;
  types?: readonly EventType[];
  kinds?: readonly EntryKind[];
}

export function matchesFilter(event: StoredEvent, filter: EventFilter): boolean {
  if (filter.session !== undefined && event.session !== filter.session) return false;
  if (filter.conversation !== undefined && event.conversation !== filter.conversation) return false;
  if (filter.types !== undefined && !filter.types.includes(event.type)) return false;
  if (filter.kinds !== undefined && (event.kind === null || !filter.kinds.includes(event.kind))) return false;
  return true;
}
