import type { Entry, EntryDraft } from '../core/entries.ts';
import type { Persona } from '../agents/persona.ts';
import type { Timer } from '../core/clock.ts';
import { canonicalJson } from '../core/json.ts';
import { INITIAL_STATE, type ConversationState } from './fsm.ts';
import { Transcript, type TranscriptMark } from './transcript.ts';

/** Marks kept per conversation (about 200 bytes each); rewinds further back load the branch from the log. */
const MARKS_KEPT = 8_192;

/** What a conversation was after one of its entries: enough to come back to that point without reading the log. */
export interface Mark {
  readonly seq: number;
  readonly state: ConversationState;
  readonly transcript: TranscriptMark;
  readonly lastAnswer: string;
}

/** The maps a conversation changes undoably, by name (so an undo step is data a snapshot can store). */
export type UndoableMap = 'callKeys' | 'questions' | 'effectfulCalls' | 'childByCall';

/** How to take back one change: a map's key to its previous value (or absent), or a child's previous parent call. */
export type UndoStep =
  | {
      readonly seq: number;
      readonly map: UndoableMap;
      readonly key: string;
      readonly had: boolean;
      readonly previous: unknown;
    }
  | { readonly seq: number; readonly child: ConversationRuntime; readonly previous: string | null };

/** What a conversation keeps to go back in memory, as the snapshot code (snapshot.ts) stores and restores it. */
export interface ConversationParts {
  readonly marks: readonly Mark[];
  readonly undo: readonly UndoStep[];
  readonly firstSeq: number;
  readonly callSeqs: readonly number[];
}

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
  readonly timers = new Map<string, Timer>();
  readonly runningTools = new Set<string>();
  /** Effectful calls durably marked as started whose tool has not been invoked yet. */
  readonly effectsNotStarted = new Set<string>();
  /** Entries rendered when this conversation's snapshot was last written or read (snapshot.ts writes when it grew). */
  snapshotEntries = 0;

  readonly id: string;
  readonly persona: Persona;
  readonly parent: ConversationRuntime | null;
  readonly depth: number;
  readonly path: string;

  constructor(
    id: string,
    persona: Persona,
    parent: ConversationRuntime | null,
    parentCallId: string | null,
    depth: number,
    path: string,
    systemPrompt: string,
  ) {
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

  /**
   * One mark per observed entry and an undo list for the maps, so a rewind in memory (`rewindTo`) costs what was
   * written after the cut, not the length of the history before it.
   */
  private readonly marks: Mark[] = [];
  /** How to take back each change to the maps, tagged with the seq of the entry that made it. */
  private readonly undo: UndoStep[] = [];
  /** Seq of this conversation's first entry (0 before it has one). */
  private firstSeq = 0;
  /** Seqs of this conversation's successful model calls (its step count at any point is how many precede it). */
  private readonly callSeqs: number[] = [];

  /** Records an appended entry in the projection (the FSM state is advanced by the caller). */
  observe(entry: Pick<Entry, 'id' | 'seq'> & EntryDraft): void {
    this.headSeq = entry.seq;
    this.transcript.append(entry.id, entry);
    if (entry.kind === 'assistant_message') this.lastAnswer = entry.payload.text;
    if (entry.kind === 'tool_call' || entry.kind === 'agent_call' || entry.kind === 'user_input_request') {
      this.setUndoably(
        entry.seq,
        'callKeys',
        entry.payload.callId,
        entry.kind === 'tool_call' ? entry.payload.key : entry.id,
      );
    }
    if (entry.kind === 'user_input_request')
      this.setUndoably(entry.seq, 'questions', entry.payload.callId, {
        question: entry.payload.question,
        deadline: entry.payload.deadline,
      });
    if (entry.kind === 'user_response') this.setUndoably(entry.seq, 'questions', entry.payload.callId, undefined);
    if (entry.kind === 'tool_call' && entry.payload.effect === 'effectful') {
      this.setUndoably(
        entry.seq,
        'effectfulCalls',
        // Large arguments by their artifact's hash (the hash of their canonical JSON): the entry holds a preview.
        `${entry.payload.tool}\n${entry.payload.argsArtifact === undefined ? canonicalJson(entry.payload.args) : `@${entry.payload.argsArtifact}`}`,
        entry.payload.callId,
      );
    }
    this.marks.push({
      seq: entry.seq,
      state: this.state,
      transcript: this.transcript.mark(),
      lastAnswer: this.lastAnswer,
    });
    if (this.firstSeq === 0) this.firstSeq = entry.seq;
    if (this.marks.length > MARKS_KEPT) this.forgetOldestMarks();
  }

  /** Whether `rewindTo(seq)` can go back in memory (false: the point is older than the marks kept; load it instead). */
  canRewindTo(seq: number): boolean {
    return seq < this.firstSeq || this.marks.length === 0 || seq >= this.marks[0]!.seq;
  }

  /**
   * Keeps memory bounded in long conversations: the older half of the marks goes, with the undo steps only they
   * needed. A rewind further back than the marks kept loads the branch from the log instead.
   */
  private forgetOldestMarks(): void {
    this.marks.splice(0, this.marks.length >> 1);
    const oldest = this.marks[0]!.seq;
    let drop = 0;
    while (drop < this.undo.length && this.undo[drop]!.seq <= oldest) drop += 1;
    this.undo.splice(0, drop);
  }

  /** A successful model call of this conversation was recorded at `seq` (rebuilds call it in seq order too). */
  countModelCall(seq: number): void {
    this.callSeqs.push(seq);
  }

  /**
   * Records a delegation's link both ways (the child answers this call now). `seq`: the delegating entry's, or any
   * seq of the same model response (a cut never falls inside one).
   */
  linkChild(callId: string, child: ConversationRuntime, seq: number): void {
    this.setUndoably(seq, 'childByCall', callId, child);
    const previous = child.parentCallId;
    child.parentCallId = callId;
    this.undo.push({ seq, child, previous });
  }

  /**
   * Goes back to how this conversation was after its last entry at or before `seq`, undoing in memory what came
   * after. Returns false when it had no entry by then (the conversation does not exist at that point).
   */
  rewindTo(seq: number): boolean {
    let lo = 0;
    let hi = this.marks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.marks[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) return false;
    const mark = this.marks[lo - 1]!;
    this.marks.length = lo;
    while (this.undo.length > 0 && this.undo[this.undo.length - 1]!.seq > seq) this.takeBack(this.undo.pop()!);
    this.state = mark.state;
    this.transcript.truncate(mark.transcript);
    this.lastAnswer = mark.lastAnswer;
    this.headSeq = mark.seq;
    let calls = this.callSeqs.length;
    while (calls > 0 && this.callSeqs[calls - 1]! > seq) calls -= 1;
    this.callSeqs.length = calls;
    this.steps = calls;
    return true;
  }

  private setUndoably(seq: number, name: UndoableMap, key: string, value: unknown): void {
    const map = this.mapNamed(name);
    const had = map.has(key);
    const previous = map.get(key);
    if (value === undefined) map.delete(key);
    else map.set(key, value);
    this.undo.push({ seq, map: name, key, had, previous });
  }

  private takeBack(step: UndoStep): void {
    if ('child' in step) {
      step.child.parentCallId = step.previous;
      return;
    }
    const map = this.mapNamed(step.map);
    if (step.had) map.set(step.key, step.previous);
    else map.delete(step.key);
  }

  /** One of the undoable maps, typed loosely: what goes in is what an entry put there (see `observe`). */
  private mapNamed(name: UndoableMap): Map<string, unknown> {
    return this[name] as Map<string, unknown>;
  }

  /** The marks, undo steps and call seqs, for the snapshot code to store (live arrays: read them, do not keep them). */
  parts(): ConversationParts {
    return { marks: this.marks, undo: this.undo, firstSeq: this.firstSeq, callSeqs: this.callSeqs };
  }

  /** Takes a snapshot's marks, undo steps and call seqs (on a conversation just made, before any entry). */
  restoreParts(parts: ConversationParts): void {
    // Loops, not push(...xs): a spread of a long conversation's call seqs can pass the engine's argument limit.
    for (const mark of parts.marks) this.marks.push(mark);
    for (const step of parts.undo) this.undo.push(step);
    for (const seq of parts.callSeqs) this.callSeqs.push(seq);
    this.firstSeq = parts.firstSeq;
  }

  /** Successful model calls counted so far (`steps` is set from it after a load). */
  get modelCalls(): number {
    return this.callSeqs.length;
  }

  clearTimers(): void {
    for (const timer of this.timers.values()) timer.cancel();
    this.timers.clear();
  }
}
