import { whenAborted } from '../core/abort.ts';
import { deadlineSignal, type Clock } from '../core/clock.ts';
import type { EntryPayloads } from '../core/entries.ts';
import { OutcomeUnknownError, fatalStorageFailureOf, messageOf } from '../core/errors.ts';
import { sha256 } from '../core/hash.ts';
import { canonicalJson, toJson, type JsonValue } from '../core/json.ts';
import type { Tool, ToolContext } from '../tools/define.ts';

export type ToolResultDraft = { kind: 'tool_result'; payload: EntryPayloads['tool_result'] };

export interface Attachment {
  readonly name: string;
  readonly data: string | Uint8Array;
  readonly mime: string;
  readonly kind: string;
}

export interface ToolRun {
  readonly result: ToolResultDraft;
  readonly attachments: readonly Attachment[];
  /** Milestones the tool marked (only of a run that returned a result). */
  readonly milestones?: readonly { readonly name: string; readonly detail: string | null }[];
  /** For a pure tool's fresh result: where to cache it and until when. */
  readonly cache?: { readonly key: string; readonly output: JsonValue; readonly expiresAt: number };
}

const NOT_STARTED = Symbol('not started');

/**
 * Keys of the tool runs in flight in this process. A runtime of this process that takes a session over again (a
 * detach and a new attach) must not run again a call whose earlier run is still going here.
 */
const IN_FLIGHT = new Set<string>();

/** Whether a run of the call with this key is in flight in this process. */
export function runInFlight(key: string): boolean {
  return IN_FLIGHT.has(key);
}

/** Outputs above this size are stored as an artifact; the entry keeps a preview. */
export const INLINE_OUTPUT_LIMIT = 16 * 1024;

/** Where a pure tool's result is cached: its name and canonical arguments. */
export function cacheKey(tool: string, args: JsonValue): string {
  return sha256(`${tool}\n${canonicalJson(args)}`);
}

/**
 * Runs one tool call: parses the arguments with the tool's schema, enforces its timeout, turns a throw into an
 * error result, moves a large output into an artifact, and offers a pure result for the cache. Never throws.
 */
export async function runTool(
  tool: Tool,
  args: JsonValue,
  context: Omit<ToolContext, 'attach' | 'milestone' | 'signal'> & {
    signal: AbortSignal;
    timeoutMs: number;
    clock: Clock;
    /** Takes configured secrets out of the output (before its size is judged and its artifact hashed). */
    redact?: (value: JsonValue) => JsonValue;
    /**
     * Asked synchronously right before the tool's `run` (nothing else runs in between): false, and the tool does
     * not start (its run ends as cancelled). Effectful calls check their session's lease here.
     */
    mayStart?: () => boolean;
  },
): Promise<ToolRun> {
  const attachments: Attachment[] = [];
  const milestones: { name: string; detail: string | null }[] = [];
  const { clock } = context;
  const started = clock.monotonic();
  const base = { callId: context.callId, tool: tool.name };
  /** A run that ends without an output: its status and why (and how long it took, once it started). */
  const ended = (payload: Omit<EntryPayloads['tool_result'], 'callId' | 'tool'>): ToolRun => ({
    result: { kind: 'tool_result', payload: { ...base, ...payload } },
    attachments,
  });
  const parsed = tool.input.safeParse(args);
  if (!parsed.success) {
    return ended({
      status: 'error',
      error: `invalid arguments: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
    });
  }
  if (context.signal.aborted) {
    return ended({ status: 'cancelled', error: 'cancelled before it started' });
  }
  // The tool's signal aborts on a cancel of the call (the conversation's) or at its timeout, whichever comes first.
  const deadline = deadlineSignal(clock, context.timeoutMs, () => new Error('timeout'), { within: context.signal });
  const { signal } = deadline;
  const toolContext: ToolContext = {
    session: context.session,
    branch: context.branch,
    conversation: context.conversation,
    agent: context.agent,
    callId: context.callId,
    key: context.key,
    fence: context.fence,
    workspace: context.workspace,
    now: context.now,
    ...(context.wallets === undefined ? {} : { wallets: context.wallets }),
    ...(context.spending === undefined ? {} : { spending: context.spending }),
    ...(context.approved === true ? { approved: true } : {}),
    signal,
    attach: (name, data, mime = 'application/octet-stream') => {
      attachments.push({ name, data, mime, kind: 'file' });
    },
    milestone: (name, detail) => {
      milestones.push({
        name: String(name).slice(0, 200),
        detail: detail === undefined ? null : String(detail).slice(0, 2_000),
      });
    },
  };
  try {
    const outcome = await Promise.race([
      Promise.resolve()
        .then(() => {
          if (context.mayStart !== undefined && (signal.aborted || !context.mayStart())) return NOT_STARTED;
          if (tool.effect !== 'effectful') return tool.run(parsed.data, toolContext);
          IN_FLIGHT.add(context.key);
          try {
            return Promise.resolve(tool.run(parsed.data, toolContext)).finally(() => IN_FLIGHT.delete(context.key));
          } catch (error) {
            IN_FLIGHT.delete(context.key);
            throw error;
          }
        })
        .then((value) => (value === NOT_STARTED ? ('not started' as const) : { value })),
      whenAborted(signal, 'stopped' as const),
    ]);
    const latencyMs = Math.round(clock.monotonic() - started);
    if (outcome === 'not started') return ended({ status: 'cancelled', error: 'not started: the session stopped' });
    if (outcome === 'stopped' && deadline.expired()) {
      // An effectful tool stopped mid-way may still have done its effect: that is not a plain timeout.
      const payload: EntryPayloads['tool_result'] =
        tool.effect === 'effectful'
          ? {
              ...base,
              status: 'unknown',
              error: `timed out after ${context.timeoutMs} ms while running; it may or may not have taken effect`,
              latencyMs,
            }
          : { ...base, status: 'timeout', error: `timed out after ${context.timeoutMs} ms`, latencyMs };
      return { result: { kind: 'tool_result', payload }, attachments };
    }
    if (outcome === 'stopped') {
      return ended({ status: 'cancelled', error: 'cancelled', latencyMs });
    }
    let output: JsonValue;
    try {
      output = toJson(outcome.value);
      if (context.redact !== undefined) output = context.redact(output);
    } catch (error) {
      return ended({
        status: 'error',
        error: `the tool returned a value that is not JSON: ${messageOf(error)}`,
        latencyMs,
      });
    }
    const text = JSON.stringify(output);
    let payload: EntryPayloads['tool_result'] = { ...base, status: 'ok', output, latencyMs };
    if (text.length > INLINE_OUTPUT_LIMIT) {
      const hash = sha256(text);
      attachments.push({ name: `${tool.name}-output.json`, data: text, mime: 'application/json', kind: 'tool_output' });
      payload = {
        ...base,
        status: 'ok',
        output: `${text.slice(0, 2000)}… (${text.length} bytes; full output in artifact ${hash.slice(0, 12)})`,
        artifact: hash,
        latencyMs,
      };
    }
    const run: ToolRun = {
      result: { kind: 'tool_result', payload },
      attachments,
      ...(milestones.length === 0 ? {} : { milestones }),
    };
    if (tool.effect === 'pure' && tool.cacheTtlMs > 0) {
      return { ...run, cache: { key: cacheKey(tool.name, args), output, expiresAt: clock.now() + tool.cacheTtlMs } };
    }
    return run;
  } catch (error) {
    // The database failing under the tool (damaged, full, read-only) is not the tool's error to report to the model:
    // the session stops with it.
    const storage = fatalStorageFailureOf(error);
    if (storage !== undefined) throw storage;
    const latencyMs = Math.round(clock.monotonic() - started);
    // The tool says the call went out and its answer was lost: an effectful one may have acted.
    if (error instanceof OutcomeUnknownError && tool.effect === 'effectful')
      return ended({ status: 'unknown', error: messageOf(error), latencyMs });
    return ended({ status: 'error', error: messageOf(error), latencyMs });
  } finally {
    deadline.cancel();
  }
}
