import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type IPty } from '@lydell/node-pty';
import xterm from '@xterm/headless';
import { childEnv } from './child-env.ts';

/**
 * The built `p2tui` binary in a real pseudo-terminal of a fixed size, its output fed to a terminal emulator: what the
 * end-to-end TUI tests drive, the way a person uses it.
 */
export const ROOT = new URL('../..', import.meta.url).pathname;
export const BIN = join(ROOT, 'bin/p2tui.js');
export const ESC = String.fromCharCode(27);

export interface Tui {
  readonly pty: IPty;
  readonly term: InstanceType<typeof xterm.Terminal>;
  /** The folder of the session database (removed by cleanupTuis). */
  readonly dir: string;
  /** Everything the program wrote. */
  raw(): string;
  screen(): string;
  waitFor(what: string | RegExp | ((screen: string) => boolean), timeoutMs?: number): Promise<string>;
  /** Writes keys (one pty write), then waits a little for them to be handled. */
  press(keys: string): Promise<void>;
  exit: Promise<number>;
}

const running: Tui[] = [];
const dirs: string[] = [];

/** Kills the TUIs still running and removes their folders: call in afterEach. */
export function cleanupTuis(): void {
  for (const t of running.splice(0)) {
    try {
      t.pty.kill();
    } catch {
      // already gone
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Call in beforeAll: the tests drive the built binary. */
export function requireBuild(): void {
  if (!existsSync(join(ROOT, 'dist/cli/main.js')))
    throw new Error('the end-to-end tests drive the built binary: run npm run build first (npm test does)');
}

/**
 * Starts the TUI on this repository's workspace with a fresh database (`db`: another one, shared with a CLI;
 * `setup`: runs first with the database's path, e.g. a `p2tui ledger init`; `workspace`: another workspace, also
 * the folder it runs in; `env`: more environment variables). `extraArgs` go after the global options: a command
 * (`rollout start … --rerun`) too.
 */
export function startTui(
  columns: number,
  rows: number,
  extraArgs: string[] = [],
  options: { db?: string; setup?: (db: string) => void; workspace?: string; env?: Record<string, string> } = {},
): Tui {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-e2e-'));
  dirs.push(dir);
  const term = new xterm.Terminal({ cols: columns, rows, allowProposedApi: true });
  let raw = '';
  const db = options.db ?? join(dir, 'p2tui.db');
  options.setup?.(db);
  const workspace = options.workspace ?? ROOT;
  const pty = spawn(process.execPath, [BIN, '--workspace', workspace, '--db', db, ...extraArgs], {
    name: 'xterm-256color',
    cols: columns,
    rows,
    cwd: workspace,
    // Ink renders nothing live when it believes it runs in CI.
    env: childEnv(
      { CI: 'false', CONTINUOUS_INTEGRATION: 'false', TERM: 'xterm-256color', ...options.env },
      { color: true },
    ),
  });
  pty.onData((data) => {
    raw += data;
    term.write(data);
  });
  const exit = new Promise<number>((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)));
  const screen = (): string => {
    const buffer = term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < term.rows; i++) lines.push(buffer.getLine(buffer.viewportY + i)?.translateToString(true) ?? '');
    return lines.join('\n');
  };
  const tui: Tui = {
    pty,
    term,
    dir,
    raw: () => raw,
    screen,
    exit,
    async waitFor(what, timeoutMs = 10_000) {
      const test =
        typeof what === 'function' ? what : (s: string) => (typeof what === 'string' ? s.includes(what) : what.test(s));
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        // Let the emulator finish parsing what arrived.
        await new Promise<void>((resolve) => term.write('', resolve));
        const s = screen();
        if (test(s)) return s;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`timed out waiting for ${String(what)}; the screen was:\n${screen()}`);
    },
    async press(keys) {
      pty.write(keys);
      await new Promise((r) => setTimeout(r, keys === ESC ? 80 : 30));
    },
  };
  running.push(tui);
  return tui;
}

/** From the empty sessions list: n, the first agent (agent_alpha), the demo question, Enter. */
export async function startDemoSession(tui: Tui): Promise<void> {
  await tui.waitFor('No sessions yet');
  await tui.press('n');
  await tui.waitFor('choose an agent');
  await tui.press('\r');
  await tui.waitFor('message to agent_alpha ›');
  await tui.press("What's the weather in Paris and who leads the Premier League?");
  await tui.waitFor('who leads the Premier League?');
  await tui.press('\r');
}

/**
 * From the empty sessions list: n, the second agent (agent_beta), `message`, Enter. `burst`: the message and its
 * Enter in one write, as fast typing or a script sends them.
 */
export async function startBetaSession(tui: Tui, message: string, burst = false): Promise<void> {
  await tui.waitFor('No sessions yet');
  await tui.press('n');
  await tui.waitFor('choose an agent');
  await tui.press('j');
  await tui.press('\r');
  await tui.waitFor('message to agent_beta ›');
  if (burst) await tui.press(`${message}\r`);
  else {
    await tui.press(message);
    await tui.waitFor(message);
    await tui.press('\r');
  }
}
