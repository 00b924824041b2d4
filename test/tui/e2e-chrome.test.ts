import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type IPty } from '@lydell/node-pty';
import xterm from '@xterm/headless';
import { childEnv } from '../helpers/child-env.ts';

/**
 * The chrome end to end: the built `p2tui` in a real pseudo-terminal, its output fed to a terminal emulator. A
 * rewind past a payment warns that the payment was not undone, and the whole warning is on the screen at 80×24 and
 * 120×40 and 200×60 (it was invisible at 120 columns and cut at 200). The pty driver is the one of test/tui/e2e.test.ts, cut
 * down (at the merge it moves to test/helpers/pty.ts).
 */
const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/p2tui.js');
const ESC = String.fromCharCode(27);

const dirs: string[] = [];
const ptys: IPty[] = [];
afterEach(() => {
  for (const p of ptys.splice(0)) {
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

function start(columns: number, rows: number) {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-e2e-chrome-'));
  dirs.push(dir);
  const db = join(dir, 'p2tui.db');
  // Every agent gets its wallet (the treasurer 1000), so the treasurer can pay.
  const init = spawnSync(process.execPath, [BIN, 'ledger', 'init', '--workspace', ROOT, '--db', db], {
    encoding: 'utf8',
    env: childEnv(),
  });
  expect(init.status).toBe(0);
  const term = new xterm.Terminal({ cols: columns, rows, allowProposedApi: true });
  const pty = spawn(process.execPath, [BIN, '--workspace', ROOT, '--db', db], {
    name: 'xterm-256color',
    cols: columns,
    rows,
    cwd: ROOT,
    env: childEnv({ CI: 'false', CONTINUOUS_INTEGRATION: 'false', TERM: 'xterm-256color' }, { color: true }),
  });
  ptys.push(pty);
  pty.onData((data) => term.write(data));
  const screen = (): string => {
    const buffer = term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < term.rows; i++) lines.push(buffer.getLine(buffer.viewportY + i)?.translateToString(true) ?? '');
    return lines.join('\n');
  };
  return {
    async waitFor(test: (screen: string) => boolean, what: string, timeoutMs = 15_000): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        await new Promise<void>((resolve) => term.write('', resolve));
        const s = screen();
        if (test(s)) return s;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`timed out waiting for ${what}; the screen was:\n${screen()}`);
    },
    async press(keys: string): Promise<void> {
      pty.write(keys);
      await new Promise((r) => setTimeout(r, keys === ESC ? 60 : 30));
    },
  };
}

/** The screen as one line: a wrapped notice reads as its sentence. */
const flat = (screen: string): string => screen.replace(/[\s│]+/g, ' ');

describe('notices in a real terminal', () => {
  for (const [columns, rows] of [
    [80, 24],
    [120, 40],
    [200, 60],
  ] as const) {
    it(`shows the whole warning of a rewind past a payment at ${columns}×${rows}, and lists it under !`, async () => {
      const tui = start(columns, rows);
      await tui.waitFor((s) => s.includes('No sessions yet'), 'the sessions list');
      await tui.press('n');
      await tui.waitFor((s) => s.includes('choose an agent'), 'the agents');
      // One key at a time (bursts are another test's matter): the fourth agent, the treasurer.
      for (let i = 0; i < 3; i++) await tui.press('j');
      await tui.waitFor((s) => /› treasurer/.test(s), 'the treasurer chosen');
      await tui.press('\r');
      await tui.waitFor((s) => s.includes('message to treasurer ›'), 'the input');
      await tui.press('transfer 150 to agent_beta');
      await tui.waitFor((s) => s.includes('to agent_beta'), 'the typed message');
      await tui.press('\r');
      // The approval question whole above the input, the answer typed below it.
      await tui.waitFor((s) => s.includes('answer treasurer ›'), 'the approval');
      await tui.press('yes');
      const asked = await tui.waitFor((s) => s.includes('answer treasurer › yes'), 'the typed answer');
      expect(flat(asked)).toContain(
        'treasurer asks: approve transfer_funds? treasurer pays 150 to agent_beta: above the approval threshold of 100',
      );
      await tui.press('\r');
      await tui.waitFor((s) => s.includes('Paid: paid 150'), 'the payment');
      await tui.press(ESC);
      await tui.press('r');
      await tui.waitFor((s) => s.includes('Rewind treasurer'), 'the rewind list');
      await tui.press('g');
      await tui.press('\r');
      const warned = await tui.waitFor((s) => flat(s).includes('(or : in the palette)'), 'the whole warning');
      expect(flat(warned)).toMatch(
        /rewound to treasurer #0: branch b_\w+ checked out, p continues it; 1 effectful call after that point \(transfer_funds\) not undone; undo it with: p2tui session compensate s_\w+ \S+ \(or : in the palette\)/,
      );
      // The status bar keeps its keys under it.
      expect(warned.split('\n').at(-1)).toContain('? help');
      await tui.press('!');
      const log = await tui.waitFor((s) => s.includes('Notices ('), 'the notification log');
      expect(flat(log)).toMatch(/\d\d:\d\d:\d\d warn rewound to treasurer #0/);
      expect(flat(log)).toContain('not undone; undo it with: p2tui session compensate');
    });
  }
});
