/*
 * A session's log as OpenTelemetry spans with the GenAI semantic conventions: a pure function of what the log holds.
 * Long because every kind of event the log keeps (conversations, model calls, tool runs, delegations, questions,
 * approvals, payments, scores, forks, replays) has its place in the one trace and they refer to one another.
 */
import {
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_EVALUATION_EXPLANATION,
  ATTR_GEN_AI_EVALUATION_NAME,
  ATTR_GEN_AI_EVALUATION_SCORE_VALUE,
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_REQUEST_SEED,
  ATTR_GEN_AI_REQUEST_TEMPERATURE,
  ATTR_GEN_AI_REQUEST_TOP_P,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_TOOL_CALL_ARGUMENTS,
  ATTR_GEN_AI_TOOL_CALL_ID,
  ATTR_GEN_AI_TOOL_CALL_RESULT,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_TOOL_TYPE,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
  GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL,
  GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT,
} from '@opentelemetry/semantic-conventions/incubating';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import { sha256 } from '../core/hash.ts';
import type { JsonValue } from '../core/json.ts';
import type { EntryEvent, StoredEvent } from '../core/events.ts';
import type { ModelCallRecord } from '../store/calls.ts';
import type { SessionLog } from './log.ts';

export type AttrValue = string | number | boolean | readonly string[];
export type Attrs = Record<string, AttrValue>;

export interface SpanRef {
  readonly traceId: string;
  readonly spanId: string;
}

export interface TraceEvent {
  readonly name: string;
  /** Milliseconds since the epoch, from the log. */
  readonly time: number;
  readonly attributes: Attrs;
}

/** One span, in plain data: otlp.ts turns it into the SDK's ReadableSpan only when something is exported. */
export interface TraceSpan extends SpanRef {
  readonly parentSpanId: string | null;
  readonly name: string;
  readonly kind: 'internal' | 'client';
  start: number;
  end: number;
  readonly attributes: Attrs;
  readonly events: TraceEvent[];
  readonly links: { readonly to: SpanRef; readonly attributes: Attrs }[];
  status: { code: 'unset' | 'ok' | 'error'; message?: string };
}

export interface MapOptions {
  /** Message contents (what users, models and tools said) go into attributes only when asked. */
  readonly captureContent?: boolean;
  /** The span the trace's root spans link to (a rollout's, for its cells). */
  readonly linkTo?: SpanRef;
}

/** Trace and span ids are hashes of the session and of what a span stands for: re-exporting gives the same ids. */
export const traceIdOf = (scope: string): string => sha256(`p2tui trace\n${scope}`).slice(0, 32);
export const spanIdOf = (scope: string, key: string): string => sha256(`p2tui span\n${scope}\n${key}`).slice(0, 16);

const text = (value: JsonValue | undefined): string =>
  typeof value === 'string' ? value : JSON.stringify(value ?? null);

/** `openai/gpt-4o-mini` → provider `openai`, model `gpt-4o-mini`. */
function splitModel(ref: string): { provider: string; model: string } {
  const slash = ref.indexOf('/');
  return slash < 0 ? { provider: ref, model: ref } : { provider: ref.slice(0, slash), model: ref.slice(slash + 1) };
}

/** A payment a tool's result reports (a transfer, a reward, an escrow locked): the ledger's word, as the tool got it. */
function paymentOf(tool: string, output: JsonValue | undefined): Attrs | undefined {
  if (output === null || typeof output !== 'object' || Array.isArray(output)) return undefined;
  const field = (name: string): string | undefined =>
    typeof output[name] === 'string' ? (output[name] as string) : undefined;
  const [kind, amount, to] =
    field('escrow') !== undefined
      ? ['escrow', field('amount'), field('payee')]
      : field('rewarded') !== undefined
        ? ['reward', field('rewarded'), field('to')]
        : field('paid') !== undefined && field('to') !== undefined
          ? ['transfer', field('paid'), field('to')]
          : [undefined, undefined, undefined];
  if (kind === undefined || amount === undefined) return undefined;
  const reference = field('reference') ?? field('escrow');
  return {
    'p2tui.payment.kind': kind,
    'p2tui.payment.tool': tool,
    'p2tui.payment.amount': amount,
    ...(to === undefined ? {} : { 'p2tui.payment.to': to }),
    ...(reference === undefined ? {} : { 'p2tui.payment.reference': reference }),
  };
}

/** The spans of one session: one trace, whose ids depend only on the session and the log. */
export function sessionSpans(log: SessionLog, options: MapOptions = {}): TraceSpan[] {
  const { session } = log;
  const capture = options.captureContent === true;
  const traceId = traceIdOf(session.id);
  const idOf = (key: string): string => spanIdOf(session.id, key);
  const replayed = session.options.replay !== undefined;
  const common: Attrs = { 'p2tui.session.id': session.id };
  const spans: TraceSpan[] = [];
  /** Each span's seq (the log position it starts at), for the fork links. */
  const seqOf = new Map<TraceSpan, number>();
  const branchOfSpan = new Map<TraceSpan, string>();
  const add = (span: TraceSpan, seq: number, branch: string): TraceSpan => {
    spans.push(span);
    seqOf.set(span, seq);
    branchOfSpan.set(span, branch);
    return span;
  };
  const convRows = new Map(log.conversations.map((c) => [c.id, c]));
  const records = new Map<string, ModelCallRecord>(log.modelCalls.map((r) => [r.id, r]));
  const convSpans = new Map<string, TraceSpan>();
  const convKey = (conv: string, branch: string): string => `conversation:${conv}:${branch}`;

  /** The invoke_agent span of a conversation on a branch (a conversation continued on a fork gets one there too). */
  const conversationSpan = (conv: string, branch: string, seq: number, ts: number): TraceSpan => {
    const key = convKey(conv, branch);
    const known = convSpans.get(key);
    if (known !== undefined) return known;
    const row = convRows.get(conv);
    const agent = row?.agent ?? 'unknown';
    const parentConv = row?.parent ?? null;
    const parent =
      parentConv === null
        ? undefined
        : (convSpans.get(convKey(parentConv, branch)) ??
          convSpans.get(convKey(parentConv, convRows.get(parentConv)?.branch ?? branch)));
    const span = add(
      {
        traceId,
        spanId: idOf(key),
        parentSpanId: parent?.spanId ?? null,
        name: `${GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT} ${agent}`,
        kind: 'internal',
        start: ts,
        end: ts,
        attributes: {
          [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT,
          [ATTR_GEN_AI_AGENT_NAME]: agent,
          [ATTR_GEN_AI_CONVERSATION_ID]: conv,
          ...common,
          'p2tui.branch': branch,
          'p2tui.seq': seq,
          'p2tui.cost_usd': 0,
          'p2tui.replayed': replayed,
          ...(row === undefined ? {} : { 'p2tui.conversation.path': row.path, 'p2tui.depth': row.depth }),
          ...(row?.parentCallId == null ? {} : { 'p2tui.parent_call_id': row.parentCallId }),
        },
        events: [],
        links: [],
        status: { code: 'unset' },
      },
      seq,
      branch,
    );
    if (parent === undefined && options.linkTo !== undefined) {
      span.links.push({ to: options.linkTo, attributes: { 'p2tui.link': 'rollout' } });
    }
    convSpans.set(key, span);
    return span;
  };

  const toolSpans = new Map<string, TraceSpan>();
  const toolByKey = new Map<string, TraceSpan>();
  const toolKey = (conv: string, branch: string, callId: string): string => `${conv}:${branch}:${callId}`;
  const chatSpans = new Map<string, TraceSpan>();
  const stretch = (span: TraceSpan, until: number): void => {
    span.end = Math.max(span.end, until);
  };

  for (const event of log.events) {
    const { conversation, branch } = event;
    if (conversation === null || branch === null) continue;
    if (event.type === 'conversation.created') {
      conversationSpan(conversation, branch, event.seq, event.ts);
      continue;
    }
    const conv = conversationSpan(conversation, branch, event.seq, event.ts);
    // A conversation lasts as long as its own work: a score, an evaluation queued or an escrow settled after it ended
    // does not lengthen it (each has a span or event of its own).
    if (event.type === 'entry' || event.type === 'approval.requested' || event.type === 'approval.decided')
      stretch(conv, event.ts);
    switch (event.type) {
      case 'model.call': {
        const record = records.get(event.payload.id);
        const span = chatSpan(event, record, conv);
        add(span, event.seq, branch);
        chatSpans.set(event.payload.id, span);
        stretch(conv, span.end);
        conv.attributes['p2tui.cost_usd'] = Number(conv.attributes['p2tui.cost_usd']) + event.payload.costUsd;
        if (conv.attributes[ATTR_GEN_AI_REQUEST_MODEL] === undefined) {
          const { provider, model } = splitModel(event.payload.model);
          conv.attributes[ATTR_GEN_AI_PROVIDER_NAME] = provider;
          conv.attributes[ATTR_GEN_AI_REQUEST_MODEL] = model;
        }
        break;
      }
      case 'entry':
        entry(event, conv);
        break;
      case 'approval.requested':
      case 'approval.decided': {
        const span = toolSpans.get(toolKey(conversation, branch, event.payload.callId)) ?? conv;
        span.events.push({
          name: event.type === 'approval.requested' ? 'p2tui.approval.requested' : 'p2tui.approval.decided',
          time: event.ts,
          attributes: {
            'p2tui.call_id': event.payload.callId,
            ...(event.type === 'approval.decided'
              ? { 'p2tui.approval.approved': event.payload.approved, 'p2tui.approval.by': event.payload.by }
              : { 'p2tui.approval.reason': event.payload.reason }),
          },
        });
        break;
      }
      case 'milestone':
        (toolByKey.get(event.payload.entry) ?? conv).events.push({
          name: 'p2tui.milestone',
          time: event.ts,
          attributes: { 'p2tui.milestone.name': event.payload.name, 'p2tui.tool': event.payload.tool },
        });
        break;
      case 'effect.compensated':
        (toolByKey.get(event.payload.key) ?? conv).events.push({
          name: 'p2tui.effect.compensated',
          time: event.ts,
          attributes: { 'p2tui.compensation.status': event.payload.status, 'p2tui.tool': event.payload.tool },
        });
        break;
      case 'escrow.settled':
        conv.events.push({
          name: 'p2tui.payment',
          time: event.ts,
          attributes: {
            'p2tui.payment.kind': `escrow.${event.payload.outcome}`,
            'p2tui.payment.amount': event.payload.amount,
            'p2tui.payment.to': event.payload.payee,
            'p2tui.payment.reference': event.payload.reference,
            'p2tui.payment.evaluator': event.payload.evaluator,
          },
        });
        break;
      case 'score.recorded':
        scoreSpan(event, conv);
        break;
      default:
        break;
    }
  }

  function chatSpan(
    event: Extract<StoredEvent, { type: 'model.call' }>,
    record: ModelCallRecord | undefined,
    conv: TraceSpan,
  ): TraceSpan {
    const p = event.payload;
    const { provider, model } = splitModel(p.model);
    const params = record?.request.params;
    const param = (name: string): JsonValue | undefined =>
      params !== null && typeof params === 'object' && !Array.isArray(params) ? params[name] : undefined;
    const number = (name: string, attr: string): Attrs => {
      const value = param(name);
      return typeof value === 'number' ? { [attr]: value } : {};
    };
    const response = record?.response;
    const body = response !== null && typeof response === 'object' && !Array.isArray(response) ? response : undefined;
    const finish = typeof body?.['finishReason'] === 'string' ? [body['finishReason']] : undefined;
    // The record's time is when the call started; the event's when its response was committed.
    const start = record?.ts ?? event.ts - p.latencyMs;
    const callReplayed = p.provider === 'replay';
    return {
      traceId,
      spanId: idOf(`chat:${event.conversation}:${event.seq}`),
      parentSpanId: conv.spanId,
      name: `${GEN_AI_OPERATION_NAME_VALUE_CHAT} ${model}`,
      kind: 'client',
      start,
      end: start + p.latencyMs,
      attributes: {
        [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_CHAT,
        // A replayed call names the provider that answered when it was recorded.
        [ATTR_GEN_AI_PROVIDER_NAME]: provider,
        [ATTR_GEN_AI_REQUEST_MODEL]: model,
        ...number('temperature', ATTR_GEN_AI_REQUEST_TEMPERATURE),
        ...number('top_p', ATTR_GEN_AI_REQUEST_TOP_P),
        ...number('max_tokens', ATTR_GEN_AI_REQUEST_MAX_TOKENS),
        ...number('seed', ATTR_GEN_AI_REQUEST_SEED),
        // p2tui keeps no separate response model: a provider that answered did so as the model asked for.
        ...(p.status === 'ok' ? { [ATTR_GEN_AI_RESPONSE_MODEL]: model } : {}),
        ...(finish === undefined ? {} : { [ATTR_GEN_AI_RESPONSE_FINISH_REASONS]: finish }),
        [ATTR_GEN_AI_USAGE_INPUT_TOKENS]: p.tokensIn,
        [ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: p.tokensOut,
        [ATTR_GEN_AI_CONVERSATION_ID]: event.conversation ?? '',
        ...common,
        'p2tui.branch': event.branch ?? '',
        'p2tui.seq': event.seq,
        'p2tui.cost_usd': p.costUsd,
        'p2tui.replayed': replayed || callReplayed,
        'p2tui.model_call.id': p.id,
        'p2tui.tokens_estimated': p.estimated,
        ...(capture && body !== undefined && typeof body['text'] === 'string'
          ? {
              [ATTR_GEN_AI_OUTPUT_MESSAGES]: JSON.stringify([
                { role: 'assistant', parts: [{ type: 'text', content: body['text'] }], finish_reason: finish?.[0] },
              ]),
            }
          : {}),
      },
      events: [],
      links: [],
      status: p.status === 'ok' ? { code: 'unset' } : { code: 'error', message: p.error ?? 'model call failed' },
    };
  }

  function entry(event: EntryEvent, conv: TraceSpan): void {
    // Entries always carry both (only other events may be session-wide).
    const branch = event.branch ?? '';
    const conversation = event.conversation ?? '';
    switch (event.kind) {
      case 'user_message':
        if (capture) {
          const prior = conv.attributes[ATTR_GEN_AI_INPUT_MESSAGES];
          const messages = typeof prior === 'string' ? (JSON.parse(prior) as JsonValue[]) : [];
          messages.push({ role: 'user', parts: [{ type: 'text', content: event.payload.text }] });
          conv.attributes[ATTR_GEN_AI_INPUT_MESSAGES] = JSON.stringify(messages);
        }
        break;
      case 'tool_call': {
        const p = event.payload;
        const span = add(
          {
            traceId,
            spanId: idOf(`tool:${conversation}:${event.seq}`),
            parentSpanId: conv.spanId,
            name: `${GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL} ${p.tool}`,
            kind: 'internal',
            start: event.ts,
            end: event.ts,
            attributes: {
              [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL,
              [ATTR_GEN_AI_TOOL_NAME]: p.tool,
              [ATTR_GEN_AI_TOOL_CALL_ID]: p.callId,
              [ATTR_GEN_AI_TOOL_TYPE]: 'function',
              [ATTR_GEN_AI_CONVERSATION_ID]: conversation,
              ...common,
              'p2tui.branch': branch,
              'p2tui.seq': event.seq,
              'p2tui.effect': p.effect,
              'p2tui.replayed': replayed,
              'p2tui.idempotency_key': p.key,
              ...(capture ? { [ATTR_GEN_AI_TOOL_CALL_ARGUMENTS]: text(p.args) } : {}),
            },
            events: [],
            links: [],
            status: { code: 'unset' },
          },
          event.seq,
          branch,
        );
        toolSpans.set(toolKey(conversation, branch, p.callId), span);
        toolByKey.set(p.key, span);
        break;
      }
      case 'tool_result': {
        const p = event.payload;
        const span = toolSpans.get(toolKey(conversation, branch, p.callId));
        if (span === undefined) break;
        stretch(span, event.ts);
        span.attributes['p2tui.tool.status'] = p.status;
        if (p.cached === true) span.attributes['p2tui.cached'] = true;
        if (p.simulated === true) span.attributes['p2tui.simulated'] = true;
        if (capture && p.output !== undefined) span.attributes[ATTR_GEN_AI_TOOL_CALL_RESULT] = text(p.output);
        if (p.status === 'ok') {
          const payment = paymentOf(p.tool, p.output);
          if (payment !== undefined) span.events.push({ name: 'p2tui.payment', time: event.ts, attributes: payment });
        } else if (p.status !== 'skipped') {
          span.status = { code: 'error', message: p.error ?? p.status };
          span.attributes[ATTR_ERROR_TYPE] = p.status;
        }
        break;
      }
      case 'agent_call':
        conv.events.push({
          name: 'p2tui.delegation',
          time: event.ts,
          attributes: {
            'p2tui.call_id': event.payload.callId,
            [ATTR_GEN_AI_AGENT_NAME]: event.payload.agent,
            'p2tui.child_conversation': event.payload.child,
          },
        });
        break;
      case 'user_input_request':
        conv.events.push({
          name: 'p2tui.question',
          time: event.ts,
          attributes: {
            'p2tui.call_id': event.payload.callId,
            ...(capture ? { 'p2tui.question.text': event.payload.question } : {}),
          },
        });
        break;
      case 'user_response':
        conv.events.push({
          name: 'p2tui.answer',
          time: event.ts,
          attributes: {
            'p2tui.call_id': event.payload.callId,
            'p2tui.answer.by': event.payload.by,
            ...(capture ? { 'p2tui.answer.text': event.payload.text } : {}),
          },
        });
        break;
      case 'failed':
        conv.status = { code: 'error', message: event.payload.message };
        conv.attributes[ATTR_ERROR_TYPE] = event.payload.code;
        break;
      case 'finished':
        conv.status = { code: 'ok' };
        break;
      default:
        break;
    }
  }

  /** A score arrives after the span it judges has ended: a span of its own under it, linked to it. */
  function scoreSpan(event: Extract<StoredEvent, { type: 'score.recorded' }>, conv: TraceSpan): void {
    const p = event.payload;
    const judged =
      p.target.kind === 'conversation'
        ? (convSpans.get(convKey(p.target.id, event.branch ?? '')) ?? conv)
        : p.target.kind === 'step'
          ? (chatSpans.get(p.target.id) ?? conv)
          : conv;
    add(
      {
        traceId,
        spanId: idOf(`score:${p.score}`),
        parentSpanId: judged.spanId,
        name: `evaluate ${p.evaluator}`,
        kind: 'internal',
        start: event.ts,
        end: event.ts,
        attributes: {
          [ATTR_GEN_AI_EVALUATION_NAME]: p.metric,
          ...(p.value === null ? {} : { [ATTR_GEN_AI_EVALUATION_SCORE_VALUE]: p.value }),
          ...common,
          'p2tui.branch': event.branch ?? '',
          'p2tui.seq': event.seq,
          'p2tui.score.id': p.score,
          'p2tui.evaluator': p.evaluator,
          'p2tui.score.target': `${p.target.kind}:${p.target.id}`,
          'p2tui.score.trigger': p.trigger,
          ...(p.model === null ? {} : { 'p2tui.judge.model': p.model }),
          'p2tui.replayed': replayed,
        },
        events: [
          {
            name: 'gen_ai.evaluation.result',
            time: event.ts,
            attributes: {
              [ATTR_GEN_AI_EVALUATION_NAME]: p.metric,
              ...(p.value === null ? {} : { [ATTR_GEN_AI_EVALUATION_SCORE_VALUE]: p.value }),
              ...(capture && p.reasoning !== '' ? { [ATTR_GEN_AI_EVALUATION_EXPLANATION]: p.reasoning } : {}),
            },
          },
        ],
        links: [{ to: { traceId, spanId: judged.spanId }, attributes: { 'p2tui.link': 'judged' } }],
        status: p.status === 'ok' ? { code: 'unset' } : { code: 'error', message: 'the judge failed' },
      },
      event.seq,
      event.branch ?? '',
    );
  }

  linkForks(log, spans, seqOf, branchOfSpan);
  if (session.options.replay !== undefined) {
    for (const span of spans)
      if (span.parentSpanId === null) span.attributes['p2tui.replay.from'] = session.options.replay.from;
  }
  return spans;
}

/** A fork's first span links to the span its branch forked from (the newest on its ancestry at the fork's seq). */
function linkForks(
  log: SessionLog,
  spans: readonly TraceSpan[],
  seqOf: ReadonlyMap<TraceSpan, number>,
  branchOfSpan: ReadonlyMap<TraceSpan, string>,
): void {
  const branches = new Map(log.branches.map((b) => [b.id, b]));
  for (const branch of log.branches) {
    if (branch.parent === null || branch.forkSeq === null) continue;
    const first = spans.find((s) => branchOfSpan.get(s) === branch.id);
    if (first === undefined) continue;
    const ancestry = new Set<string>();
    for (
      let at: string | null = branch.parent;
      at !== null && !ancestry.has(at);
      at = branches.get(at)?.parent ?? null
    ) {
      ancestry.add(at);
    }
    let from: TraceSpan | undefined;
    for (const span of spans) {
      const seq = seqOf.get(span) ?? 0;
      if (
        ancestry.has(branchOfSpan.get(span) ?? '') &&
        seq <= branch.forkSeq &&
        (from === undefined || seq >= (seqOf.get(from) ?? 0))
      )
        from = span;
    }
    first.attributes['p2tui.fork.seq'] = branch.forkSeq;
    first.attributes['p2tui.fork.parent_branch'] = branch.parent;
    if (branch.label !== null) first.attributes['p2tui.fork.label'] = branch.label;
    if (from !== undefined)
      first.links.push({
        to: { traceId: from.traceId, spanId: from.spanId },
        attributes: { 'p2tui.link': 'forked_from' },
      });
  }
}
