import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { childEnv } from '../helpers/child-env.ts';
import { BIN, cleanupTuis, ESC, requireBuild, ROOT, startTui, type Tui } from '../helpers/pty.ts';

/**
 * The chrome end to end: the built `p2tui` in a real pseudo-terminal, its output fed to a terminal emulator. A
 * rewind past a payment warns that the payment was not undone, and the whole warning is on the screen at 80×24 and
 * 120×40 and 200×60 (it was invisible at 120 columns and cut at 200). The pty driver: test/helpers/pty.ts.
 */
afterEach(cleanupTuis);
beforeAll(requireBuild);

function start(columns: number, rows: number): Tui {
  // Every agent gets its wallet (the treasurer 1000), so the treasurer can pay.
  return startTui(columns, rows, [], {
    setup: (db) => {
      const init = spawnSync(process.execPath, [BIN, 'ledger', 'init', '--workspace', ROOT, '--db', db], {
        encoding: 'utf8',
        env: childEnv(),
      });
      expect(init.status).toBe(0);
    },
  });
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
      await tui.waitFor('No sessions yet');
      await tui.press('n');
      await tui.waitFor('choose an agent');
      // One key at a time (bursts are another test's matter): the fourth agent, the treasurer.
      for (let i = 0; i < 3; i++) await tui.press('j');
      await tui.waitFor(/› treasurer/);
      await tui.press('\r');
      await tui.waitFor('message to treasurer ›');
      await tui.press('transfer 150 to agent_beta');
      await tui.waitFor('to agent_beta');
      await tui.press('\r');
      // The approval question whole above the input, the answer typed below it.
      // The session opened in navigation mode: i opens the input for the answer.
      await tui.waitFor('press i to answer');
      await tui.press('i');
      await tui.waitFor('answer treasurer ›');
      await tui.press('yes');
      const asked = await tui.waitFor('answer treasurer › yes');
      expect(flat(asked)).toContain(
        'treasurer asks: approve transfer_funds? treasurer pays 150 to agent_beta: above the approval threshold of 100',
      );
      await tui.press('\r');
      await tui.waitFor('Paid: paid 150');
      await tui.press(ESC);
      // Esc and the next key apart, as a person types them: written together they are one Alt-r.
      await tui.waitFor(/press i to write a message/);
      await tui.press('r');
      await tui.waitFor('Rewind treasurer');
      await tui.press('g');
      await tui.press('\r');
      const warned = await tui.waitFor((s) => flat(s).includes('(or : in the palette)'));
      expect(flat(warned)).toMatch(
        /rewound to treasurer #0: branch b_\w+ checked out, p continues it; 1 effectful call after that point \(transfer_funds\) not undone; undo it with: p2tui session compensate s_\w+ \S+ \(or : in the palette\)/,
      );
      // The status bar keeps its keys under it.
      expect(warned.split('\n').at(-1)).toContain('? help');
      await tui.press('!');
      const log = await tui.waitFor('Notices (');
      expect(flat(log)).toMatch(/\d\d:\d\d:\d\d warn rewound to treasurer #0/);
      expect(flat(log)).toContain('not undone; undo it with: p2tui session compensate');
    });
  }
});
