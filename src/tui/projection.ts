import { approvalQuestion } from '../engine/approval.ts';
import type { BranchSegment } from '../store/log.ts';
import type { EffectsPolicy, EphemeralEvent, SessionStatus, StoredEvent } from '../core/events.ts';
import type { Entry } from '../core/entries.ts';
import { INITIAL_STATE, apply, outstanding, type ConversationState, type Phase } from '../engine/fsm.ts';
import { entryOf } from '../store/log.ts';
import { describeEntry } from '../core/describe-entry.ts';
import { effectsPolicyOf } from '../engine/effects-policy.ts';
import { describeChanges } from './fork-form.ts';

/**
 * What the TUI knows about one session: a projection of its events, built by applying them in seq order (from the
 * store, then live from the bus). Bounded: the timeline keeps the newest MAX_TIMELINE items and the event log the
 * newest MAX_EVENTS; the store keeps everything.
 *
 * It is mutated in place (a session of 10,000 entries is not copied on every event); each part has a version number
 * that grows when it changes, and views select those numbers.
 */
export const MAX_TIMELINE = 20_000;
export const MAX_EVENTS = 2_000;

export interface ConversationView {
  readonly id: string;
  readonly agent: string;
  readonly parent: string | null;
  readonly depth: number;
  readonly path: string;
  state: ConversationState;
  readonly entries: Entry[];
  steps: number;
}

/** One item of the conversation pane: an entry, placed under the conversation that made it. */
export interface TimelineItem {
  readonly entry: Entry;
  readonly agent: string;
  readonly depth: number;
}

export interface EventLine {
  readonly seq: number;
  readonly ts: number;
  readonly type: string;
  readonly text: string;
}

export interface Usage {
  calls: number;
  tokensIn: number;
  tokensOut: number;
  costUsd: number;
  simulated: boolean;
  lastModel: string | null;
}

/** One evaluator's verdict on one target of the shown branch, live: queued, then its samples as they arrive. */
export interface ScoreView {
  readonly evaluator: string;
  readonly target: { readonly kind: string; readonly id: string };
  job: string;
  pending: boolean;
  values: (number | null)[];
  model: string | null;
  reasoning: string;
  criteria: readonly {
    readonly id: string;
    readonly score: number | null;
    readonly reason: string;
    readonly weight?: number;
  }[];
}

export class SessionProjection {
  readonly id: string;
  agent = '';
  title = '';
  branch = '';
  status: SessionStatus = 'running';
  statusReason: string | null = null;
  model: string | null = null;
  /** The session's effects policy (p2tui.yaml or the rollout spec): what a branch runs under unless forked with one. */
  effects: EffectsPolicy = 'live';
  /** The policy of each branch forked in this session (from its branch.created event), for the header. */
  private readonly branchEffects = new Map<string, EffectsPolicy>();
  readonly conversations = new Map<string, ConversationView>();
  /** Conversations in tree order (each followed by its children). */
  order: string[] = [];
  root: string | null = null;
  readonly timeline: TimelineItem[] = [];
  /** Timeline items dropped from the front to stay bounded. */
  dropped = 0;
  readonly events: EventLine[] = [];
  /** Model calls already committed (deltas can arrive after their entry, on another channel). */
  private readonly closedCalls = new Set<string>();
  /** Text of replies still streaming, by conversation. */
  readonly streaming = new Map<string, { modelCall: string; text: string }>();
  /** Per conversation: the tool call whose arguments are streaming now. */
  private readonly streamingCall = new Map<string, string>();
  readonly usage: Usage = { calls: 0, tokensIn: 0, tokensOut: 0, costUsd: 0, simulated: false, lastModel: null };
  /** Questions waiting for an answer: call id → who asks what. */
  readonly questions = new Map<string, { agent: string; conversation: string; question: string }>();
  /** The judge's scores of the shown branch, by target and evaluator, in the order they were first queued. */
  readonly scores = new Map<string, ScoreView>();
  lastSeq = 0;
  judgeVersion = 0;
  // Version numbers, one per part views read.
  timelineVersion = 0;
  framesVersion = 0;
  eventsVersion = 0;
  streamVersion = 0;
  infoVersion = 0;

  /** The checked-out branch's segments: events of other branches (and of ancestors past their fork) are not shown. */
  private readonly segments: readonly BranchSegment[] | undefined;

  constructor(id: string, segments?: readonly BranchSegment[]) {
    this.id = id;
    this.segments = segments;
  }

  /** What effectful calls do on the shown branch: its own policy, else the session's. */
  branchPolicy(): EffectsPolicy {
    return this.branchEffects.get(this.branch) ?? this.effects;
  }

  /** Whether an event belongs to the history of the branch this projection shows. */
  private sees(event: StoredEvent): boolean {
    if (this.segments === undefined || event.branch === null) return true;
    return this.segments.some((s) => s.branch === event.branch && event.seq <= s.maxSeq);
  }

  apply(event: StoredEvent): void {
    if (event.seq <= this.lastSeq) return;
    this.lastSeq = event.seq;
    if (!this.sees(event)) return;
    this.log(event);
    switch (event.type) {
      case 'session.created':
        this.agent = event.payload.agent;
        this.title = event.payload.title;
        this.branch = event.branch ?? '';
        this.root = event.payload.conversation;
        this.model = event.payload.options.model ?? null;
        this.effects = event.payload.options.effects ?? 'live';
        this.infoVersion += 1;
        return;
      case 'branch.created':
        this.branchEffects.set(
          event.payload.branch,
          effectsPolicyOf({ effects: this.effects }, event.payload.overrides as Readonly<Record<string, unknown>>),
        );
        this.infoVersion += 1;
        return;
      case 'branch.checkout':
        // The header names the checked-out branch.
        this.branch = event.payload.branch;
        this.infoVersion += 1;
        return;
      case 'session.status':
        this.status = event.payload.status;
        this.statusReason = event.payload.reason ?? null;
        this.infoVersion += 1;
        return;
      case 'conversation.created': {
        const conv: ConversationView = {
          id: event.conversation ?? '',
          agent: event.payload.agent,
          parent: event.payload.parent,
          depth: event.payload.depth,
          path: event.payload.path,
          state: INITIAL_STATE,
          entries: [],
          steps: 0,
        };
        this.conversations.set(conv.id, conv);
        this.order = treeOrder(this.conversations);
        this.framesVersion += 1;
        return;
      }
      case 'model.call': {
        const conv = this.conversations.get(event.conversation ?? '');
        // Its entries are committed with it: streaming text of this call is done, even if late deltas still arrive.
        this.closedCalls.add(event.payload.id);
        if (this.closedCalls.size > 1000) this.closedCalls.delete(this.closedCalls.values().next().value!);
        if (this.streaming.get(event.conversation ?? '')?.modelCall === event.payload.id) {
          this.streaming.delete(event.conversation ?? '');
          this.streamVersion += 1;
        }
        if (event.payload.status === 'ok') {
          this.usage.calls += 1;
          if (conv !== undefined) conv.steps += 1;
        }
        this.usage.tokensIn += event.payload.tokensIn;
        this.usage.tokensOut += event.payload.tokensOut;
        this.usage.costUsd += event.payload.costUsd;
        this.usage.simulated ||= event.payload.simulated;
        this.usage.lastModel = event.payload.model;
        this.infoVersion += 1;
        return;
      }
      case 'entry':
        this.applyEntry(event);
        return;
      case 'approval.requested':
        // Asked like a question: the input bar shows it, and an answer goes to the session as one.
        this.questions.set(event.payload.callId, {
          agent: event.payload.agent,
          conversation: event.conversation ?? '',
          question: approvalQuestion(event.payload.tool, event.payload.reason),
        });
        this.framesVersion += 1;
        return;
      case 'approval.decided':
        this.questions.delete(event.payload.callId);
        this.framesVersion += 1;
        return;
      case 'eval.queued': {
        const key = `${event.payload.target.kind}:${event.payload.target.id}:${event.payload.evaluator}`;
        const known = this.scores.get(key);
        // Judged again: the old verdict stays visible, marked as being judged, until the new one arrives.
        if (known !== undefined) Object.assign(known, { job: event.payload.job, pending: true });
        else
          this.scores.set(key, {
            evaluator: event.payload.evaluator,
            target: event.payload.target,
            job: event.payload.job,
            pending: true,
            values: [],
            model: null,
            reasoning: '',
            criteria: [],
          });
        this.judgeVersion += 1;
        return;
      }
      case 'score.recorded': {
        const p = event.payload;
        const key = `${p.target.kind}:${p.target.id}:${p.evaluator}`;
        const view = this.scores.get(key) ?? {
          evaluator: p.evaluator,
          target: p.target,
          job: p.job ?? '',
          pending: false,
          values: [],
          model: null,
          reasoning: '',
          criteria: [],
        };
        if (view.job !== p.job || view.pending) {
          view.values = [];
          view.job = p.job ?? '';
        }
        view.pending = false;
        view.values.push(p.value);
        view.model = p.model;
        view.reasoning = p.reasoning;
        view.criteria = p.criteria;
        this.scores.set(key, view);
        this.judgeVersion += 1;
        return;
      }
      default:
        return;
    }
  }

  /** A target as the judge pane names it: a conversation by its path, else its kind and id. */
  targetLabel(target: { kind: string; id: string }): string {
    if (target.kind === 'conversation') return this.conversations.get(target.id)?.path ?? target.id;
    if (target.kind === 'branch') return 'branch';
    return `${target.kind} ${target.id.slice(0, 10)}`;
  }

  /** Streaming text (ephemeral): shown under its conversation until the committed entry replaces it. */
  applyDelta(event: EphemeralEvent): void {
    if (event.type === 'delta') {
      if (this.closedCalls.has(event.modelCall)) return;
      const current = this.streaming.get(event.conversation);
      const text = current?.modelCall === event.modelCall ? current.text + event.text : event.text;
      this.streaming.set(event.conversation, { modelCall: event.modelCall, text });
      this.streamVersion += 1;
    } else if (event.type === 'tool.delta') {
      if (this.closedCalls.has(event.modelCall)) return;
      const current = this.streaming.get(event.conversation);
      const text = current?.modelCall === event.modelCall ? current.text : '';
      // A new call starts its own line; later deltas of the same call extend its arguments.
      const head =
        this.streamingCall.get(event.conversation) === event.callId ? '' : `${text === '' ? '' : '\n'}→ ${event.name} `;
      this.streamingCall.set(event.conversation, event.callId);
      this.streaming.set(event.conversation, { modelCall: event.modelCall, text: text + head + event.argumentsDelta });
      this.streamVersion += 1;
    } else if (event.type === 'model.retry') {
      // The failed attempt's text is void; the retry streams its own.
      this.streamingCall.delete(event.conversation);
      const current = this.streaming.get(event.conversation);
      if (current?.modelCall === event.modelCall) {
        this.streaming.set(event.conversation, {
          modelCall: event.modelCall,
          text: `(retry ${event.attempt} in ${(event.delayMs / 1000).toFixed(1)} s: ${event.reason})\n`,
        });
        this.streamVersion += 1;
      }
    } else if (event.type === 'stream.end') {
      // The committed entry arrives next; keep the text until then so nothing blinks.
    }
  }

  /** The conversation a question of the user is waiting in, oldest first. */
  firstQuestion(): { callId: string; agent: string; conversation: string; question: string } | undefined {
    for (const [callId, q] of this.questions) return { callId, ...q };
    return undefined;
  }

  /** Conversations with a step running or runnable, or calls outstanding: the frames that are working now. */
  isActive(conv: ConversationView): boolean {
    // A paused, waiting or ended session runs nothing, whatever phase its conversations rest in ("▶ 3 working" on a
    // paused session counted conversations that were only ready to run).
    if (this.status !== 'running') return false;
    const phase: Phase = conv.state.phase;
    return phase === 'ready' || phase === 'deciding' || (phase === 'waiting' && outstanding(conv.state).length > 0);
  }

  private applyEntry(event: StoredEvent): void {
    const entry = entryOf(event);
    const conv = this.conversations.get(event.conversation ?? '');
    if (entry === undefined || conv === undefined) return;
    try {
      conv.state = apply(conv.state, entry);
    } catch {
      // Show what is stored even if it would not replay.
    }
    conv.entries.push(entry);
    this.framesVersion += 1;
    if (entry.kind === 'user_input_request')
      this.questions.set(entry.payload.callId, {
        agent: conv.agent,
        conversation: conv.id,
        question: entry.payload.question,
      });
    if (entry.kind === 'user_response') this.questions.delete(entry.payload.callId);
    // A call settled otherwise (cancelled, say) no longer waits for an approval.
    if (entry.kind === 'tool_result') this.questions.delete(entry.payload.callId);
    if (entry.kind === 'assistant_message' || entry.kind === 'failed' || entry.kind === 'finished') {
      if (this.streaming.delete(conv.id)) this.streamVersion += 1;
    }
    if (entry.kind === 'waiting') return; // bookkeeping: the stack pane shows it, the conversation does not
    this.timeline.push({ entry, agent: conv.agent, depth: conv.depth });
    if (this.timeline.length > MAX_TIMELINE) {
      const excess = this.timeline.length - MAX_TIMELINE;
      this.timeline.splice(0, excess);
      this.dropped += excess;
    }
    this.timelineVersion += 1;
  }

  private log(event: StoredEvent): void {
    const conv = this.conversations.get(event.conversation ?? '');
    const who = conv?.agent ?? (event.type === 'conversation.created' ? event.payload.agent : '');
    const text = describeEvent(event);
    if (text === undefined) return;
    this.events.push({
      seq: event.seq,
      ts: event.ts,
      type: event.type === 'entry' ? (event.kind ?? 'entry') : event.type,
      text: who === '' ? text : `${who}: ${text}`,
    });
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
    this.eventsVersion += 1;
  }
}

function describeEvent(event: StoredEvent): string | undefined {
  switch (event.type) {
    case 'session.created':
      return `session started with ${event.payload.agent}`;
    case 'session.status':
      return `session ${event.payload.status}${event.payload.reason === undefined ? '' : ` (${event.payload.reason})`}`;
    case 'conversation.created':
      return event.payload.parent === null ? 'conversation started' : `delegated conversation ${event.payload.path}`;
    case 'model.call': {
      const call = event.payload;
      if (call.status !== 'ok') return `${call.model} failed: ${call.error ?? ''}`;
      const omitted = call.omitted === undefined ? '' : `, ${call.omitted} messages left out to fit the context`;
      return `${call.model} ${call.tokensIn}→${call.tokensOut} tokens, ${call.latencyMs} ms${omitted}`;
    }
    case 'artifact.created':
      return `artifact ${event.payload.name} (${event.payload.size} bytes)`;
    case 'session.control':
      return `control: ${event.payload.action} from ${event.payload.from}`;
    case 'branch.created': {
      const { branch, forkSeq, label } = event.payload;
      const overrides = event.payload.overrides as Readonly<Record<string, unknown>>;
      const changes = [
        describeChanges(overrides),
        ...(typeof overrides['effects'] === 'string' ? [`effects ${overrides['effects']}`] : []),
      ].filter((x) => x !== '');
      return `branch ${branch} forked at seq ${forkSeq}${label === null ? '' : ` (${label})`}${changes.length === 0 ? '' : `: ${changes.join(' · ')}`}`;
    }
    case 'branch.checkout':
      return `checked out ${event.payload.branch}`;
    case 'escrow.settled': {
      const escrow = event.payload;
      const outcome =
        escrow.outcome === 'release' ? `paid ${escrow.amount} to ${escrow.payee}` : `refunded ${escrow.amount}`;
      return `escrow ${outcome} (${escrow.evaluator} ${escrow.value.toFixed(2)})`;
    }
    case 'approval.requested':
      return `waits for approval: ${event.payload.tool} (${event.payload.reason})`;
    case 'approval.decided':
      return `${event.payload.approved ? 'approved' : 'refused'} by ${event.payload.by}`;
    case 'milestone':
      return `milestone ${event.payload.name}${event.payload.detail === null ? '' : `: ${event.payload.detail}`}`;
    case 'policy.acted':
      return `policy ${event.payload.policy}: ${event.payload.text}`;
    case 'eval.queued':
      return `judging with ${event.payload.evaluator}`;
    case 'score.recorded': {
      const score = event.payload;
      const value = score.value === null ? 'judge failed' : score.value.toFixed(2);
      return `${score.evaluator} ${value}${score.model === 'scripted/judge' ? ' (scripted judge)' : ''}`;
    }
    case 'effect.compensated':
      return event.payload.status === 'started'
        ? `compensating ${event.payload.tool} ${event.payload.key}`
        : `${event.payload.tool} ${event.payload.key} compensated${event.payload.status === 'ok' ? '' : ` (failed: ${event.payload.error ?? ''})`}`;
    case 'entry': {
      const entry = entryOf(event);
      return entry === undefined ? event.type : describeEntry(entry).replace(/\s+/g, ' ');
    }
  }
}

function treeOrder(conversations: ReadonlyMap<string, ConversationView>): string[] {
  const children = new Map<string | null, string[]>();
  for (const c of conversations.values()) children.set(c.parent, [...(children.get(c.parent) ?? []), c.id]);
  const out: string[] = [];
  const visit = (parent: string | null): void => {
    for (const id of children.get(parent) ?? []) {
      out.push(id);
      visit(id);
    }
  };
  visit(null);
  return out;
}
