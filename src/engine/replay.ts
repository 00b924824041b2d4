import type { EntryDraft } from '../core/entries.ts';
import { canonicalJson, type JsonValue } from '../core/json.ts';
import { UserError } from '../core/errors.ts';
import type { ModelResponse } from '../models/provider.ts';
import type { Store } from '../store/store.ts';

/**
 * A recorded session served back: model calls matched by conversation path and ordinal and checked by request
 * hash, and the results of its tool calls and of its questions to the user, matched by conversation path and call
 * id. Nothing here calls a model or runs a tool, so a replay needs no network and repeats no effect.
 */
export interface ReplaySource {
  /** The recorded session. */
  readonly session: string;
  /** What to do when a call has no matching recording: stop the conversation, or call the model live. */
  readonly onMiss: 'fail' | 'live';
  /**
   * A `session replay`, which forks where the recorded branch was forked: how many forks the replay's own head has
   * made so far. A call recorded on a branch forked later is then neither served nor made live (see `model`).
   */
  readonly stage?: () => number;
}

interface RecordedCall {
  readonly ordinal: number;
  /** Forks between the recorded session's first branch and the branch the call was made on. */
  readonly stage: number;
  readonly branch: string;
  readonly requestHash: string;
  readonly model: string;
  readonly messages: number;
  readonly response: ModelResponse;
}

/** `later`: recorded on a branch forked later than the replay has got to (a staged replay stops there, then forks). */
export type ReplayLookup =
  { readonly hit: ModelResponse; readonly model: string } | { readonly miss: string; readonly later?: true };

export class Recording {
  readonly source: ReplaySource;
  private readonly calls = new Map<string, Map<number, RecordedCall>>();
  private readonly results = new Map<
    string,
    { readonly tool: string; readonly args: string; readonly result: EntryDraft }
  >();

  private constructor(source: ReplaySource) {
    this.source = source;
  }

  /** Reads a session's recordings (its head branch); throws E_UNKNOWN_SESSION for an unknown one. */
  static load(store: Store, source: ReplaySource): Recording {
    const session = store.sessions.resolve(source.session);
    const recording = new Recording({ ...source, session: session.id });
    // The recorded branch's own history only: an ancestor's calls after the fork point belong to another timeline.
    const segments = store.sessions.segments(session.headBranch);
    const branches = segments.map((s) => s.branch);
    // Segments run from the head back to the first branch: a branch's stage is its number of forks from the first.
    const stageOf = new Map(branches.map((b, i) => [b, branches.length - 1 - i]));
    const visibleCalls = store.log.visibleModelCallIds(session.id, segments);
    const visibleEntries = store.log.visibleEntryIds(session.id, segments);
    for (const call of store.calls.recordedModelCalls(session.id, branches)) {
      if (!visibleCalls.has(call.id)) continue;
      const byOrdinal = recording.calls.get(call.path) ?? new Map<number, RecordedCall>();
      byOrdinal.set(call.ordinal, {
        ordinal: call.ordinal,
        stage: stageOf.get(call.branch) ?? 0,
        branch: call.branch,
        requestHash: call.requestHash,
        model: call.model,
        messages: call.messages,
        response: {
          ...call.response,
          usage: { inputTokens: call.tokensIn, outputTokens: call.tokensOut, estimated: call.estimated },
        },
      });
      recording.calls.set(call.path, byOrdinal);
    }
    for (const r of store.calls.recordedResults(session.id, branches)) {
      if (!visibleEntries.has(r.entryId)) continue;
      recording.results.set(`${r.path}\u0000${r.callId}`, {
        tool: r.tool,
        args: canonicalJson(r.args),
        result: r.result,
      });
    }
    if (recording.calls.size === 0) {
      throw new UserError('E_REPLAY_MISS', `session ${session.id} has no recorded model calls to replay`, {
        hint: 'Replay a session that made at least one successful model call.',
      });
    }
    return recording;
  }

  /** The recorded response for this call, or why there is none (the request that missed and the nearest recording). */
  model(path: string, ordinal: number, requestHash: string, messages: number): ReplayLookup {
    const byOrdinal = this.calls.get(path);
    const where = `conversation ${path}, model call ${ordinal}`;
    if (byOrdinal === undefined) {
      return {
        miss: `${where}: the recording of ${this.source.session} has no conversation ${path} (it has ${[...this.calls.keys()].join(', ')})`,
      };
    }
    const recorded = byOrdinal.get(ordinal);
    if (recorded === undefined) {
      const last = Math.max(...byOrdinal.keys());
      return {
        miss: `${where}: the recording has ${byOrdinal.size} model calls in this conversation (ordinals 1–${last}), none at ${ordinal}`,
      };
    }
    const stage = this.source.stage?.();
    if (stage !== undefined && recorded.stage > stage) {
      return {
        miss: `${where}: recorded on branch ${recorded.branch}, forked later; the replay forks there first`,
        later: true,
      };
    }
    if (recorded.requestHash !== requestHash) {
      return {
        miss:
          `${where}: the request (hash ${requestHash.slice(0, 12)}, ${messages} messages) differs from the recorded one ` +
          `(hash ${recorded.requestHash.slice(0, 12)}, ${recorded.messages} messages, model ${recorded.model}); ` +
          'a different persona, model, temperature, seed, tool set or earlier entry changes the request',
      };
    }
    return { hit: recorded.response, model: recorded.model };
  }

  /**
   * The recorded result of a tool call or of a question to the user, by conversation path and call id, when the
   * recorded call was the same (same tool or question, same arguments); a call the model made differently (a live
   * call after a miss reusing an id, say) gets none.
   */
  result(path: string, callId: string, tool: string, args: JsonValue): EntryDraft | undefined {
    const recorded = this.results.get(`${path}\u0000${callId}`);
    if (recorded === undefined || recorded.tool !== tool || recorded.args !== canonicalJson(args)) return undefined;
    return recorded.result;
  }
}

/** One conversation's entries as a replay must reproduce them: kind and payload, conversation ids as paths. */
export interface ComparableConversation {
  readonly path: string;
  readonly entries: readonly { readonly kind: string; readonly payload: unknown }[];
}

export type Comparison =
  | { readonly same: true; readonly conversations: number; readonly entries: number }
  | {
      readonly same: false;
      readonly path: string;
      readonly index: number;
      readonly expected: string;
      readonly actual: string;
    };

/**
 * Compares two sessions entry by entry in every conversation, matched by path. Ids that name conversations (a
 * delegation's child) are compared by path, since a replay creates its own conversations.
 */
export function compareConversations(
  original: readonly ComparableConversation[],
  replayed: readonly ComparableConversation[],
): Comparison {
  const byPath = new Map(replayed.map((c) => [c.path, c]));
  let entries = 0;
  for (const conv of original) {
    const other = byPath.get(conv.path);
    if (other === undefined)
      return {
        same: false,
        path: conv.path,
        index: 0,
        expected: `${conv.entries.length} entries`,
        actual: 'no such conversation',
      };
    const length = Math.max(conv.entries.length, other.entries.length);
    for (let i = 0; i < length; i++) {
      const expected = conv.entries[i] === undefined ? '(nothing)' : JSON.stringify(conv.entries[i]);
      const actual = other.entries[i] === undefined ? '(nothing)' : JSON.stringify(other.entries[i]);
      if (expected !== actual) return { same: false, path: conv.path, index: i + 1, expected, actual };
    }
    entries += conv.entries.length;
    byPath.delete(conv.path);
  }
  const extra = [...byPath.keys()][0];
  if (extra !== undefined)
    return {
      same: false,
      path: extra,
      index: 0,
      expected: 'no such conversation',
      actual: `${byPath.get(extra)!.entries.length} entries`,
    };
  return { same: true, conversations: original.length, entries };
}

/**
 * An entry as a replay must reproduce it. This is the one place where a replay's legitimately different values are
 * put in terms both runs share, so that anything else that differs (a reply's text, an amount, a tool's arguments)
 * is a difference:
 * - ids (conversations, model calls, entries, so idempotency keys, which are their tool_call entries' ids) become
 *   their places (`places`); a replay's `places` also hold the recorded session's ids, since the results it serves
 *   carry the recorded call's key (a payment's reference names the recorded call, at the same place);
 * - a question's deadline (`user_input_request`, `waiting`) becomes its distance from its entry's own time: both runs
 *   ask with the same timeout, at different times.
 */
export function comparableEntry(
  entry: { readonly kind: string; readonly payload: unknown; readonly ts: number },
  places: ReadonlyMap<string, string>,
): { readonly kind: string; readonly payload: unknown } {
  let payload = entry.payload;
  if (
    (entry.kind === 'user_input_request' || entry.kind === 'waiting') &&
    payload !== null &&
    typeof payload === 'object'
  ) {
    const { deadline } = payload as { deadline?: unknown };
    if (typeof deadline === 'number') payload = { ...payload, deadline: `${deadline - entry.ts} ms after the entry` };
  }
  return { kind: entry.kind, payload: withPaths(payload, places) };
}

/** Replaces every string equal to a conversation id by that conversation's path, deeply. */
export function withPaths(value: unknown, paths: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') return paths.get(value) ?? value;
  if (Array.isArray(value)) return value.map((v) => withPaths(v, paths));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withPaths(v, paths)]));
  return value;
}
