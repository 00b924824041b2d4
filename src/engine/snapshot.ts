import { sha256 } from '../core/hash.ts';
import type { Entry } from '../core/entries.ts';
import type { Persona } from '../agents/persona.ts';
import type { Store } from '../store/store.ts';
import type { ConversationRow, SessionRow } from '../store/sessions.ts';
import type { SnapshotMeta } from '../store/snapshots.ts';
import { ConversationRuntime, type Mark, type UndoableMap, type UndoStep } from './conversation.ts';
import { apply, type ConversationState } from './fsm.ts';
import type { PersonaKit } from './persona-kit.ts';
import { Transcript, type TranscriptCounters } from './transcript.ts';

/**
 * Conversation snapshots: what a rebuild from the log makes of a conversation (FSM state, transcript, maps, step
 * seqs) after one of its entries, plus its marks and undo steps for the last entries before that one. A process that
 * loads a session restores each conversation from its newest snapshot the branch sees and replays only the entries
 * after it; a rewind a few steps back goes to one of the snapshot's marks, as a rewind in memory does.
 *
 * Snapshots are derived data and never trusted over the log: a row is used only when its version is this one, its
 * body's hash matches, and the entry it (or the mark chosen) stands after is in the log at that seq, in that
 * conversation, visible on the branch being loaded; the transcript's system prompt must be the one the persona gives
 * now. Anything else (no rows, a database from before them, a row that fails a check) replays the log as before.
 * A branch that sees an entry sees exactly what its writer saw up to it (a fork's own entries come after its fork
 * point), so a snapshot taken on one branch serves every branch that sees its entry.
 */

export const SNAPSHOT_VERSION = 1;
/** Marks stored per snapshot (about 250 bytes each): how far back a load can go from one snapshot. */
const MARKS_STORED = 256;
/**
 * A conversation's snapshot is (re)written once it has this many entries more or fewer than its last one:
 * P2TUI_SNAPSHOT_EVERY when it is a whole number from 1 (tests make small sessions write them), else 256.
 */
function writeEvery(): number {
  const env = Number(process.env['P2TUI_SNAPSHOT_EVERY']);
  return Number.isInteger(env) && env >= 1 ? env : 256;
}
/** Snapshots of one conversation tried before replaying it from its first entry. */
const TRIED = 4;

/** An undo step as stored: a map's step as it is, a child's by its conversation id. */
type StoredUndo =
  | Extract<UndoStep, { readonly map: UndoableMap }>
  | { readonly seq: number; readonly child: string; readonly previous: string | null };

interface Body {
  readonly v: number;
  readonly conversation: string;
  readonly headSeq: number;
  readonly firstSeq: number;
  readonly state: ConversationState;
  readonly lastAnswer: string;
  readonly transcript: TranscriptCounters;
  /** The system prompt the messages start with (another one, or a branch's, makes other messages and hashes). */
  readonly system: string;
  /** sha256 of the messages (stored apart, read and checked when first used). */
  readonly messagesHash: string;
  readonly callKeys: readonly (readonly [string, string])[];
  readonly questions: readonly (readonly [string, { question: string; deadline: number | null }])[];
  readonly effectfulCalls: readonly (readonly [string, string])[];
  /** Call id → child conversation id, in the order the calls were made. */
  readonly childByCall: readonly (readonly [string, string])[];
  readonly callSeqs: readonly number[];
  readonly marks: readonly Mark[];
  readonly undo: readonly StoredUndo[];
}

function bodyOf(conv: ConversationRuntime, transcript: TranscriptCounters, messagesHash: string): Body {
  const parts = conv.parts();
  const marks = parts.marks.slice(-MARKS_STORED);
  const from = marks[0]?.seq ?? 0;
  // Only the undo steps a rewind to one of the stored marks can run.
  const undo: StoredUndo[] = [];
  for (const step of parts.undo) {
    if (step.seq <= from) continue;
    if ('child' in step) undo.push({ seq: step.seq, child: step.child.id, previous: step.previous });
    else if (step.map === 'childByCall') {
      const previous = step.previous instanceof ConversationRuntime ? step.previous.id : null;
      undo.push({ seq: step.seq, map: step.map, key: step.key, had: step.had, previous });
    } else undo.push({ seq: step.seq, map: step.map, key: step.key, had: step.had, previous: step.previous });
  }
  return {
    v: SNAPSHOT_VERSION,
    conversation: conv.id,
    headSeq: conv.headSeq,
    firstSeq: parts.firstSeq,
    state: conv.state,
    lastAnswer: conv.lastAnswer,
    transcript,
    system: (conv.transcript.messages[0] as { content: string }).content,
    messagesHash,
    callKeys: [...conv.callKeys],
    questions: [...conv.questions],
    effectfulCalls: [...conv.effectfulCalls],
    childByCall: [...conv.childByCall].map(([callId, child]) => [callId, child.id] as const),
    callSeqs: parts.callSeqs,
    marks,
    undo,
  };
}

/**
 * Writes a snapshot of each conversation that changed since its last one, when one of them grew (or shrank) by
 * `writeEvery()` entries: a session of a few hundred entries replays fast and never pays for it. Only entries the log
 * holds are snapshotted (a conversation whose newest entry is not committed is skipped). Returns how many it wrote.
 */
export function saveSnapshots(store: Store, session: string, conversations: Iterable<ConversationRuntime>): number {
  const due = [...conversations].filter((c) => c.transcript.entries > 0 && c.transcript.entries !== c.snapshotEntries);
  const every = writeEvery();
  if (!due.some((c) => Math.abs(c.transcript.entries - c.snapshotEntries) >= every)) return 0;
  let written = 0;
  store.write(() => {
    for (const conv of due) {
      const at = store.snapshots.at(conv.headSeq);
      const through = conv.transcript.through;
      if (
        at === undefined ||
        through === null ||
        at.id !== through ||
        at.conversation !== conv.id ||
        at.branch === null
      )
        continue;
      const { messages, counters } = conv.transcript.data();
      const body = JSON.stringify(bodyOf(conv, counters, sha256(messages)));
      store.snapshots.put({
        conversation: conv.id,
        seq: conv.headSeq,
        session,
        branch: at.branch,
        entryId: through,
        firstSeq: conv.parts().firstSeq,
        version: SNAPSHOT_VERSION,
        hash: sha256(body),
        body,
        messages,
      });
      conv.snapshotEntries = conv.transcript.entries;
      written += 1;
    }
  });
  return written;
}

/**
 * `saveSnapshots` when a runtime stops driving a session. A failure to write derived data must not turn a detach
 * into an error (the store may be closing, or busy): the next load replays the log and writes them then.
 */
export function keepSnapshots(store: Store, session: string, conversations: Iterable<ConversationRuntime>): void {
  try {
    saveSnapshots(store, session, conversations);
  } catch {
    // Nothing lost: snapshots are rebuilt from the log on the next load.
  }
}

/** A snapshot chosen for a conversation, and the seq of the mark the branch goes back to. */
interface Chosen {
  readonly body: Body;
  readonly seq: number;
}

/**
 * Loads a session's conversations from their snapshots and the log entries after them, as `rebuildConversations`
 * would make them from the whole log. Undefined when no snapshot applies or anything fails a check: the caller
 * replays the log then (and reports what is wrong with it).
 */
export function restoreConversations(
  store: Store,
  kit: PersonaKit,
  session: SessionRow,
  personaOf: (id: string) => Persona,
): { conversations: Map<string, ConversationRuntime>; root: ConversationRuntime; totalSteps: number } | undefined {
  const metas = store.snapshots.list(session.id);
  if (metas.length === 0) return undefined;
  const segments = store.sessions.segments(session.headBranch);
  const limit = new Map(segments.map((s) => [s.branch, s.maxSeq]));
  const sees = (branch: string | null, seq: number): boolean => branch !== null && seq <= (limit.get(branch) ?? -1);
  /** Whether the branch sees the log's entry at `seq` of this conversation (with this id, when given). */
  const seesEntry = (conversation: string, seq: number, id?: string): boolean => {
    const at = store.snapshots.at(seq);
    return (
      at !== undefined &&
      at.type === 'entry' &&
      at.session === session.id &&
      at.conversation === conversation &&
      (id === undefined || at.id === id) &&
      sees(at.branch, seq)
    );
  };
  const byConversation = new Map<string, SnapshotMeta[]>();
  for (const m of metas) byConversation.set(m.conversation, [...(byConversation.get(m.conversation) ?? []), m]);

  try {
    const rows = store.sessions.conversations(session.id);
    const chosen = new Map<string, Chosen>();
    let readFrom = Number.MAX_SAFE_INTEGER;
    for (const row of rows) {
      // A conversation begun on a branch this one does not descend from has no entry here.
      if (!limit.has(row.branch)) continue;
      const candidates = byConversation.get(row.id);
      if (candidates === undefined) {
        readFrom = 0;
        continue;
      }
      const system = kit.for(personaOf(row.agent)).system;
      const { pick, firstSeq } = choose(store, candidates, system, seesEntry);
      if (pick !== undefined) {
        chosen.set(row.id, pick);
        readFrom = Math.min(readFrom, pick.seq);
      } else if (firstSeq === undefined) readFrom = 0;
      // Seeing a conversation's entry means seeing its first one too: no first entry, no entry here at all.
      else if (seesEntry(row.id, firstSeq)) readFrom = Math.min(readFrom, firstSeq - 1);
    }
    if (chosen.size === 0) return undefined;
    const entries = store.log.visibleEntriesAfter(session.id, segments, readFrom);
    const after = (conversation: string): number => chosen.get(conversation)?.seq ?? 0;
    const present = new Set(chosen.keys());
    for (const e of entries) if (e.seq > after(e.conversation)) present.add(e.conversation);

    // The runtimes as a rebuild makes them (row order, parents first); others only to resolve what a snapshot names.
    const conversations = runtimesOf(rows, (id) => present.has(id), kit, personaOf);
    const others = new Map<string, ConversationRuntime>();
    const rowOf = new Map(rows.map((r) => [r.id, r]));
    const resolve = (id: string): ConversationRuntime => {
      const known = conversations.get(id) ?? others.get(id);
      if (known !== undefined) return known;
      const row = rowOf.get(id);
      if (row === undefined) throw new Error(`snapshot names an unknown conversation ${id}`);
      const made = new ConversationRuntime(id, personaOf(row.agent), null, row.parentCallId, row.depth, row.path, '');
      others.set(id, made);
      return made;
    };
    for (const [id, pick] of chosen) {
      const conv = conversations.get(id)!;
      // Should the stored messages not check out when first used: this conversation's entries up to the cut.
      const fromLog = (): string => {
        const transcript = new Transcript(pick.body.system);
        for (const e of store.log.visibleEntries(session.id, segments))
          if (e.conversation === id && e.seq <= pick.seq) transcript.append(e.id, e);
        return JSON.stringify(transcript.messages);
      };
      restoreInto(store, conv, pick, resolve, fromLog);
      if (!conv.rewindTo(pick.seq)) return undefined;
      // What remains may only name conversations of this branch.
      for (const child of conv.childByCall.values()) if (!conversations.has(child.id)) return undefined;
      for (const step of conv.parts().undo)
        if (
          'child' in step
            ? others.has(step.child.id)
            : step.previous instanceof ConversationRuntime && others.has(step.previous.id)
        )
          return undefined;
      conv.snapshotEntries = conv.transcript.entries;
    }
    // A child answers the newest call its parent made to it (as replaying the parent's delegations leaves it).
    for (const conv of conversations.values()) {
      if (!chosen.has(conv.id)) continue;
      for (const [callId, child] of conv.childByCall) child.parentCallId = callId;
    }
    replay(entries, conversations, after);
    const calls =
      readFrom === 0
        ? [...store.log.modelCallSeqs(session.id, segments)].flatMap(([conversation, seqs]) =>
            seqs.map((seq) => ({ conversation, seq })),
          )
        : store.snapshots.modelCallsAfter(session.id, readFrom).filter((c) => sees(c.branch, c.seq));
    calls.sort((a, b) => a.seq - b.seq);
    for (const call of calls) {
      if (call.seq > after(call.conversation)) conversations.get(call.conversation)?.countModelCall(call.seq);
    }
    let totalSteps = 0;
    for (const conv of conversations.values()) {
      conv.steps = conv.modelCalls;
      totalSteps += conv.steps;
    }
    const root = conversations.get(session.rootConversation);
    if (root === undefined) return undefined;
    return { conversations, root, totalSteps };
  } catch {
    // Derived data that does not fit the log (or a log that does not replay): the full rebuild decides and reports.
    return undefined;
  }
}

/** The newest snapshot of a conversation the branch can use, and the mark it goes back to. */
function choose(
  store: Store,
  candidates: readonly SnapshotMeta[],
  system: string,
  seesEntry: (conversation: string, seq: number, id?: string) => boolean,
): { pick?: Chosen; firstSeq?: number } {
  let firstSeq: number | undefined;
  for (const meta of candidates.slice(0, TRIED)) {
    if (meta.version !== SNAPSHOT_VERSION) continue;
    const atHead = seesEntry(meta.conversation, meta.seq, meta.entryId);
    const checked = bodyChecked(store, meta);
    if (checked === undefined) continue;
    // The conversation's first entry, from a body whose hash holds: where its entries start, used or not.
    firstSeq = checked.firstSeq;
    // Another system prompt now (the persona's file, or a branch's override) renders other messages.
    if (checked.system !== system) continue;
    const body = checked;
    if (atHead) return { pick: { body, seq: meta.seq }, firstSeq };
    // The branch sees a prefix of the marks (a fork cut the snapshot's history): the newest mark it sees.
    const marks = body.marks;
    const visible = (i: number): boolean =>
      seesEntry(meta.conversation, marks[i]!.seq, marks[i]!.transcript.through ?? '');
    if (marks.length === 0 || !visible(0)) continue;
    let lo = 0;
    let hi = marks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (visible(mid)) lo = mid;
      else hi = mid - 1;
    }
    return { pick: { body, seq: marks[lo]!.seq }, firstSeq };
  }
  return firstSeq === undefined ? {} : { firstSeq };
}

/** A snapshot's body when its hash holds and its own fields agree with its row. */
function bodyChecked(store: Store, meta: SnapshotMeta): Body | undefined {
  const row = store.snapshots.body(meta.conversation, meta.seq);
  if (row === undefined || sha256(row.body) !== row.hash) return undefined;
  const body = JSON.parse(row.body) as Body;
  const fits =
    body.v === SNAPSHOT_VERSION &&
    body.conversation === meta.conversation &&
    body.headSeq === meta.seq &&
    body.transcript.through === meta.entryId &&
    body.firstSeq === meta.firstSeq;
  return fits ? body : undefined;
}

function restoreInto(
  store: Store,
  conv: ConversationRuntime,
  pick: Chosen,
  resolve: (id: string) => ConversationRuntime,
  fromLog: () => string,
): void {
  const { body } = pick;
  conv.state = body.state;
  conv.transcript.restore(() => {
    const messages = store.snapshots.messages(conv.id, body.headSeq);
    // Gone (a newer snapshot replaced it) or not what the body says: the messages up to the cut, from the log.
    return messages !== undefined && sha256(messages) === body.messagesHash ? messages : fromLog();
  }, body.transcript);
  conv.lastAnswer = body.lastAnswer;
  conv.headSeq = body.headSeq;
  for (const [k, v] of body.callKeys) conv.callKeys.set(k, v);
  for (const [k, v] of body.questions) conv.questions.set(k, v);
  for (const [k, v] of body.effectfulCalls) conv.effectfulCalls.set(k, v);
  for (const [callId, child] of body.childByCall) conv.childByCall.set(callId, resolve(child));
  const undo: UndoStep[] = body.undo.map((step) => {
    if ('child' in step) return { seq: step.seq, child: resolve(step.child), previous: step.previous };
    if (step.map !== 'childByCall') return step;
    const previous = typeof step.previous === 'string' ? resolve(step.previous) : undefined;
    return { seq: step.seq, map: step.map, key: step.key, had: step.had, previous };
  });
  conv.restoreParts({ marks: body.marks, undo, firstSeq: body.firstSeq, callSeqs: body.callSeqs });
}

/** Replays the entries after each conversation's snapshot, as a rebuild replays them all. */
function replay(
  entries: readonly Entry[],
  conversations: ReadonlyMap<string, ConversationRuntime>,
  after: (conversation: string) => number,
): void {
  for (const entry of entries) {
    const conv = conversations.get(entry.conversation);
    if (conv === undefined || entry.seq <= after(entry.conversation)) continue;
    conv.state = apply(conv.state, entry);
    conv.observe(entry);
    if (entry.kind === 'agent_call') {
      const child = conversations.get(entry.payload.child);
      if (child !== undefined) conv.linkChild(entry.payload.callId, child, entry.seq);
    }
  }
}

/**
 * The runtimes of the conversation rows `include` takes, as a rebuild makes them: rows come parents first, and a
 * child is listed under its parent by agent. A snapshot's restore and a rebuild from the log share it.
 */
export function runtimesOf(
  rows: readonly ConversationRow[],
  include: (id: string) => boolean,
  kit: PersonaKit,
  personaOf: (id: string) => Persona,
): Map<string, ConversationRuntime> {
  const conversations = new Map<string, ConversationRuntime>();
  for (const row of rows) {
    if (!include(row.id)) continue;
    const persona = personaOf(row.agent);
    const parent = row.parent === null ? null : (conversations.get(row.parent) ?? null);
    const conv = new ConversationRuntime(
      row.id,
      persona,
      parent,
      row.parentCallId,
      row.depth,
      row.path,
      kit.for(persona).system,
    );
    conversations.set(row.id, conv);
    if (parent !== null)
      parent.childrenByAgent.set(row.agent, [...(parent.childrenByAgent.get(row.agent) ?? []), conv]);
  }
  return conversations;
}
