import { deadlineSignal, type Deadline } from '../../core/clock.ts';
import { UserError } from '../../core/errors.ts';
import { sha256 } from '../../core/hash.ts';
import { canonicalJson } from '../../core/json.ts';
import { newModelCallId } from '../../core/ids.ts';
import type { ModelResponse } from '../../models/provider.ts';
import type { Txn } from '../context.ts';
import type { ConversationRuntime } from '../conversation.ts';
import type { CallPlan, Plan } from '../decide.ts';
import { modelFailure, planResponse, prepareCall, type Failure, type PreparedCall } from '../model-step.ts';
import type { Settlement } from './settlement.ts';
import { duration, steppable, type SessionState } from './state.ts';
import type { ToolCalls } from './tool-calls.ts';
import type { SessionWriter } from './writer.ts';

/** What asking the model for one step gave. */
type Answer =
  | {
      readonly kind: 'response';
      readonly response: ModelResponse;
      readonly modelMs: number;
      readonly replayed: boolean;
    }
  | { readonly kind: 'failed'; readonly failure: Failure; readonly latencyMs: number }
  /** Not recorded: the recording has no answer, and the session fails the step without a model call. */
  | { readonly kind: 'missed'; readonly failure: Failure }
  /** Cancelled, detached or stopped meanwhile: nothing to record. */
  | { readonly kind: 'dropped' };

/**
 * One model step of one conversation: the budgets checked, the request prepared from the transcript, the model
 * called (or the recording read) with the persona's timeout, and the decide commit: the model call's record, the
 * entries of its response, an intent per call, delegations started, and the calls' runs queued after it lands.
 */
export class ModelSteps {
  private readonly state: SessionState;
  private readonly writer: SessionWriter;
  private readonly settlement: Settlement;
  private readonly tools: ToolCalls;

  constructor(state: SessionState, writer: SessionWriter, settlement: Settlement, tools: ToolCalls) {
    this.state = state;
    this.writer = writer;
    this.settlement = settlement;
    this.tools = tools;
  }

  /**
   * Takes the step. `modelDone` gives the scheduler's slot back as soon as the model has answered, so the next
   * model call starts while this one commits.
   */
  async take(conv: ConversationRuntime, started: number, modelDone: () => void): Promise<void> {
    const { state, writer, settlement } = this;
    const { ctx } = state;
    const budgetFailure = this.budgetFailure(conv);
    if (budgetFailure !== undefined) return writer.commit((tx) => settlement.fail(tx, conv, budgetFailure));
    const call = prepareCall(conv, state.optionsFor(conv.agent), ctx.ports.models, ctx.personas);
    const modelCall = newModelCallId();
    state.totalSteps += 1;
    conv.steps = call.ordinal;
    if (ctx.bus.hasDeltaListeners) {
      const event = { type: 'step.started', session: state.id, conversation: conv.id } as const;
      ctx.bus.emit({ ...event, agent: conv.agent, ordinal: call.ordinal });
    }
    const startedAt = ctx.clock.now();
    const answer = await this.ask(conv, call, modelCall);
    modelDone();
    // Cancelled meanwhile, or the conversation stopped (a delegation timeout, say) while the model worked: the
    // answer is dropped and the step does not count.
    const dropped = answer.kind === 'dropped' || state.abort.signal.aborted || conv.abort.signal.aborted;
    if (answer.kind !== 'response' || dropped || !steppable(conv)) {
      state.totalSteps -= 1;
      conv.steps = call.ordinal - 1;
    }
    if (answer.kind === 'dropped') return;
    if (answer.kind === 'missed') return writer.commit((tx) => settlement.fail(tx, conv, answer.failure));
    if (answer.kind === 'failed') {
      if (dropped) return;
      const outcome = { response: null, latencyMs: answer.latencyMs, startedAt, error: answer.failure.message };
      return writer.commit((tx) => {
        writer.modelCall(tx, conv, call, modelCall, outcome);
        settlement.fail(tx, conv, answer.failure);
      });
    }
    if (ctx.bus.hasDeltaListeners) {
      ctx.bus.emit({ type: 'stream.end', session: state.id, conversation: conv.id, modelCall });
    }
    if (dropped || !steppable(conv)) return;
    const outcome = {
      response: answer.response,
      latencyMs: Math.round(answer.modelMs),
      startedAt,
      error: null,
      replayed: answer.replayed,
    };
    await writer.commit((tx) => {
      // Planned at the commit's time, the time its entries carry: a question's deadline is then exactly its
      // timeout after the question's entry, which is how a replay compares deadlines (engine/replay.ts).
      const plan = planResponse(conv, answer.response, modelCall, ctx.ports.tools, tx.now);
      writer.modelCall(tx, conv, call, modelCall, outcome);
      this.apply(tx, conv, plan);
    });
    ctx.onStepTiming?.({ totalMs: ctx.clock.monotonic() - started, modelMs: answer.modelMs });
  }

  /** The model's answer: from the recording when replaying, else from the provider within the persona's timeout. */
  private async ask(conv: ConversationRuntime, call: PreparedCall, modelCall: string): Promise<Answer> {
    const { recording } = this.state;
    const replayed = recording?.model(conv.path, call.ordinal, call.requestHash, call.rendered.messages);
    // A call recorded after a fork the replay has not made yet is never made live: the replay stops here and forks.
    if (
      replayed !== undefined &&
      'miss' in replayed &&
      (recording?.source.onMiss === 'fail' || replayed.later === true)
    ) {
      const failure: Failure = {
        code: 'E_REPLAY_MISS',
        message: `no recording for this model call: ${replayed.miss}`,
        retryable: true,
        hint: 'Run it again with --on-miss live to call the model where the recording has no answer.',
      };
      return { kind: 'missed', failure };
    }
    // Served from the recording: no provider, no slot, no cost.
    if (replayed !== undefined && 'hit' in replayed) {
      return { kind: 'response', response: replayed.hit, modelMs: 0, replayed: true };
    }
    return this.callModel(conv, call, modelCall);
  }

  /** Calls the provider in a slot of its limiter, with the persona's model timeout and the deltas on the bus. */
  private async callModel(conv: ConversationRuntime, call: PreparedCall, modelCall: string): Promise<Answer> {
    const { ctx, id: session } = this.state;
    const timeoutMs = conv.persona.policies.model_timeout_ms;
    // The conversation's signal is aborted by a cancel of the session as well as of the conversation alone.
    const convAbort = conv.abort.signal;
    let deadline: Deadline | undefined;
    let modelStarted = ctx.clock.monotonic();
    const live = { session, conversation: conv.id, agent: conv.agent, modelCall };
    try {
      const response = await ctx.scheduler.provider(call.provider.id).run(() => {
        // The timeout starts when the call does, not while it waits for a slot of the provider. A provider that
        // retries times each attempt itself (its rate-limit waits and backoffs are not the model's slowness).
        // Held open while armed: the call is awaited, and a provider that hangs must end in a timeout, not an exit.
        if (call.provider.timesAttempts !== true)
          deadline = deadlineSignal(
            ctx.clock,
            timeoutMs,
            () => new UserError('E_MODEL_TIMEOUT', `no answer within ${duration(timeoutMs)}`),
            { within: convAbort },
          );
        modelStarted = ctx.clock.monotonic();
        return call.provider.complete(call.request, {
          signal: deadline?.signal ?? convAbort,
          attemptTimeoutMs: timeoutMs,
          clock: ctx.clock,
          // Always offered: a listener may arrive while the model is working (a TUI opening the session).
          onDelta: (d) => {
            if (!ctx.bus.hasDeltaListeners) return;
            if ('text' in d) ctx.bus.emit({ type: 'delta', ...live, text: d.text });
            else {
              const { id: callId, name, argumentsDelta } = d.toolCall;
              ctx.bus.emit({ type: 'tool.delta', ...live, callId, name, argumentsDelta });
            }
          },
          onRetry: (notice) => {
            if (ctx.bus.hasDeltaListeners) ctx.bus.emit({ type: 'model.retry', ...live, ...notice });
          },
        });
      });
      return { kind: 'response', response, modelMs: ctx.clock.monotonic() - modelStarted, replayed: false };
    } catch (error) {
      if (this.state.abort.signal.aborted || convAbort.aborted) return { kind: 'dropped' };
      const failure = modelFailure(error, deadline?.expired() === true, call.modelRef, timeoutMs, session);
      return { kind: 'failed', failure, latencyMs: Math.round(ctx.clock.monotonic() - modelStarted) };
    } finally {
      deadline?.cancel();
    }
  }

  /** A step the budgets forbid: the session's (resumable with more) or the persona's per-conversation limit. */
  private budgetFailure(conv: ConversationRuntime): Failure | undefined {
    const { state } = this;
    const budget = state.row.options.maxSteps;
    if (state.totalSteps >= budget) {
      return {
        code: 'E_STEP_BUDGET',
        message: `the session used its step budget of ${budget} model calls`,
        retryable: true,
        hint: `Resume with a larger budget: p2tui session resume ${state.id} --max-steps ${budget * 2}`,
      };
    }
    const limit = conv.persona.policies.max_steps;
    if (conv.steps >= limit) {
      return {
        code: 'E_STEP_BUDGET',
        message: `${conv.agent} reached its limit of ${limit} model calls in one conversation (policies.max_steps)`,
        retryable: false,
        hint: `Raise policies.max_steps in ${conv.persona.source} if the task really needs more steps.`,
      };
    }
    return undefined;
  }

  /** The decide commit's body: the entries of a response, an intent per call, children started, results known now. */
  private apply(tx: Txn, conv: ConversationRuntime, plan: Plan): void {
    const { writer, settlement } = this;
    const byEntry = new Map<string, CallPlan>(plan.calls.map((c) => [c.entryId, c]));
    for (const planned of plan.entries) {
      let { draft } = planned;
      // Large arguments are stored once, as an artifact: the entry (and so the model, next time) gets a preview.
      const large =
        draft.kind === 'tool_call'
          ? writer.largeArguments(tx, conv, draft.payload.tool, draft.payload.args, draft.payload.key)
          : undefined;
      if (large !== undefined && draft.kind === 'tool_call') {
        draft = { ...draft, payload: { ...draft.payload, args: large.preview, argsArtifact: large.hash } };
      }
      writer.entry(tx, conv, draft, planned.id);
      const call = byEntry.get(planned.id);
      if (call !== undefined) writer.intent(tx, conv, call, large?.hash);
    }
    const scope = this.state.row.options.effectKeys;
    plan.calls.forEach((call, index) => {
      if (call.kind === 'tool' && call.immediate === undefined) {
        const { callId, key, tool, args, effect, duplicateOf } = call;
        // The same on every attempt of the same work: what the call is and where it stands, nothing random.
        const effectKey =
          scope === undefined || effect !== 'effectful'
            ? undefined
            : `fx_${sha256([scope, conv.path, conv.steps, index, tool, canonicalJson(args)].join('\n')).slice(0, 32)}`;
        const ref = {
          callId,
          key,
          tool,
          args,
          effect,
          ...(duplicateOf === undefined ? {} : { duplicateOf }),
          ...(effectKey === undefined ? {} : { effectKey }),
        };
        tx.after.push(() => void this.tools.run(conv, ref));
      } else if (call.kind === 'agent') {
        this.delegate(tx, conv, call);
      } else if (call.kind === 'user') {
        settlement.answerByPolicyOrWait(tx, conv, call.callId);
      }
    });
    settlement.release(tx, conv);
    if (conv.state.phase === 'finished') settlement.propagate(tx, conv, 'ok');
  }

  /** A delegation: the child conversation (new, or reused) gets the task; a refused one fails at once. */
  private delegate(tx: Txn, parent: ConversationRuntime, call: Extract<CallPlan, { kind: 'agent' }>): void {
    const { state, writer, settlement } = this;
    const persona = state.persona(call.agent);
    const child =
      (call.reuse ? state.conversations.get(call.child) : undefined) ??
      writer.conversation(tx, call.child, persona, parent, call.callId);
    // Tagged with the parent's head (the response's last entry): a rewind to before the response unlinks them.
    parent.linkChild(call.callId, child, parent.headSeq);
    writer.entry(tx, child, { kind: 'user_message', payload: { text: call.message } });
    if (call.refusal !== undefined) {
      const { code, message } = call.refusal;
      writer.entry(tx, child, { kind: 'failed', payload: { code, message, retryable: false } });
      settlement.propagate(tx, child, 'failed', message);
      return;
    }
    settlement.armDelegationTimer(tx, parent, call.callId);
  }
}
