import type { Persona } from '../../agents/persona.ts';
import type { EntryDraft } from '../../core/entries.ts';
import { UserError } from '../../core/errors.ts';
import type { EventDraft, OtherPayloads, OtherType, SessionStatus } from '../../core/events.ts';
import { sha256Text } from '../../core/hash.ts';
import { nextEventId } from '../../core/ids.ts';
import { canonicalJson, tryParseJson, type JsonValue } from '../../core/json.ts';
import type { RecordedToolCall } from '../../store/calls.ts';
import type { ModelResponse } from '../../models/provider.ts';
import type { JobTrigger, TargetKind } from '../../store/scores.ts';
import type { Txn } from '../context.ts';
import { ConversationRuntime } from '../conversation.ts';
import type { CallPlan } from '../decide.ts';
import { apply } from '../fsm.ts';
import type { PreparedCall } from '../model-step.ts';
import type { EvaluatorRef } from '../ports.ts';
import { DEFAULT_INLINE_BYTES, previewOf } from '../tool-runner.ts';
import type { SessionState } from './state.ts';

/** Arguments kept as an artifact: the preview that stands for them, and the artifact's hash. */
export interface LargeArguments {
  readonly preview: string;
  readonly hash: string;
}

/** How a model call ended, as its record keeps it. */
export interface ModelCallOutcome {
  readonly response: ModelResponse | null;
  readonly latencyMs: number;
  readonly startedAt: number;
  readonly error: string | null;
  /** Served from a recording: it cost nothing now. */
  readonly replayed?: boolean;
}

/**
 * Every write of a session goes through here: the group commit with the session's bookkeeping (the lease check,
 * the judge's jobs, the conversations' heads, what became runnable) and one method per thing appended to the log,
 * so each event's header (session, branch, conversation, time) is filled in one place.
 */
export class SessionWriter {
  private readonly state: SessionState;
  /** The large arguments this session refers to (by hash) since it was attached here. */
  private readonly argumentRefs = new Set<string>();

  constructor(state: SessionState) {
    this.state = state;
  }

  /**
   * A group commit: `fn` runs inside the store's transaction with this commit's bookkeeping. Once it is durable,
   * its `after` actions run, conversations it made ready are queued and the status is derived again. A failed
   * commit stops the runtime (memory may already show what the store rolled back; a resume rebuilds from the log).
   */
  async commit(fn: (tx: Txn) => void): Promise<void> {
    const { state } = this;
    const { store, leases, clock } = state.ctx;
    if (state.detached) throw new UserError('E_CANCELLED', 'the session was detached from this process');
    let tx: Txn | undefined;
    // Queued writes run at the next flush, on whatever memory holds then: a rewind waits until none is queued.
    state.queuedCommits += 1;
    try {
      await store.commit(() => {
        tx = { now: clock.now(), touched: new Set(), after: [], jobs: [] };
        leases.assert(state.id, tx.now);
        fn(tx);
        if (tx.jobs.length > 0) {
          const upto = store.log.lastSeq();
          for (const queue of tx.jobs) queue(upto);
        }
        this.heads(tx);
      });
    } catch (error) {
      state.loop.stop(error);
      throw error;
    } finally {
      state.queuedCommits -= 1;
    }
    if (tx === undefined) return;
    for (const action of tx.after) action();
    for (const conv of tx.touched) if (conv.state.phase === 'ready') state.loop.enqueue(conv);
    state.loop.updateStatus();
  }

  /** `commit`, for callers that stop the session on a failure and have nothing else to do about it. */
  async commitOrStop(fn: (tx: Txn) => void): Promise<void> {
    try {
      await this.commit(fn);
    } catch (error) {
      this.state.loop.stop(error);
    } finally {
      this.state.loop.updateStatus();
    }
  }

  /** An entry of a conversation's stack: checked by the FSM, appended, and observed by the projection. */
  entry(tx: Txn, conv: ConversationRuntime, draft: EntryDraft, id: string = nextEventId()): void {
    const next = apply(conv.state, draft);
    if (draft.kind === 'user_message' && conv.abort.signal.aborted) conv.abort = new AbortController();
    const header = { session: this.state.id, branch: this.state.branch, conversation: conv.id };
    const event = this.state.ctx.store.append({ type: 'entry', ...draft, ...header } as EventDraft, tx.now, id);
    conv.state = next;
    conv.observe({ ...draft, id, seq: event.seq });
    tx.touched.add(conv);
    // The judge's jobs go in the commit that finishes the conversation: durable, and never waited for here.
    if (draft.kind === 'finished') {
      for (const e of this.state.ctx.ports.evaluations.onFinished(conv.agent, conv.parent === null)) {
        this.job(tx, e, 'conversation', conv.id, 'conversation.finished');
      }
    }
  }

  /** Any other event of this session (on its branch), optionally of one conversation. */
  event<T extends OtherType>(tx: Txn, type: T, payload: OtherPayloads[T], conversation: string | null = null): number {
    const draft = { type, payload, session: this.state.id, branch: this.state.branch, conversation } as EventDraft;
    return this.state.ctx.store.append(draft, tx.now).seq;
  }

  /** An evaluation job, judged as the branch is at the end of this commit (a later message must not change it). */
  job(tx: Txn, evaluator: EvaluatorRef, targetKind: TargetKind, targetId: string, trigger: JobTrigger): void {
    const { id, branch, ctx } = this.state;
    tx.jobs.push((uptoSeq) =>
      ctx.ports.evaluations.queue({
        session: id,
        branch,
        targetKind,
        targetId,
        trigger,
        evaluator,
        uptoSeq,
        now: tx.now,
      }),
    );
  }

  /** A new conversation of the session (the root, or a delegated child), its row and its event. */
  conversation(
    tx: Txn,
    id: string,
    persona: Persona,
    parent: ConversationRuntime | null,
    parentCallId: string | null,
  ): ConversationRuntime {
    const { state } = this;
    const siblings = parent?.childrenByAgent.get(persona.id) ?? [];
    const path = parent === null ? persona.id : `${parent.path}/${persona.id}#${siblings.length + 1}`;
    const depth = parent === null ? 0 : parent.depth + 1;
    const system = state.ctx.personas.for(persona).system;
    const conv = new ConversationRuntime(id, persona, parent, parentCallId, depth, path, system);
    state.ctx.store.sessions.createConversation({
      id,
      session: state.id,
      branch: state.branch,
      agent: persona.id,
      parent: parent?.id ?? null,
      parentCallId,
      depth,
      path,
      createdAt: tx.now,
    });
    const payload = { agent: persona.id, parent: parent?.id ?? null, parentCallId, depth, path };
    this.event(tx, 'conversation.created', payload, id);
    state.conversations.set(id, conv);
    if (parent !== null) parent.childrenByAgent.set(persona.id, [...siblings, conv]);
    return conv;
  }

  /**
   * Arguments larger than the inline limit (p2tui.yaml's limits.inline_bytes): their canonical JSON is stored once,
   * as an artifact of this conversation, and what refers to them (the call's entry, intent and model-call record)
   * holds the preview and hash returned here. Undefined for arguments small enough to keep inline.
   */
  largeArguments(
    tx: Txn,
    conv: ConversationRuntime,
    tool: string,
    args: JsonValue,
    entry?: string,
  ): LargeArguments | undefined {
    const limit = this.state.ctx.ports.inlineBytes ?? DEFAULT_INLINE_BYTES;
    if (typeof args !== 'object' && typeof args !== 'string') return undefined;
    const text = canonicalJson(args);
    if (text.length * 3 <= limit || Buffer.byteLength(text) <= limit) return undefined;
    const hash = sha256Text(text);
    // Referred to once by this session (by the model call and the entry of the same commit): a blob stored already
    // (the same arguments earlier, or the recording a replay serves) gets a reference, so it outlives its first owner.
    if (!this.argumentRefs.has(hash)) {
      const { artifacts } = this.state.ctx.store;
      const name = `${tool}-arguments.json`;
      const where = {
        kind: 'tool_arguments',
        name,
        session: this.state.id,
        branch: this.state.branch,
        conversation: conv.id,
      };
      const meta = entry === undefined ? where : { ...where, entry };
      const ref =
        artifacts.reference(hash, meta, tx.now) ?? artifacts.put(text, { ...meta, mime: 'application/json' }, tx.now);
      const payload = {
        hash,
        kind: ref.kind,
        name,
        mime: ref.mime,
        size: ref.size,
        ...(entry === undefined ? {} : { entry }),
      };
      this.event(tx, 'artifact.created', payload, conv.id);
      this.argumentRefs.add(hash);
    }
    return { preview: previewOf(text, Buffer.byteLength(text), 'arguments', hash, limit), hash };
  }

  /** The intent of one call of a response, with its idempotency key (and its result, when known at once). */
  intent(tx: Txn, conv: ConversationRuntime, call: CallPlan, argsArtifact?: string): void {
    const immediate = call.kind === 'tool' ? call.immediate : undefined;
    this.state.ctx.store.calls.addIntent({
      key: call.key,
      session: this.state.id,
      branch: this.state.branch,
      conversation: conv.id,
      callId: call.callId,
      entryId: call.entryId,
      kind: call.kind,
      tool: call.kind === 'tool' ? call.tool : call.kind === 'agent' ? 'delegate' : 'ask_user',
      effect: call.kind === 'tool' ? call.effect : 'pure',
      args:
        call.kind === 'tool'
          ? call.args
          : call.kind === 'agent'
            ? { agent: call.agent, message: call.message }
            : { question: call.question },
      status: immediate === undefined ? 'pending' : 'done',
      result: immediate ?? null,
      createdAt: tx.now,
      ...(argsArtifact === undefined ? {} : { argsArtifact }),
    });
    if (immediate !== undefined) conv.pendingResults.set(call.callId, immediate);
  }

  /**
   * A tool call of a response as its model-call record keeps it: large arguments as a preview and the artifact that
   * holds them (the same one the call's entry names), read back whole for a replay.
   */
  private recordedCall(tx: Txn, conv: ConversationRuntime, call: ModelResponse['toolCalls'][number]): RecordedToolCall {
    const { id, name, arguments: raw } = call;
    const limit = this.state.ctx.ports.inlineBytes ?? DEFAULT_INLINE_BYTES;
    if (raw.length <= limit / 3) return { id, name, arguments: raw };
    // What the call's entry holds: the parsed arguments, or the text itself when it is not JSON.
    const parsed = tryParseJson(raw);
    const large = this.largeArguments(tx, conv, name, parsed ?? raw);
    if (large === undefined) return { id, name, arguments: raw };
    return {
      id,
      name,
      arguments: large.preview,
      argumentsArtifact: large.hash,
      ...(parsed === undefined ? { argumentsText: true } : {}),
    };
  }

  /** The model call's record (request hash and rendered entries, response, usage, cost) and its log event. */
  modelCall(tx: Txn, conv: ConversationRuntime, call: PreparedCall, id: string, outcome: ModelCallOutcome): void {
    const { state } = this;
    const { response } = outcome;
    const tokensIn = response?.usage.inputTokens ?? 0;
    const tokensOut = response?.usage.outputTokens ?? 0;
    const estimated = response?.usage.estimated ?? true;
    // A call served from a recording cost nothing now; its tokens are kept so the two sessions compare.
    const replayed = outcome.replayed === true;
    const costUsd = replayed ? 0 : state.ctx.ports.models.cost(call.modelRef, tokensIn, tokensOut);
    const provider = replayed ? 'replay' : call.provider.id;
    const status = response === null ? 'error' : 'ok';
    state.ctx.store.calls.recordModelCall({
      id,
      session: state.id,
      branch: state.branch,
      conversation: conv.id,
      ordinal: call.ordinal,
      provider,
      model: call.modelRef,
      requestHash: call.requestHash,
      request: { params: call.params, rendered: call.rendered },
      response:
        response === null
          ? null
          : {
              text: response.text,
              toolCalls: response.toolCalls.map((c) => this.recordedCall(tx, conv, c)),
              finishReason: response.finishReason,
            },
      tokensIn,
      tokensOut,
      estimated,
      costUsd,
      latencyMs: outcome.latencyMs,
      status,
      error: outcome.error,
      ts: outcome.startedAt,
    });
    const seq = this.event(
      tx,
      'model.call',
      {
        id,
        ordinal: call.ordinal,
        provider,
        model: call.modelRef,
        simulated: call.provider.simulated,
        tokensIn,
        tokensOut,
        estimated,
        costUsd,
        latencyMs: outcome.latencyMs,
        requestHash: call.requestHash,
        status,
        ...(outcome.error === null ? {} : { error: outcome.error }),
        ...(call.rendered.omitted === undefined ? {} : { omitted: call.rendered.omitted }),
      },
      conv.id,
    );
    if (status === 'ok') conv.countModelCall(seq);
  }

  /** The session's status: its row and a `session.status` event (inside a write). */
  status(status: SessionStatus, reason: string | null, now: number): void {
    const { state } = this;
    state.ctx.store.sessions.setStatus(state.id, status, reason, now);
    const payload = { status, ...(reason === null ? {} : { reason }) };
    state.ctx.store.append(
      { type: 'session.status', payload, session: state.id, branch: state.branch, conversation: null },
      now,
    );
  }

  /** Moves the heads of the conversations a commit touched (the store writes each once per transaction). */
  heads(tx: Txn): void {
    for (const conv of tx.touched) this.head(conv, this.state.branch, tx.now);
  }

  /** Moves one conversation's head on `branch`. */
  head(conv: ConversationRuntime, branch: string, now: number): void {
    this.state.ctx.store.setHead({
      branch,
      conversation: conv.id,
      session: this.state.id,
      headSeq: conv.headSeq,
      phase: conv.state.phase,
      updatedAt: now,
    });
  }
}
