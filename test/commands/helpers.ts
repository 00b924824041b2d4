import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { App } from '../../src/app/app.ts';
import { readWorkspaceConfig } from '../../src/app/config.ts';
import { loadWorkspace, type Workspace } from '../../src/app/workspace.ts';
import { EventBus } from '../../src/bus/bus.ts';
import { parseCommandLine } from '../../src/commands/parse.ts';
import type { Command, CommandContext, Output } from '../../src/commands/types.ts';
import { systemClock, type Clock } from '../../src/core/clock.ts';
import { UserError } from '../../src/core/errors.ts';
import type { JsonValue } from '../../src/core/json.ts';
import { openWallets } from '../../src/ledger/wallets/open.ts';
import type { WalletService } from '../../src/ledger/wallets/service.ts';
import { Store } from '../../src/store/store.ts';

/**
 * Commands run in this process, as the CLI runs them: a real context over a workspace folder and its database, an
 * output that records what a user would see, and argv parsed by the CLI's own parser. No process is spawned, so a
 * test of a handler takes milliseconds, not a Node start-up.
 */

/** An `Output` that keeps what a command printed: stdout (lines and streamed text) and stderr (warnings). */
export interface RecordingOutput extends Output {
  /** What went to stdout, line by line. */
  readonly lines: readonly string[];
  /** What went to stderr, line by line. */
  readonly warnings: readonly string[];
  /** Stdout as one text. */
  readonly stdout: string;
}

export function recordingOutput(options: { json?: boolean; answers?: readonly string[] } = {}): RecordingOutput {
  let stdout = '';
  const warnings: string[] = [];
  const answers = [...(options.answers ?? [])];
  return {
    json: options.json === true,
    // Plain text, as with NO_COLOR: assertions read what is printed, not escape codes.
    color: false,
    interactive: answers.length > 0,
    line: (text = '') => {
      stdout += `${text}\n`;
    },
    write: (text) => {
      stdout += text;
    },
    warn: (text) => {
      warnings.push(...text.split('\n'));
    },
    ask: () => Promise.resolve(answers.shift()),
    get lines() {
      return stdout === '' ? [] : stdout.replace(/\n$/, '').split('\n');
    },
    get warnings() {
      return warnings;
    },
    get stdout() {
      return stdout;
    },
  };
}

/** What one command printed and returned. */
export interface CommandRun {
  readonly exitCode: number;
  /** The JSON value the CLI would print with --json. */
  readonly json: JsonValue | undefined;
  readonly lines: readonly string[];
  readonly warnings: readonly string[];
  readonly stdout: string;
}

export interface TestContext extends CommandContext {
  readonly output: RecordingOutput;
  /**
   * Parses argv (the words after the command's own, e.g. `['last', '--json']`) with the CLI's parser and runs the
   * command over this context's workspace and database, with a fresh output (`--json` in argv makes it a JSON one).
   * An error the CLI would report (a UserError and its code) rejects the promise.
   */
  run(command: Command, argv?: readonly string[]): Promise<CommandRun>;
  /** Closes the app, the database and the workspace's MCP connections. */
  close(): Promise<void>;
}

export interface CommandContextOptions {
  /** The database (default: the workspace's, as p2tui.yaml says, like the CLI without --db). */
  readonly dbPath?: string;
  readonly json?: boolean;
  readonly clock?: Clock;
  readonly signal?: AbortSignal;
  /** Answers to the questions a command asks, in order (the output is interactive when there are some). */
  readonly answers?: readonly string[];
}

/**
 * A real `CommandContext` over a workspace folder: the workspace, the store, the bus, the app and the wallets are
 * made on first use and shared by every command run through it, as within one CLI process.
 */
export function commandContext(workspaceDir: string, options: CommandContextOptions = {}): TestContext {
  const clock = options.clock ?? systemClock;
  const signal = options.signal ?? new AbortController().signal;
  let workspaceLoad: Promise<Workspace> | undefined;
  let store: Store | undefined;
  let bus: EventBus | undefined;
  let app: App | undefined;
  let wallets: WalletService | undefined;

  const make = (output: RecordingOutput): TestContext => {
    const ctx: TestContext = {
      output,
      workspaceDir,
      dbPath: options.dbPath,
      debug: false,
      signal,
      clock,
      workspace: () =>
        (workspaceLoad ??= loadWorkspace(workspaceDir, options.dbPath === undefined ? {} : { db: options.dbPath })),
      store: (opts = {}) => {
        if (store === undefined) {
          const path = options.dbPath ?? defaultDbPath(workspaceDir);
          if (opts.existing === true && !existsSync(path))
            return Promise.reject(
              new UserError('E_UNKNOWN_SESSION', `there is no database at ${path} yet, so no sessions`),
            );
          store = new Store({ path });
        }
        return Promise.resolve(store);
      },
      bus: async (opts = {}) => (bus ??= app?.bus ?? new EventBus(await ctx.store(opts), clock)),
      app: async () => {
        if (app === undefined) {
          const workspace = await ctx.workspace();
          store ??= new Store({ path: options.dbPath ?? workspace.dbPath });
          app = new App({ workspace, store, clock, ...(bus === undefined ? {} : { bus }) });
        }
        return app;
      },
      wallets: async () => {
        if (app !== undefined) return app.wallets;
        const workspace = await ctx.workspace();
        wallets ??= openWallets(await ctx.store(), workspace.config.ledger, clock);
        return wallets;
      },
      run: async (command, argv = []) => {
        const input = parseCommandLine(command, argv);
        const out = recordingOutput({
          json: input.options['json'] === true || options.json === true,
          ...(options.answers === undefined ? {} : { answers: options.answers }),
        });
        const result = await command.run(make(out), input);
        return {
          exitCode: result.exitCode,
          json: result.json,
          lines: out.lines,
          warnings: out.warnings,
          stdout: out.stdout,
        };
      },
      close: async () => {
        app?.close();
        store?.close();
        app = undefined;
        store = undefined;
        await workspaceLoad?.then((w) => w.close()).catch(() => undefined);
      },
    };
    return ctx;
  };

  return make(
    recordingOutput({
      ...(options.json === undefined ? {} : { json: options.json }),
      ...(options.answers === undefined ? {} : { answers: options.answers }),
    }),
  );
}

/** The database a workspace uses, read without loading its personas (as the CLI does for read commands). */
function defaultDbPath(workspaceDir: string): string {
  try {
    const database = readWorkspaceConfig(workspaceDir).config.database;
    return isAbsolute(database) ? database : join(workspaceDir, database);
  } catch {
    return join(workspaceDir, '.p2tui', 'p2tui.db');
  }
}
