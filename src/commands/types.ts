import type { Clock } from '../core/clock.ts';
import type { SessionOptions } from '../core/events.ts';
import type { JsonValue } from '../core/json.ts';
import type { EventBus } from '../bus/bus.ts';
import type { App } from '../app/app.ts';
import type { Workspace } from '../app/workspace.ts';
import type { WalletService } from '../ledger/wallets/service.ts';
import type { SessionReading } from '../store/reader.ts';
import type { Store } from '../store/store.ts';

/**
 * The command registry's types. A command is a name, its arguments and options, and a function over the app; the
 * CLI parses argv into it and the TUI's palette calls the same function with its own `Output`. Commands are written
 * with `defineCommand` (define.ts), which gives their handlers typed values.
 */
export type OptionType = 'string' | 'boolean' | 'number';

export interface OptionSpec {
  readonly name: string;
  readonly type: OptionType;
  readonly short?: string;
  readonly description: string;
  readonly choices?: readonly string[];
  /** Placeholder in help, e.g. `<n>`. */
  readonly value?: string;
  readonly multiple?: boolean;
  /** Numbers: refuse fractions, and values outside [min, max]. */
  readonly integer?: boolean;
  readonly min?: number;
  readonly max?: number;
}

export interface ArgSpec {
  readonly name: string;
  readonly description: string;
  readonly required: boolean;
  /** Takes every remaining word (joined by spaces). */
  readonly rest?: boolean;
}

export type OptionValues = Readonly<Record<string, string | boolean | number | readonly string[] | undefined>>;

export interface CommandInput {
  readonly args: Readonly<Record<string, string | undefined>>;
  readonly options: OptionValues;
}

/** Where a command writes: human lines (live) and, with --json, one JSON value at the end. */
export interface Output {
  readonly json: boolean;
  readonly color: boolean;
  /** Whether a person can answer questions now (a terminal for the CLI, the input box for the TUI). */
  readonly interactive: boolean;
  line(text?: string): void;
  /** Text without a newline (streaming model output). */
  write(text: string): void;
  /** Replaces the current line (a progress bar at a terminal); an output that cannot leaves it out. */
  redraw?(text: string): void;
  /** Set when the command runs in the TUI's palette (the TUI is already open: `--rerun` has nothing to open). */
  readonly inTui?: boolean;
  /** Bytes exactly as given, with no cleaning (`artifacts show --raw`); only the CLI's stdout has it. */
  bytes?(data: Uint8Array): void;
  warn(text: string): void;
  /** Asks the person a question; undefined when nobody can answer (not interactive, end of input). */
  ask(prompt: string): Promise<string | undefined>;
}

export interface CommandContext {
  readonly output: Output;
  readonly workspaceDir: string;
  readonly dbPath: string | undefined;
  readonly debug: boolean;
  /** Aborted on Ctrl-C. */
  readonly signal: AbortSignal;
  /** The time commands stamp, compare and wait with (the app's, in the TUI's palette). */
  readonly clock: Clock;
  /**
   * The workspace, loaded on first use. `replay`: the command replays that session, so MCP servers are not reached
   * (their tools come from the session's recorded listings); it matters only to the call that loads the workspace.
   */
  workspace(options?: WorkspaceUse): Promise<Workspace>;
  /** The database; with `existing`, a missing database is an error (read commands never create one). */
  store(options?: { existing?: boolean }): Promise<Store>;
  /**
   * The sessions and leases of the database without the rest of the Store (what `session list` reads; the CLI opens
   * less for it). Without it, a command reads them from `store`.
   */
  sessionReading?(options?: { existing?: boolean }): Promise<SessionReading>;
  /** The event bus over the database, for readers that need no workspace (a broken persona does not stop them). */
  bus(options?: { existing?: boolean }): Promise<EventBus>;
  /** The workspace wired to the database: engine, judge, policies, wallets (the judge starts when it has work). */
  app(options?: WorkspaceUse): Promise<App>;
  /** The agents' wallets (the app's when one is open), without starting an engine. */
  wallets(): Promise<WalletService>;
}

/** How a command will use the workspace it asks for. */
export interface WorkspaceUse {
  readonly replay?: NonNullable<SessionOptions['replay']>;
}

export interface CommandResult {
  readonly exitCode: number;
  /** With --json, the one JSON value the command prints. */
  readonly json?: JsonValue;
  /** Then open the full-screen TUI on this rollout's grid (`rollout start --rerun`); only the CLI does, at a terminal. */
  readonly tui?: { readonly rollout: string };
}

export interface Command {
  /** Words of the command, e.g. ['session', 'list']. */
  readonly path: readonly string[];
  readonly summary: string;
  readonly details?: string;
  readonly args: readonly ArgSpec[];
  readonly options: readonly OptionSpec[];
  readonly examples?: readonly string[];
  run(ctx: CommandContext, input: CommandInput): Promise<CommandResult>;
}

/** Exit codes, documented in the README. */
export const EXIT = {
  ok: 0,
  /** The session failed or was cancelled; a check failed. */
  failed: 1,
  usage: 2,
  /** Invalid workspace, persona, tool or config; unknown agent. */
  config: 3,
  /** The session waits for an answer from the user (unattended run with approval: ask). */
  waiting: 4,
  /** Database problem: locked, newer schema, not a p2tui database, damaged, full, read-only, I/O error. */
  store: 5,
  /** A file or folder named by the user cannot be used: missing, already there, not permitted, disk full. */
  file: 6,
  interrupted: 130,
} as const;

export function option<T extends string | number | boolean>(input: CommandInput, name: string): T | undefined {
  return input.options[name] as T | undefined;
}
