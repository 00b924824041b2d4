import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type IPty } from '@lydell/node-pty';
import xterm from '@xterm/headless';
import { childEnv } from '../helpers/child-env.ts';

/**
 * Comparing two branches, neither of them checked out, the way a person does it: the built `p2tui` binary in a real
 * pseudo-terminal at 80×24, its output fed to a terminal emulator, keys sent one at a time. (A small pty driver of
 * its own; test/helpers/pty.ts, when it lands, can replace it.)
 */
const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/p2tui.js');
const ESC = String.fromCharCode(27);

interface Terminal {
  readonly pty: IPty;
  readonly exit: Promise<number>;
  waitFor(what: string | RegExp, timeoutMs?: number): Promise<string>;
  press(keys: string): Promise<void>;
}

const running: IPty[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const p of running.splice(0)) {
    try {
      p.kill();
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

function start(columns: number, rows: number): Terminal {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-e2e-compare-'));
  dirs.push(dir);
  const term = new xterm.Terminal({ cols: columns, rows, allowProposedApi: true });
  const pty = spawn(process.execPath, [BIN, '--workspace', ROOT, '--db', join(dir, 'p2tui.db')], {
    name: 'xterm-256color',
    cols: columns,
    rows,
    cwd: ROOT,
    // Ink renders nothing live when it believes it runs in CI.
    env: childEnv({ CI: 'false', CONTINUOUS_INTEGRATION: 'false', TERM: 'xterm-256color' }, { color: true }),
  });
  running.push(pty);
  pty.onData((data) => term.write(data));
  const exit = new Promise<number>((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)));
  const screen = (): string => {
    const buffer = term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < term.rows; i++) lines.push(buffer.getLine(buffer.viewportY + i)?.translateToString(true) ?? '');
    return lines.join('\n');
  };
  return {
    pty,
    exit,
    async waitFor(what, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        await new Promise<void>((resolve) => term.write('', resolve));
        const s = screen();
        if (typeof what === 'string' ? s.includes(what) : what.test(s)) return s;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`timed out waiting for ${String(what)}; the screen was:\n${screen()}`);
    },
    async press(keys) {
      pty.write(keys);
      await new Promise((r) => setTimeout(r, keys === ESC ? 60 : 30));
    },
  };
}

/** Rewinds the open session to its first step (r, g, Enter): a new branch, checked out and paused. */
async function rewindToStart(tui: Terminal): Promise<void> {
  await tui.press('r');
  await tui.waitFor('Rewind agent_beta');
  await tui.press('g');
  await tui.press('\r');
  await tui.waitFor(/agent_beta paused +branch/);
}

describe('comparing branches in a real terminal', () => {
  it('m marks a branch, d compares it with the one under the cursor, neither checked out; d on itself is refused', async () => {
    const tui = start(80, 24);
    await tui.waitFor('No sessions yet');
    await tui.press('n');
    await tui.waitFor('choose an agent');
    await tui.press('j');
    await tui.press('\r');
    await tui.waitFor('message to agent_beta');
    await tui.press('Calculate 3 * 3');
    await tui.waitFor('Calculate 3 * 3');
    await tui.press('\r');
    await tui.waitFor(/agent_beta finished +branch/);
    await tui.press(ESC); // leave the input
    // main, a rewound branch run again, and a second rewind left paused (the checked-out one).
    await rewindToStart(tui);
    await tui.press('p');
    await tui.waitFor(/agent_beta finished +branch/);
    await rewindToStart(tui);
    await tui.press('b');
    const tree = await tui.waitFor('Branches');
    // In the tree's order (the header's branch left out).
    const ids = [
      ...tree
        .split('\n')
        .slice(2)
        .join('\n')
        .matchAll(/b_[0-9a-z]{8}/g),
    ].map((m) => m[0]);
    const [main, rerun, paused] = [...new Set(ids)];
    expect(tree).toMatch(new RegExp(`\\*\\s+└ ${paused!}`));
    // d on the main branch with main marked: the same branch, refused.
    await tui.press('m');
    await tui.waitFor(`marked ● ${main!}`);
    await tui.press('d');
    // (At 80 columns the status bar has room for the start of the notice.)
    await tui.waitFor(`${main!} is the sam`);
    // The rerun under the cursor: main → rerun, neither of them the checked-out one.
    await tui.press('j');
    await tui.press('d');
    const diff = await tui.waitFor(`Compare ${main!} → ${rerun!}`);
    expect(diff).not.toContain('(checked out)');
    expect(diff).toContain('no differences in the steps');
    // Esc goes back to the branch list, Esc again to the session; q leaves it, q quits.
    await tui.press(ESC);
    await tui.waitFor(`marked ● ${main!}`);
    await tui.press(ESC);
    await tui.waitFor(/press i \(or Enter\) to write/);
    await tui.press('q');
    await tui.waitFor(/SESSION\s+STATUS\s+AGENT/);
    await tui.press('q');
    expect(await tui.exit).toBe(0);
  });
});
