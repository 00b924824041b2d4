import type { WalletService } from '../ledger/wallets/service.ts';
import type { Spending } from '../ledger/wallets/spend.ts';
import { z } from 'zod';
import type { EffectClass, ToolStatus } from '../core/entries.ts';
import type { JsonObject, JsonValue } from '../core/json.ts';

export type DedupPolicy = 'none' | 'penalty' | 'strict';

/** What a running tool knows about the call. */
export interface ToolContext {
  readonly session: string;
  readonly branch: string;
  readonly conversation: string;
  readonly agent: string;
  readonly callId: string;
  /**
   * The call's idempotency key: the same for a retry or a recovery of this call (and, in a distributed rollout, on
   * every attempt of its cell), different for any other call.
   * Effectful tools should pass it to the system they change (a payment reference, a ledger command id).
   */
  readonly key: string;
  /**
   * The lease's fencing token when the call started: higher after every takeover of the session, never reused. Hand
   * it with `key` to the system the effect changes, so it can refuse a holder that has been taken over (a write with
   * a lower fence than one it has seen). Across hosts, at-most-once rests on this and the key.
   */
  readonly fence: number;
  /** Aborted when the call is cancelled or times out, and when this process loses the session's lease. */
  readonly signal: AbortSignal;
  /** The workspace folder. */
  readonly workspace: string;
  /**
   * The session's clock, in milliseconds since the epoch: a tool that stamps or compares times reads it here (a
   * test's manual clock moves it; a replay is not bent by the machine's time).
   */
  now(): number;
  /**
   * The agents' wallets on the session's ledger (the embedded one by default). Ledger tools act as `agent`: the
   * identity comes from the session, never from the model's arguments. On a dry-run branch (`effects: dry-run`),
   * a scratch copy of the wallets seeded with the real balances: what a tool's `simulate` pays there is not real.
   */
  readonly wallets?: WalletService;
  /** The calling agent's spend policy and the session's approval policy (ledger tools check payments against it). */
  readonly spending?: Spending;
  /** A person (or the session's approval policy) approved this call before it ran (see the tool's `approval`). */
  readonly approved?: boolean;
  /**
   * On a fork whose ancestor branch made the same call (same tool, same arguments, same conversation path): what that
   * call returned there, nearest ancestor first; undefined otherwise (and on a session's first branch). A dry-run
   * branch's call (simulated or skipped) is not one: it changed nothing. Set for
   * effectful calls, so a tool can decide for itself whether to act again (`branch` says where it runs now).
   */
  readonly prior?: PriorResult;
  /** Stores bytes as a content-addressed artifact of this call (committed with the result). */
  attach(name: string, data: string | Uint8Array, mime?: string): void;
  /**
   * Marks a milestone of the work (committed with the result as a `milestone` event): evaluators with
   * `on: milestone` judge the step when it lands.
   */
  milestone?(name: string, detail?: string): void;
}

/** What an earlier branch's same call returned (see `ToolContext.prior`). */
export interface PriorResult {
  readonly status: ToolStatus;
  readonly output?: JsonValue;
  readonly error?: string;
}

export interface ToolSpecInput<Schema extends z.ZodObject> {
  readonly name: string;
  readonly description: string;
  readonly input: Schema;
  /**
   * pure: same arguments, same result, no effects (cached for `cacheTtlMs`, run again freely after a crash).
   * idempotent: has effects, but running twice with the same key is harmless (run again after a crash).
   * effectful: must not run twice (after a crash it is reconciled with `reconcile` or settled as unknown).
   * Defaults to effectful: the safe assumption for a tool that does not say.
   */
  readonly effect?: EffectClass;
  /** Cache lifetime of a pure tool's results; 0 turns caching off. Default 5 minutes. */
  readonly cacheTtlMs?: number;
  /** What to do with a repeat of the same effectful call in a conversation (P2Engine's policies). */
  readonly dedup?: DedupPolicy;
  readonly timeoutMs?: number;
  run(args: z.output<Schema>, context: ToolContext): Promise<unknown> | unknown;
  /**
   * For effectful tools: after a crash between starting the call and storing its result, look the outcome up by
   * `context.key`. Return the result if the effect happened, `null` if it did not (then it is safe to run it), or
   * throw if it cannot be known (the call is settled as unknown).
   */
  reconcile?(args: z.output<Schema>, context: ToolContext): Promise<unknown> | unknown;
  /**
   * For effectful tools: undoes one call's effect (a refund for a payment, a delete for a create), given its
   * arguments and result. A fork or rewind never undoes effects by itself; it offers this, and the user chooses
   * (`p2tui session compensate`). `context.key` is the original call's key: use it to make the undo idempotent.
   */
  compensate?(args: z.output<Schema>, result: unknown, context: ToolContext): Promise<unknown> | unknown;
  /**
   * For effectful tools: whether this call needs a person's approval before it runs, and why (a payment above the
   * agent's threshold, say); undefined when it does not. The session asks (or its approval policy answers) before
   * the call starts; an approved call runs with `context.approved` set.
   */
  approval?(args: z.output<Schema>, context: ToolContext): Promise<string | undefined> | string | undefined;
  /**
   * For effectful tools, on a dry-run branch (`effects: dry-run`): what the model sees instead of `run`'s result, with
   * no real effect (same result type as `run`; the entry is stored with `simulated: true`). Without it such a call
   * is not executed and settles as `skipped` with E_DRY_RUN.
   */
  simulate?(args: z.output<Schema>, context: ToolContext): Promise<unknown> | unknown;
}

export const TOOL_BRAND = Symbol.for('p2tui.tool');

export interface Tool {
  readonly [TOOL_BRAND]: true;
  readonly name: string;
  readonly description: string;
  readonly effect: EffectClass;
  readonly cacheTtlMs: number;
  readonly dedup: DedupPolicy;
  readonly timeoutMs: number | undefined;
  /** Validates what a model sends: the tool's zod object, or (MCP tools) a schema read from the server's JSON Schema. */
  readonly input: z.ZodType;
  /** JSON Schema of the arguments, as models see it. */
  readonly parameters: JsonObject;
  readonly run: (args: unknown, context: ToolContext) => Promise<unknown> | unknown;
  readonly reconcile: ((args: unknown, context: ToolContext) => Promise<unknown> | unknown) | undefined;
  readonly compensate?:
    ((args: unknown, result: unknown, context: ToolContext) => Promise<unknown> | unknown) | undefined;
  readonly approval?:
    ((args: unknown, context: ToolContext) => Promise<string | undefined> | string | undefined) | undefined;
  readonly simulate?: ((args: unknown, context: ToolContext) => Promise<unknown> | unknown) | undefined;
  /** Where it was defined (file), for error messages. */
  source?: string;
}

export const TOOL_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const DEFAULT_CACHE_TTL_MS = 5 * 60_000;

/**
 * Defines a tool. Its zod schema validates what a model sends (invalid arguments go back to the model as an error
 * result) and becomes the JSON Schema the model sees.
 */
export function defineTool<Schema extends z.ZodObject>(spec: ToolSpecInput<Schema>): Tool {
  if (!TOOL_NAME.test(spec.name))
    throw new TypeError(`tool name '${spec.name}' must match ${TOOL_NAME} (letters, digits, _ and -)`);
  if (typeof spec.description !== 'string' || spec.description.trim() === '')
    throw new TypeError(`tool '${spec.name}' needs a description: models choose tools by it`);
  if (!(spec.input instanceof z.ZodObject))
    throw new TypeError(`tool '${spec.name}': input must be a zod object schema (z.object({...}))`);
  if (typeof spec.run !== 'function') throw new TypeError(`tool '${spec.name}' needs a run(args, context) function`);
  if (spec.simulate !== undefined && typeof spec.simulate !== 'function')
    throw new TypeError(`tool '${spec.name}': simulate must be a function (args, context)`);
  const effect = spec.effect ?? 'effectful';
  if (!['pure', 'idempotent', 'effectful'].includes(effect))
    throw new TypeError(`tool '${spec.name}': effect must be pure, idempotent or effectful`);
  const parameters = z.toJSONSchema(spec.input, { io: 'input', unrepresentable: 'any' }) as JsonObject;
  delete parameters['$schema'];
  return {
    [TOOL_BRAND]: true,
    name: spec.name,
    description: spec.description.trim(),
    effect,
    cacheTtlMs: effect === 'pure' ? (spec.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS) : 0,
    dedup: spec.dedup ?? 'none',
    timeoutMs: spec.timeoutMs,
    input: spec.input,
    parameters,
    run: spec.run as Tool['run'],
    reconcile: spec.reconcile as Tool['reconcile'],
    compensate: spec.compensate as Tool['compensate'],
    approval: spec.approval as Tool['approval'],
    simulate: spec.simulate as Tool['simulate'],
  };
}

export function isTool(value: unknown): value is Tool {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TOOL_BRAND] === true;
}
