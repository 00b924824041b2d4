import type { Entry, EntryDraft } from '../core/entries.ts';
import type { Persona } from '../agents/persona.ts';
import { canonicalJson } from '../core/json.ts';
import { INITIAL_STATE, type ConversationState } from './fsm.ts';
import { Transcript } from './transcript.ts';

/**
 * The in-memory projection of one conversation that a session runtime drives: its FSM state, its rendered
 * transcript, and what the current turn is waiting for. Rebuilt from the log on load; the log stays the truth.
 */
export class ConversationRuntime {
  state: ConversationState = INITIAL_STATE;
  readonly transcript: Transcript;
  /** Model calls made (the conversation's step count). */
  steps = 0;
  headSeq = 0;
  lastAnswer = '';
  /** Results that arrived for calls whose earlier siblings are still outstanding (released in call order). */
  readonly pendingResults = new Map<string, EntryDraft>();
  /** Idempotency key of each call of the current turn. */
  readonly callKeys = new Map<string, string>();
  /** Delegations of this conversation: call id → child conversation. */
  readonly childByCall = new Map<string, ConversationRuntime>();
  /** Children per agent, for path numbering and reuse. */
  readonly childrenByAgent = new Map<string, ConversationRuntime[]>();
  /** Earlier effectful calls, by tool and canonical arguments, for the dedup policies. */
  readonly effectfulCalls = new Map<string, string>();
  /** Questions to the user still unanswered: call id → question and deadline. */
  readonly questions = new Map<string, { question: string; deadline: number | null }>();
  /** The call of the parent this conversation currently answers. */
  parentCallId: string | null;
  inFlight = false;
  /**
   * Aborts this conversation's own model call and tools (a delegation timeout cancels just the child). A new one
   * replaces it when a cancelled conversation is given new work.
   */
  abort = new AbortController();
  queued = false;
  readonly timers = new Map<string, NodeJS.Timeout>();
  readonly runningTools = new Set<string>();
  /** Effectful calls durably marked as started whose tool has not been invoked yet. */
  readonly effectsNotStarted = new Set<string>();

  readonly id: string;
  readonly persona: Persona;
  readonly parent: ConversationRuntime | null;
  readonly depth: number;
  readonly path: string;

  constructor(id: string, persona: Persona, parent: ConversationRuntime | null, parentCallId: string | null, depth: number, path: string, systemPrompt: string) {
    this.id = id;
    this.persona = persona;
    this.parent = parent;
    this.depth = depth;
    this.path = path;
    this.parentCallId = parentCallId;
    this.transcript = new Transcript(systemPrompt);
  }

  get agent(): string {
    return this.persona.id;
  }

  /** Agents from the root down to (not including) this one. */
  get ancestors(): string[] {
    const chain: string[] = [];
    for (let c = this.parent; c !== null; c = c.parent) chain.unshift(c.agent);
    return chain;
  }

  /** Records an appended entry in the projection (the FSM state is advanced by the caller). */
  observe(entry: Pick<Entry, 'id' | 'seq'> & EntryDraft): void {
    this.headSeq = entry.seq;
    this.transcript.append(entry.id, entry);
    if (entry.kind === 'assistant_message') this.lastAnswer = entry.payload.text;
    if (entry.kind === 'tool_call' || entry.kind === 'agent_call' || entry.kind === 'user_input_request') {
      this.callKeys.set(entry.payload.callId, entry.kind === 'tool_call' ? entry.payload.key : entry.id);
    }
    if (entry.kind === 'user_input_request') this.questions.set(entry.payload.callId, { question: entry.payload.question, deadline: entry.payload.deadline });
    if (entry.kind === 'user_response') this.questions.delete(entry.payload.callId);
    if (entry.kind === 'tool_call' && entry.payload.effect === 'effectful') {
      this.effectfulCalls.set(`${entry.payload.tool}\n${canonicalJson(entry.payload.args)}`, entry.payload.callId);
    }
  }

  clearTimers(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
