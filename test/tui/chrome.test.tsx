import { afterEach, describe, expect, it } from 'vitest';
import { ScorePolicyRunner } from '../../src/judge/policy-runner.ts';
import { defineScorePolicy } from '../../src/judge/policy.ts';
import { RolloutRunner } from '../../src/rollout/runner.ts';
import { parseRolloutSpec } from '../../src/rollout/spec.ts';
import { COMMANDS, helpSections } from '../../src/tui/keymap/keymap.ts';
import { sessionLayout } from '../../src/tui/layout.ts';
import { KEYS } from './render.ts';
import { closeTuis, onClose, openTui, startSession, type Harness } from './harness.ts';

/**
 * The screen's chrome: notices that are never cut off, the notification log, questions above the input, Esc going
 * back where you came from, the hint bar filling its width, and side panes with room. The TUI over the demo
 * workspace with a fresh database, in a fake terminal of the given size (as test/tui/app.test.tsx does).
 */
afterEach(closeTuis);
const open = (size: { columns: number; rows: number }): Promise<Harness> => openTui(size);

/** A second branch of the open session (a fork at its head, not checked out): a branch is not compared with itself. */
async function secondBranch(h: Harness): Promise<void> {
  await h.app.engine.fork(h.tui.store.get().open!.id, { label: 'copy', createdBy: 'test' });
}

/** The frame's text with its line breaks and runs of spaces as one space (a wrapped notice read as one line). */
const flat = (frame: string): string => frame.replace(/[\s│]+/g, ' ');

/** The open session finished (its status, not a line of a pane that may be scrolled away at 80×24). */
const finished = (h: Harness): Promise<string> => h.screen.waitFor(() => h.tui.store.get().open?.status === 'finished');

const lastLine = (frame: string): string => frame.split('\n').at(-1)!;

/** The treasurer pays 150 (above its approval threshold of 100): asks first, pays once approved. */
async function approvedPayment(h: Harness): Promise<void> {
  await h.app.wallets.createWallet('treasurer', '1000');
  await h.app.wallets.createWallet('agent_beta');
  await startSession(h, 3, 'transfer 150 to agent_beta');
}

describe('notices, questions and the notification log', () => {
  it('shows an approval question whole above the input at 80 columns, with the typed answer visible', async () => {
    const h = await open({ columns: 80, rows: 24 });
    await approvedPayment(h);
    // The session opened in navigation mode: i opens the input for the answer.
    await h.screen.waitFor('press i to answer');
    await h.screen.press('i');
    const asked = await h.screen.waitFor('answer treasurer ›');
    const question =
      'treasurer asks: approve transfer_funds? treasurer pays 150 to agent_beta: above the approval threshold of 100';
    expect(flat(asked)).toContain(question);
    await h.screen.press('yes');
    const typed = h.screen.frame().split('\n');
    // The answer line is just above the status bar, and the question's end just above it.
    expect(typed.at(-2)).toMatch(/^answer treasurer › yes/);
    expect(flat(typed.slice(-6, -2).join('\n'))).toContain('above the approval threshold of 100');
    await h.screen.press(KEYS.enter);
    await h.screen.waitFor('Paid: paid 150');
  });

  for (const size of [
    { columns: 80, rows: 24 },
    { columns: 120, rows: 32 },
  ]) {
    it(`shows the whole warning of a rewind past an effectful call at ${size.columns}×${size.rows}, and ! lists it with its time`, async () => {
      const h = await open(size);
      await approvedPayment(h);
      await h.screen.waitFor('press i to answer');
      await h.screen.press('i', 'yes', KEYS.enter);
      await finished(h);
      // Out of the input the answer was typed in.
      await h.screen.press(KEYS.escape, 'r');
      await h.screen.waitFor('Rewind treasurer');
      await h.screen.press('g', KEYS.enter);
      const frame = await h.screen.waitFor((f) => flat(f).includes('not undone'));
      const notice = h.tui.store.get().notice!.text;
      expect(notice).toMatch(
        /^rewound to treasurer #0: branch b_\w+ checked out, p continues it; 1 effectful call after that point \(transfer_funds\) not undone; undo it with: p2tui session compensate s_\w+ \S+ \(or : in the palette\)$/,
      );
      // Every word of it on the screen, wrapped above the status bar (which keeps its keys).
      expect(flat(frame)).toContain(notice);
      expect(frame.split('\n')).toHaveLength(size.rows);
      expect(lastLine(frame)).toContain('? help');
      // The log keeps it after the next key cleared it, with its time and tone.
      await h.screen.press('!');
      const log = await h.screen.waitFor('Notices (');
      expect(flat(log)).toMatch(/\d\d:\d\d:\d\d warn rewound to treasurer #0: branch b_\w+ checked out/);
      expect(flat(log)).toContain('not undone; undo it with: p2tui session compensate');
      // Newest first: the rewind's warning before the payment's notices.
      const lines = log.split('\n');
      const rewound = lines.findIndex((l) => l.includes('rewound to treasurer'));
      expect(rewound).toBeGreaterThan(0);
      expect(h.tui.store.get().noticeLog.at(-1)!.text).toBe(notice);
      await h.screen.press(KEYS.escape);
      await h.screen.waitFor((f) => !f.includes('Notices (') && f.includes('Conversation'));
    });
  }

  it('says so when a score policy checks out another branch while you watch', async () => {
    const h = await open({ columns: 120, rows: 32 });
    // A policy that retries every scored root conversation once, as policies/ of a workspace would.
    const runner = new ScorePolicyRunner(h.app.engine, [
      defineScorePolicy({
        id: 'retry-once',
        when: (s) => s.evaluator === 'checks' && s.root,
        async act(_s, a) {
          if (a.attempts === 0) await a.retry({ temperature: 0.5 });
        },
      }),
    ]);
    runner.start();
    onClose(() => runner.stop());
    await startSession(h, 1, 'Calculate 3 * 3');
    const frame = await h.screen.waitFor((f) => flat(f).includes('the score policy retry-once checked out branch'));
    expect(flat(frame)).toMatch(
      /the score policy retry-once checked out branch b_\w+ \(score checks 1\.00 on b_\w+\); b lists branches/,
    );
    // The panels follow the policy's branch.
    const head = h.app.engine.store.sessions.get(h.tui.store.get().open!.id)!.headBranch;
    expect(flat(frame)).toContain(`branch ${head.slice(0, 10)}`);
  });

  it('says nothing about a policy when the user checks a branch out', async () => {
    const h = await open({ columns: 120, rows: 32 });
    await startSession(h, 1, 'Calculate 3 * 3');
    await finished(h);
    await h.screen.press('r');
    await h.screen.waitFor('Rewind agent_beta');
    await h.screen.press('g', KEYS.enter);
    await h.screen.waitFor('rewound to agent_beta #0');
    expect(
      h.tui.store
        .get()
        .noticeLog.map((n) => n.text)
        .join('\n'),
    ).not.toContain('score policy');
  });
});

describe('Esc goes back where you came from', () => {
  it('from a comparison to the branch list, and from the fork form to the rewind list', async () => {
    const h = await open({ columns: 120, rows: 32 });
    await startSession(h, 1, 'Calculate 3 * 3');
    await finished(h);
    await secondBranch(h);
    await h.screen.press('b');
    await h.screen.waitFor('Branches (* checked out)');
    await h.screen.press('j', 'd');
    await h.screen.waitFor('side by side (u switches');
    await h.screen.press(KEYS.escape);
    await h.screen.waitFor('Branches (* checked out)');
    await h.screen.press(KEYS.escape);
    await h.screen.waitFor((f) => !f.includes('Branches (') && f.includes('Conversation'));
    await h.screen.press('r');
    await h.screen.waitFor('Rewind agent_beta');
    await h.screen.press('o');
    await h.screen.waitFor('Fork at');
    await h.screen.press(KEYS.escape);
    await h.screen.waitFor('Rewind agent_beta');
    // Help opened over a list goes back to that list.
    await h.screen.press('?');
    const help = await h.screen.waitFor('Keys (Esc closes)');
    expect(help.split('\n')[2]).toContain('Rewinding to a step');
    await h.screen.press(KEYS.escape);
    await h.screen.waitFor('Rewind agent_beta');
  });

  it('from a session opened from a rollout grid back to the grid', async () => {
    const h = await open({ columns: 140, rows: 40 });
    const spec = parseRolloutSpec(
      'teams:\n  c:\n    base: { agent_id: agent_helper }\n    variants: [{ id: cold, temperature: 0 }, { id: hot, temperature: 1.8 }]\n    scenarios: ["What\'s the weather in Paris?"]\njudge: { workspace: false }\n',
      'rollouts/back.yaml',
      h.app.workspace,
    );
    const outcome = await new RolloutRunner(h.app).start(spec);
    await h.screen.press('R');
    await h.screen.waitFor('Rollouts: Enter opens the grid');
    await h.screen.press(KEYS.enter);
    await h.screen.waitFor((f) => f.includes(`Rollout back (${outcome.rollout.id})`) && f.includes('2/2 done'));
    await h.screen.press('j', KEYS.enter);
    await h.screen.waitFor((f) => f.includes('Conversation') && !f.includes('Rollout back'));
    await h.screen.press(KEYS.escape);
    const grid = await h.screen.waitFor(`Rollout back (${outcome.rollout.id})`);
    // Where it was: the second variant under the cursor.
    expect(grid).toMatch(/› c\/hot/);
    await h.screen.press(KEYS.escape);
    await h.screen.waitFor('Rollouts: Enter opens the grid');
  });
});

describe('the hint bar and the panes', () => {
  it('shows the session’s main keys at 120 columns: r, b, A, p, and help last', async () => {
    const h = await open({ columns: 120, rows: 32 });
    await startSession(h, 2, 'What is the weather like?');
    await h.screen.waitFor('press i to answer');
    const bar = lastLine(await h.screen.waitFor((f) => lastLine(f).includes('p pause')));
    for (const hint of ['i write', 'r rewind', 'b branches', 'A compare', 'p pause/resume', 'Tab next pane'])
      expect(bar).toContain(hint);
    expect(bar).toMatch(/\? help +\S/);
  });

  it('shows ! for the notices on the sessions list', async () => {
    const h = await open({ columns: 120, rows: 32 });
    const bar = lastLine(await h.screen.waitFor('No sessions yet'));
    expect(bar).toMatch(/^ n new session {2}R rollouts {2}! notices {2}: palette {2}q quit {2}\? help/);
  });

  it('has hints in the compare view at 80 columns', async () => {
    const h = await open({ columns: 80, rows: 24 });
    await startSession(h, 1, 'Calculate 3 * 3');
    await finished(h);
    await secondBranch(h);
    await h.screen.press('b');
    await h.screen.waitFor('Branches (* checked out)');
    await h.screen.press('j', 'd');
    const frame = await h.screen.waitFor('side by side (u switches');
    const bar = lastLine(frame);
    for (const hint of ['u side/unified', 'Esc back', '? help']) expect(bar).toContain(hint);
  });

  it('binds each key to one command in a session, whatever its state (R was retry and rollouts)', () => {
    const byKey = new Map<string, string[]>();
    for (const c of COMMANDS.filter((x) => x.scope === 'session'))
      for (const key of c.keys) byKey.set(key, [...(byKey.get(key) ?? []), c.id]);
    const twice = [...byKey].filter(([, ids]) => ids.length > 1);
    expect(twice).toEqual([]);
    expect(byKey.get('t')).toEqual(['session-retry']);
    expect(byKey.get('R')).toEqual(['session-rollouts']);
  });

  it('gives the Wallets pane three lines at 80×24, and + makes one side pane tall in turn', async () => {
    for (const conversations of [1, 3, 6]) {
      const layout = sessionLayout(80, 24, conversations);
      expect(layout.panes.wallets.height - 1).toBeGreaterThanOrEqual(3);
      for (const pane of Object.values(layout.panes)) expect(pane.height).toBeGreaterThanOrEqual(3);
    }
    const tall = sessionLayout(80, 24, 2, 'events');
    expect(tall.panes.events.height).toBeGreaterThan(sessionLayout(80, 24, 2).panes.events.height + 3);
    expect(tall.panes.judge.height + tall.panes.wallets.height + tall.panes.events.height).toBe(
      tall.body - tall.panes.conversation.height,
    );
    const wide = sessionLayout(120, 40, 2, 'wallets');
    const { frames, stack, judge, wallets, events } = wide.panes;
    expect(frames.height + stack.height + judge.height + wallets.height + events.height).toBe(wide.body);
    expect(wallets.height).toBeGreaterThan(20);

    const h = await open({ columns: 80, rows: 24 });
    await startSession(h, 1, 'Calculate 3 * 3');
    await finished(h);
    const before = h.screen.frame().split('\n');
    const walletsAt = before.findIndex((l) => l.includes(' Wallets'));
    const eventsAt = before.findIndex((l) => l.includes(' Events'));
    expect(eventsAt - walletsAt).toBeGreaterThanOrEqual(4);
    await h.screen.press('+', '+', '+', '+');
    expect(h.tui.store.get().tallPane).toBe('wallets');
    const after = h.screen.frame().split('\n');
    const conversationAt = after.findIndex((l) => l.includes('Conversation'));
    const tallAt = after.findIndex((l) => l.includes(' Wallets'));
    const nextAt = after.findIndex((l) => l.includes(' Events'));
    expect(conversationAt).toBeGreaterThanOrEqual(0);
    expect(nextAt - tallAt).toBeGreaterThan(eventsAt - walletsAt);
    const session = helpSections(h.tui.store.get()).find((s) => s.title === 'Session')!;
    expect(session.rows).toContainEqual({ keys: '+', title: expect.stringMatching(/^make the next side pane tall/) });
    expect(session.rows).toContainEqual({ keys: 't', title: 'retry what failed' });
    expect(session.rows).toContainEqual({ keys: 'R', title: 'rollouts' });
  });
});
