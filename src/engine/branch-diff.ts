import { diffSequences, splitLines, type DiffOp } from '../core/diff.ts';
import { branchEntries } from './branching.ts';
import type { SessionRow } from '../store/sessions.ts';
import type { Store } from '../store/store.ts';
import { describeEntry } from '../core/describe-entry.ts';

export /** A branch's conversations as lines to diff: one line per entry, matched across branches by conversation path. */
function branchLines(
  store: Store,
  session: SessionRow,
  branch: string,
): { paths: string[]; lines: Map<string, string[]>; answer: string } {
  const entries = branchEntries(store, session.id, branch);
  const rows = new Map(store.sessions.conversations(session.id).map((r) => [r.id, r]));
  const lines = new Map<string, string[]>();
  const paths: string[] = [];
  let answer = '';
  let lastText = '';
  for (const e of entries) {
    const path = rows.get(e.conversation)?.path ?? e.conversation;
    if (!lines.has(path)) {
      lines.set(path, []);
      paths.push(path);
    }
    const own = lines.get(path)!;
    // Conversation ids differ between branches (a fork's delegations start new conversations): shown as paths.
    const text = describeEntry(e)
      .replace(/\s+/g, ' ')
      .replace(/\bc_[0-9a-z]{10}\b/g, (id) => rows.get(id)?.path ?? id);
    // No step number in the compared text: one extra entry must not make every later one differ.
    own.push(`${e.kind} ${text}`);
    if (e.conversation === session.rootConversation) {
      if (e.kind === 'assistant_message') lastText = e.payload.text;
      if (e.kind === 'finished') answer = lastText;
    }
  }
  return { paths, lines, answer };
}

/** Two branches compared: one section per conversation that differs (by path), then the final answers. */
export interface BranchDiff {
  readonly divergesAt: string | null;
  /** Every conversation of either branch: whether it is the same, and the first step that differs. */
  readonly conversations: readonly {
    readonly path: string;
    readonly same: boolean;
    readonly firstDifference: number | null;
  }[];
  readonly sections: readonly { readonly title: string; readonly ops: readonly DiffOp[] }[];
  readonly answers: { readonly a: string; readonly b: string };
}

type Lines = ReturnType<typeof branchLines>;

/** Every conversation path of either branch: the first's in its order, then those only the second has. */
function pathsOf(left: Lines, right: Lines): string[] {
  return [...left.paths, ...right.paths.filter((p) => !left.lines.has(p))];
}

/** The first line where two conversations differ (one ending early differs there), or null when they are the same. */
function firstDifference(l: readonly string[], r: readonly string[]): number | null {
  const first = l.findIndex((line, i) => line !== r[i]);
  return first === -1 ? (l.length === r.length ? null : Math.min(l.length, r.length)) : first;
}

/** Where branch b first differs from branch a, as `session diff` finds it: the conversation, the step, both lines. */
export interface Divergence {
  readonly path: string;
  /** The entry's number in its conversation, as `session stack` numbers it. */
  readonly index: number;
  /** The differing entry of each branch as a line (`kind text`), null where that branch has none. */
  readonly a: string | null;
  readonly b: string | null;
}

export function divergence(store: Store, session: SessionRow, a: string, b: string): Divergence | null {
  const left = branchLines(store, session, a);
  const right = branchLines(store, session, b);
  for (const path of pathsOf(left, right)) {
    const l = left.lines.get(path) ?? [];
    const r = right.lines.get(path) ?? [];
    const index = firstDifference(l, r);
    if (index !== null) return { path, index, a: l[index] ?? null, b: r[index] ?? null };
  }
  return null;
}

export function diffBranches(store: Store, session: SessionRow, a: string, b: string): BranchDiff {
  const left = branchLines(store, session, a);
  const right = branchLines(store, session, b);
  const sections: { title: string; ops: DiffOp[] }[] = [];
  const conversations: { path: string; same: boolean; firstDifference: number | null }[] = [];
  let divergesAt: string | null = null;
  for (const path of pathsOf(left, right)) {
    const l = left.lines.get(path) ?? [];
    const r = right.lines.get(path) ?? [];
    const at = firstDifference(l, r);
    conversations.push({ path, same: at === null, firstDifference: at });
    if (at === null) continue;
    divergesAt ??= `${path} at #${at}`;
    sections.push({
      title: `${path}${l.length === 0 ? ' (only in the second)' : r.length === 0 ? ' (only in the first)' : ''}`,
      ops: diffSequences(l, r),
    });
  }
  if (left.answer !== right.answer)
    sections.push({ title: 'final answers', ops: diffSequences(splitLines(left.answer), splitLines(right.answer)) });
  return { divergesAt, conversations, sections, answers: { a: left.answer, b: right.answer } };
}
