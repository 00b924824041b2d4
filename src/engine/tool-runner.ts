import { whenAborted } from '../core/abort.ts';
import { deadlineSignal, type Clock } from '../core/clock.ts';
import type { EntryPayloads } from '../core/entries.ts';
import { OutcomeUnknownError, fatalStorageFailureOf, messageOf } from '../core/errors.ts';
import { sha256, sha256Text } from '../core/hash.ts';
import { canonicalJson, cloneJson, type JsonValue } from '../core/json.ts';
import type { Tool, ToolContext } from '../tools/define.ts';

export type ToolResultDraft = { kind: 'tool_result'; payload: EntryPayloads['tool_result'] };

export interface Attachment {
  readonly name: string;
  readonly data: string | Uint8Array;
  readonly mime: string;
  readonly kind: string;
  /** Secrets are out already (a large output or error, redacted before it was hashed). */
  readonly redacted?: boolean;
}

export interface ToolRun {
  readonly result: ToolResultDraft;
  readonly attachments: readonly Attachment[];
  /** Milestones the tool marked (only of a run that returned a result). */
  readonly milestones?: readonly { readonly name: string; readonly detail: string | null }[];
  /** For a pure tool's fresh result: where to cache it (what its result entry holds) and until when. */
  readonly cache?: { readonly key: string; readonly expiresAt: number };
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

/**
 * Outputs, errors and arguments above this many bytes (p2tui.yaml's `limits.inline_bytes`, by default) are stored
 * once as an artifact; the entry, and so the model, keeps a preview.
 */
export const DEFAULT_INLINE_BYTES = 16 * 1024;

/** How much of a large output, error or arguments the entry (and the model) keeps. */
export const PREVIEW_CHARS = 2000;

/**
 * What an entry holds instead of a large text: its start (2,000 characters, fewer under a smaller inline limit), its
 * size and the artifact that holds it whole.
 */
export function previewOf(
  text: string,
  bytes: number,
  what: 'output' | 'error' | 'arguments',
  hash: string,
  inlineBytes: number,
): string {
  const head = text.slice(0, Math.min(PREVIEW_CHARS, inlineBytes));
  return `${head}… (${bytes} bytes; full ${what} in artifact ${hash.slice(0, 12)})`;
}

/**
 * Where a pure tool's result is cached: its name and canonical arguments. The `v2` rows hold what the result entry
 * held (a preview and the artifact's hash for a large output), never a second copy of the output; rows of the
 * earlier layout (the whole output) are never read and expire.
 */
export function cacheKey(tool: string, args: JsonValue): string {
  return sha256(`v2\n${tool}\n${canonicalJson(args)}`);
}

/** The message of whatever a tool threw: `throw undefined`, a Symbol or an empty Error still say what happened. */
export function thrownMessage(tool: string, error: unknown): string {
  if (error instanceof Error)
    return error.message !== '' ? error.message : `tool ${tool} threw ${error.name} with no message`;
  if (typeof error === 'string') return error !== '' ? error : `tool ${tool} threw an empty string (not an Error)`;
  if (error === undefined || error === null) return `tool ${tool} threw ${String(error)} (not an Error)`;
  if (typeof error === 'symbol') return `tool ${tool} threw ${error.toString()} (not an Error)`;
  if (typeof error !== 'object' && typeof error !== 'function')
    return `tool ${tool} threw ${String(error)} (not an Error)`;
  let shown: string | undefined;
  try {
    shown = JSON.stringify(error);
  } catch {
    shown = undefined;
  }
  const text = shown === undefined ? Object.prototype.toString.call(error) : shown.slice(0, PREVIEW_CHARS);
  return `tool ${tool} threw ${typeof error === 'function' ? 'a function' : 'an object'} (not an Error): ${text}`;
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
    /** Takes configured secrets out of the output and error (before their size is judged and artifact hashed). */
    redact?: (value: JsonValue) => JsonValue;
    /** Outputs and errors above this many bytes become artifacts (p2tui.yaml's limits.inline_bytes). */
    inlineBytes?: number;
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
  const inlineBytes = context.inlineBytes ?? DEFAULT_INLINE_BYTES;
  const started = clock.monotonic();
  const base = { callId: context.callId, tool: tool.name };
  /**
   * A large text leaves the entry: it becomes an artifact (stored once, in pieces when it is very large) and the
   * entry a preview naming it. Secrets are out before it is hashed, so the entry names the blob that is stored.
   */
  const sized = (raw: string, what: 'output' | 'error'): { text: string; artifact?: string } => {
    const text = what === 'error' && context.redact !== undefined ? (context.redact(raw) as string) : raw;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: most texts are judged without counting their bytes.
    if (text.length * 3 <= inlineBytes || Buffer.byteLength(text) <= inlineBytes) return { text };
    // Hashed piece by piece and handed on as text: the store writes a large one in pieces, never encoded whole.
    const hash = sha256Text(text);
    const [name, mime] =
      what === 'error' ? [`${tool.name}-error.txt`, 'text/plain'] : [`${tool.name}-output.json`, 'application/json'];
    attachments.push({ name, data: text, mime, kind: `tool_${what}`, redacted: true });
    return { text: previewOf(text, Buffer.byteLength(text), what, hash, inlineBytes), artifact: hash };
  };
  /** A run that ends without an output: its status and why (and how long it took, once it started). */
  const ended = (payload: Omit<EntryPayloads['tool_result'], 'callId' | 'tool'>): ToolRun => {
    const error = payload.error === undefined ? undefined : sized(payload.error, 'error');
    const kept =
      error === undefined
        ? payload
        : { ...payload, error: error.text, ...(error.artifact === undefined ? {} : { artifact: error.artifact }) };
    return { result: { kind: 'tool_result', payload: { ...base, ...kept } }, attachments };
  };
  // Keyed before the run and handed a copy: a tool that changes its arguments object neither files its result under
  // other arguments in the cache nor changes what the call's entry and intent hold.
  const key = tool.effect === 'pure' && tool.cacheTtlMs > 0 ? cacheKey(tool.name, args) : undefined;
  const parsed = tool.input.safeParse(cloneJson(args));
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
    ...(context.prior === undefined ? {} : { prior: context.prior }),
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
      return ended(payload);
    }
    if (outcome === 'stopped') {
      return ended({ status: 'cancelled', error: 'cancelled', latencyMs });
    }
    let payload: EntryPayloads['tool_result'];
    try {
      payload = { ...base, ...jsonOutput(outcome.value, context.redact, sized), latencyMs };
    } catch (error) {
      return ended({
        status: 'error',
        error: `the tool returned a value that is not JSON: ${messageOf(error)}`,
        latencyMs,
      });
    }
    const run: ToolRun = {
      result: { kind: 'tool_result', payload },
      attachments,
      ...(milestones.length === 0 ? {} : { milestones }),
    };
    return key === undefined ? run : { ...run, cache: { key, expiresAt: clock.now() + tool.cacheTtlMs } };
  } catch (error) {
    // The database failing under the tool (damaged, full, read-only) is not the tool's error to report to the model:
    // the session stops with it.
    const storage = fatalStorageFailureOf(error);
    if (storage !== undefined) throw storage;
    const latencyMs = Math.round(clock.monotonic() - started);
    // The tool says the call went out and its answer was lost: an effectful one may have acted.
    if (error instanceof OutcomeUnknownError && tool.effect === 'effectful')
      return ended({ status: 'unknown', error: messageOf(error), latencyMs });
    return ended({ status: 'error', error: thrownMessage(tool.name, error), latencyMs });
  } finally {
    deadline.cancel();
  }
}

/**
 * A tool's return value as the entry's output: JSON, redacted, and a preview naming an artifact when it is large. A
 * large output is serialized once and its text goes straight to bytes (no parsed copy, no second string).
 */
function jsonOutput(
  value: unknown,
  redact: ((value: JsonValue) => JsonValue) | undefined,
  sized: (text: string, what: 'output') => { text: string; artifact?: string },
): { status: 'ok'; output: JsonValue; artifact?: string } {
  let text = value === undefined ? 'null' : ((JSON.stringify(value) as string | undefined) ?? 'null');
  // Secrets are replaced in the value's strings, not in its JSON text (where escapes could hide them).
  if (redact !== undefined) text = JSON.stringify(redact(JSON.parse(text) as JsonValue));
  const kept = sized(text, 'output');
  if (kept.artifact === undefined) return { status: 'ok', output: JSON.parse(text) as JsonValue };
  return { status: 'ok', output: kept.text, artifact: kept.artifact };
}
