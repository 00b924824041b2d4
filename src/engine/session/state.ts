import type { Persona } from '../../agents/persona.ts';
import type { SessionOptions, SessionStatus } from '../../core/events.ts';
import type { P2Error } from '../../core/errors.ts';
import type { JsonValue } from '../../core/json.ts';
import type { SessionRow } from '../../store/sessions.ts';
import { agentOverride, overriddenPersona, type BranchOverrides } from '../branching.ts';
import type { EngineContext } from '../context.ts';
import type { ConversationRuntime } from '../conversation.ts';
import { Recording } from '../replay.ts';

/** A tool call as the session runs it: from the decide commit's intent, or from the store after a restart. */
export interface ToolCallRef {
  readonly callId: string;
  readonly key: string;
  readonly tool: string;
  readonly args: JsonValue;
  readonly effect: 'pure' | 'idempotent' | 'effectful';
  readonly duplicateOf?: string;
  /** The key the tool sees and the effect journal files it under, when the session has `effectKeys`. */
  readonly effectKey?: string;
}

/**
 * What the parts of a session (its writer, model steps, tool calls, approvals, settling) ask of the runtime that
 * drives them. The runtime implements it; the parts know only this.
 */
export interface SessionLoop {
  /** Queues a conversation that became runnable (unless the session is paused or stopped). */
  enqueue(conv: ConversationRuntime): void;
  /** Derives the session's status again, writes it when it changed, and wakes whoever waits for rest. */
  updateStatus(): void;
  /** Stops driving after an error the runtime cannot continue past; the store keeps everything committed. */
  stop(error: unknown): void;
}

/**
 * One session as this process drives it: the in-memory projection of its conversations and the flags every part of
 * the runtime reads. Memory follows the log, never the other way: a rebuild from the log gives the same state.
 */
export class SessionState {
  readonly ctx: EngineContext;
  readonly id: string;
  /** The branch this runtime writes to (changes by a fork of the live head, or a rewind in memory). */
  branch: string;
  row: SessionRow;
  conversations = new Map<string, ConversationRuntime>();
  /** Set in the session's first commit, or when it is loaded. */
  root!: ConversationRuntime;
  /** Aborted when the runtime stops driving (cancel, detach, a fatal error): every call listens to it. */
  readonly abort = new AbortController();
  status: SessionStatus;
  paused = false;
  detached = false;
  /** The reason, while a cancel is being committed. */
  cancelled: string | undefined;
  /** A user message is on its way to the root (until its commit lands). */
  sending = false;
  /** A rewind left calls outstanding that `settleAfterRewind` settles. */
  settling = false;
  /** Commits queued and not yet flushed. */
  queuedCommits = 0;
  /** Model calls of the session, over all its conversations (the step budget counts them). */
  totalSteps = 0;
  /** Set when the runtime stopped on an error it cannot continue past (a lost lease, a failed commit). */
  error: P2Error | undefined;
  /** The recording this session replays (`--replay-from`), when it does. */
  readonly recording: Recording | undefined;
  readonly loop: SessionLoop;
  /** This branch's overrides: personas as they change them (another system prompt or tools), per-agent settings. */
  private readonly overrides: BranchOverrides;
  private readonly personaCache = new Map<string, Persona>();

  /** `overrides`: the checked-out branch's (a new session's main branch has none). */
  constructor(ctx: EngineContext, row: SessionRow, overrides: BranchOverrides, loop: SessionLoop) {
    this.ctx = ctx;
    this.id = row.id;
    this.branch = row.headBranch;
    this.row = row;
    this.status = row.status;
    this.loop = loop;
    this.overrides = overrides;
    const replay = row.options.replay;
    // A staged replay (`session replay`) is as far as its own head branch's forks: read when a call is looked up,
    // since a rewind moves this runtime to another branch in memory.
    const stage = (): number => ctx.store.sessions.segments(this.branch).length - 1;
    this.recording =
      replay === undefined
        ? undefined
        : Recording.load(ctx.store, {
            session: replay.from,
            onMiss: replay.onMiss,
            ...(replay.staged === true ? { stage } : {}),
          });
  }

  /** A persona as this branch sees it. */
  persona(id: string): Persona {
    let persona = this.personaCache.get(id);
    if (persona === undefined) {
      persona = overriddenPersona(this.ctx.ports.personas.get(id), agentOverride(this.overrides, id));
      this.personaCache.set(id, persona);
    }
    return persona;
  }

  /**
   * The session options one agent's steps run with: the branch's model or temperature for that agent beats the
   * every-agent one (a session option, which itself beats the persona's).
   */
  optionsFor(agent: string): SessionOptions {
    const own = this.overrides.personas?.[agent];
    if (own === undefined || (own.model === undefined && own.temperature === undefined)) return this.row.options;
    return {
      ...this.row.options,
      ...(own.model === undefined ? {} : { model: own.model }),
      ...(own.temperature === undefined ? {} : { temperature: own.temperature }),
    };
  }

  /** Whether this process still drives the session (not detached, not stopped by an error). */
  get active(): boolean {
    return !this.detached && this.error === undefined;
  }

  /** Aborts the session and every conversation's own calls (they listen to their conversation's signal). */
  abortAll(reason: unknown): void {
    this.abort.abort(reason);
    for (const conv of this.conversations.values()) conv.abort.abort(reason);
  }

  /** The conversation whose question `callId` is still unanswered. */
  askedBy(callId: string): ConversationRuntime | undefined {
    for (const conv of this.conversations.values()) {
      if (conv.questions.has(callId) && !conv.pendingResults.has(callId)) return conv;
    }
    return undefined;
  }
}

/** Whether a conversation wants a model call: ready, or failed in a way a retry may fix. */
export function steppable(conv: ConversationRuntime): boolean {
  return conv.state.phase === 'ready' || (conv.state.phase === 'failed' && conv.state.retryable);
}

/** "250 ms", "30 s", "10 min". */
export function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  return `${Math.round(ms / 60_000)} min`;
}
