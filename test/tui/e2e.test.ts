import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type IPty } from '@lydell/node-pty';
import xterm from '@xterm/headless';
import { childEnv } from '../helpers/child-env.ts';

/**
 * End to end, the way a person uses it: the built `p2tui` binary in a real pseudo-terminal of a fixed size, its
 * output fed to a terminal emulator, keys sent one at a time, and after each key a wait for the screen to show what
 * that key should do.
 */
const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/p2tui.js');
const ESC = String.fromCharCode(27);

interface Tui {
  readonly pty: IPty;
  readonly term: InstanceType<typeof xterm.Terminal>;
  /** Everything the program wrote. */
  raw(): string;
  screen(): string;
  waitFor(what: string | RegExp | ((screen: string) => boolean), timeoutMs?: number): Promise<string>;
  press(keys: string): Promise<void>;
  exit: Promise<number>;
}

/** From the empty sessions list: n, the first agent (agent_alpha), the demo question, Enter. */
async function startDemoSession(tui: Tui): Promise<void> {
  await tui.waitFor('No sessions yet');
  await tui.press('n');
  await tui.waitFor('choose an agent');
  await tui.press('\r');
  await tui.waitFor('message to agent_alpha ›');
  await tui.press("What's the weather in Paris and who leads the Premier League?");
  await tui.waitFor('who leads the Premier League?');
  await tui.press('\r');
}

const running: Tui[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const t of running.splice(0)) {
    try {
      t.pty.kill();
    } catch {
      // already gone
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/cli/main.js')))
    throw new Error('the end-to-end tests drive the built binary: run npm run build first (npm test does)');
});

function start(columns: number, rows: number, extraArgs: string[] = []): Tui {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-e2e-'));
  dirs.push(dir);
  const term = new xterm.Terminal({ cols: columns, rows, allowProposedApi: true });
  let raw = '';
  const pty = spawn(process.execPath, [BIN, '--workspace', ROOT, '--db', join(dir, 'p2tui.db'), ...extraArgs], {
    name: 'xterm-256color',
    cols: columns,
    rows,
    cwd: ROOT,
    // Ink renders nothing live when it believes it runs in CI.
    env: childEnv({ CI: 'false', CONTINUOUS_INTEGRATION: 'false', TERM: 'xterm-256color' }, { color: true }),
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
      await new Promise((r) => setTimeout(r, keys === ESC ? 60 : 30));
    },
  };
  running.push(tui);
  return tui;
}

describe('p2tui in a real terminal', () => {
  it('opens, starts a session, shows the delegation and the answer, helps, resizes, and restores the terminal on quit', async () => {
    const tui = start(120, 32);
    await startDemoSession(tui);
    expect(tui.term.buffer.active.type).toBe('alternate');
    // The delegation appears in the frames pane and the stack; the answer in the conversation.
    const done = await tui.waitFor((s) => s.includes('In short:') && s.includes('session finished'));
    expect(done).toMatch(/agent_helper finished/);
    expect(done).toMatch(/#\d+\s+agent_call\s+→ agent_helper/);
    expect(done).toContain('agent_alpha ⇢ delegate to agent_beta');
    await tui.press(ESC); // leave the input
    await tui.waitFor('▌ Conversation');
    await tui.press('?');
    await tui.waitFor('Keys (Esc closes)');
    await tui.press(ESC);
    await tui.waitFor('▌ Conversation');
    tui.pty.resize(80, 24);
    tui.term.resize(80, 24);
    const narrow = await tui.waitFor((s) => /Frames.*│.*Judge/.test(s) && s.split('\n')[1]!.includes('Conversation'));
    expect(narrow.split('\n')[1]).not.toContain('Frames');
    await tui.press('q'); // back to the sessions
    await tui.waitFor(/SESSION\s+STATUS\s+AGENT/);
    await tui.press('q'); // quit
    expect(await tui.exit).toBe(0);
    expect(tui.term.buffer.active.type).toBe('normal');
    // The cursor is shown again.
    expect(tui.raw().lastIndexOf(`${ESC}[?25h`)).toBeGreaterThan(tui.raw().lastIndexOf(`${ESC}[?25l`));
  });

  it('rewinds the demo session by keys in a real terminal: the panes follow the new branch, which runs again', async () => {
    const tui = start(120, 32);
    await startDemoSession(tui);
    await tui.waitFor((s) => s.includes('In short:') && s.includes('session finished'));
    await tui.press(ESC); // leave the input
    await tui.waitFor('▌ Conversation');
    await tui.press('r');
    await tui.waitFor('Rewind agent_alpha');
    // The first step: the user's message. Enter rewinds there.
    await tui.press('g');
    await tui.waitFor(/› #0\s+seq \d+\s+user_message/);
    await tui.press('\r');
    const rewound = await tui.waitFor((s) => s.includes('session paused') && s.includes('rewound to agent_alpha #0'));
    expect(rewound).not.toContain('In short:');
    expect(rewound).toMatch(/branch b_\w+/);
    await tui.press('p'); // continue the new branch
    await tui.waitFor((s) => s.includes('In short:') && s.includes('session finished'));
    await tui.press('b');
    const tree = await tui.waitFor('Branches (* checked out)');
    expect(tree).toMatch(/\* +└ b_\w+\s+rewind to agent_alpha #0/);
    await tui.press(ESC);
    await tui.press('q');
    await tui.waitFor(/SESSION\s+STATUS\s+AGENT/);
    await tui.press('q');
    expect(await tui.exit).toBe(0);
  });

  it('quits with Ctrl-C pressed twice, and only then', async () => {
    const tui = start(100, 30);
    await tui.waitFor('No sessions yet');
    await tui.press('\u0003');
    await tui.waitFor('press Ctrl-C again to quit');
    await tui.press('\u0003');
    expect(await tui.exit).toBe(0);
    expect(tui.term.buffer.active.type).toBe('normal');
  });

  it('leaves the terminal as it was when killed with SIGTERM', async () => {
    const tui = start(100, 30);
    await tui.waitFor('No sessions yet');
    tui.pty.kill('SIGTERM');
    await tui.exit;
    expect(tui.term.buffer.active.type).toBe('normal');
  });
});
