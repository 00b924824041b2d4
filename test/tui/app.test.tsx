import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../../src/app/app.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { RolloutRunner } from '../../src/rollout/runner.ts';
import { parseRolloutSpec } from '../../src/rollout/spec.ts';
import { KEYS } from './render.ts';
import { closeTuis, onClose, openTui, ROOT, startSession, runToGrid, type Harness } from './harness.ts';
import type { Engine } from '../../src/engine/engine.ts';
import type { CompleteOptions, ModelProvider, ModelRequest, ModelResponse } from '../../src/models/provider.ts';

/** A model that streams its reply a word at a time, slowly enough to see it arrive. */
class DripProvider implements ModelProvider {
  readonly id = 'drip';
  readonly simulated = true;
  async complete(_request: ModelRequest, options: CompleteOptions): Promise<ModelResponse> {
    const words = 'the reply arrives one word at a time while you watch'.split(' ');
    for (const word of words) {
      options.onDelta?.({ text: `${word} ` });
      await new Promise((r) => setTimeout(r, 60));
    }
    return {
      text: words.join(' '),
      toolCalls: [],
      usage: { inputTokens: 10, outputTokens: 10, estimated: true },
      finishReason: 'stop',
    };
  }
}

afterEach(closeTuis);
const open = openTui;

const DEMO = "What's the weather in Paris and who leads the Premier League?";

/** The TUI at 120×32 on a fresh database, and another engine on the same database: it stands for another p2tui process. */
async function openBesideAnotherProcess(): Promise<{ h: Harness; other: Engine }> {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-tui-'));
  onClose(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'p2tui.db');
  const h = await open({ columns: 120, rows: 32 }, { db });
  const otherApp = new App({ workspace: await loadWorkspace(ROOT, { db }) });
  onClose(() => otherApp.close());
  return { h, other: otherApp.engine };
}
/** An SGR foreground colour code (red … white). */
const COLOUR_CODE = new RegExp(`${String.fromCharCode(27)}\\[3[1-7]m`);

describe('the TUI', () => {
  it('opens on the sessions list with the keys that work there', async () => {
    const h = await open();
    const frame = await h.screen.waitFor('No sessions yet');
    expect(frame).toContain('n new session');
    expect(frame).toContain('? help');
    expect(frame).toContain('scripted/default (simulated)');
    expect(frame.split('\n')).toHaveLength(32);
  });

  it('starts a session with a chosen agent and shows delegation, the stack and the answer as they happen', async () => {
    const h = await open();
    await h.screen.waitFor('No sessions yet');
    await startSession(h, 0, DEMO);
    await h.screen.waitFor('In short:');
    const frame = await h.screen.waitFor('session finished');
    expect(frame).toContain('you What');
    expect(frame).toContain('agent_alpha ⇢ delegate to agent_helper');
    // Delegated conversations are indented under their caller.
    expect(frame).toMatch(/\n {2}agent_helper → get_weather/);
    expect(frame).toMatch(/agent_helper finished/);
    expect(frame).toMatch(/#\d+\s+agent_call\s+→ agent_helper/);
    expect(frame).toContain('session finished');
    expect(frame).toMatch(/6 steps · 1\.1k tok · \$0\.0002\d sim/);
  });

  it('moves focus with Tab and the number keys, and shows which pane has it', async () => {
    const h = await open();
    await startSession(h, 1, 'Calculate 6 * 7');
    await h.screen.waitFor('6 * 7 = 42.');
    // A session opens in navigation mode: the pane has the focus, keys are commands.
    expect(h.screen.frame()).toContain('▌ Conversation');
    // The status bar keeps `? help` even when the pane's own keys fill it.
    expect(h.screen.frame().split('\n').at(-1)).toMatch(/Tab next pane .*\? help/);
    await h.screen.press(KEYS.tab);
    expect(h.screen.frame()).toContain('▌ Frames');
    await h.screen.press('6');
    expect(h.screen.frame()).toContain('▌ Events');
    await h.screen.press(KEYS.shiftTab);
    expect(h.screen.frame()).toContain('▌ Wallets');
    await h.screen.press(KEYS.shiftTab);
    expect(h.screen.frame()).toContain('▌ Judge');
    await h.screen.press(KEYS.shiftTab);
    expect(h.screen.frame()).toContain('▌ Stack');
    expect(h.tui.store.get().focus).toBe('stack');
  });

  it('shows the judge’s scores live in the Judge pane, with each criterion and reason on c', async () => {
    const h = await open({ columns: 120, rows: 40 });
    await startSession(h, 1, 'Calculate 6 * 7');
    await h.screen.waitFor('6 * 7 = 42.');
    // The demo workspace's evaluators score the finished conversation after it answered.
    const scored = await h.screen.waitFor(
      (f) => /quality\s+0\.\d\d .*agent_beta · scripted/.test(f) && /checks\s+1\.00/.test(f),
    );
    expect(scored).toMatch(/grounded\s+\d\.\d\d/);
    await h.screen.press('4');
    expect(h.screen.frame()).toContain('▌ Judge');
    await h.screen.press('c');
    const detail = await h.screen.waitFor((f) => f.includes('relevance') && f.includes('(scripted judge)'));
    expect(detail).toMatch(/correctness \d\.\d\d/);
  });

  it('shows the wallets of the session’s agents in the Wallets pane, following payments as they commit', async () => {
    const h = await open({ columns: 140, rows: 90 });
    const wallets = h.app.wallets;
    await wallets.createWallet('treasurer', '1000');
    await wallets.createWallet('agent_beta');
    await startSession(h, 3, 'transfer 12.5 to agent_beta');
    await h.screen.waitFor('Paid: paid 12.5');
    await h.screen.waitFor((f) => /Wallets[\s\S]*treasurer\s+987\.5/.test(f));
    // A payment from another terminal (here: straight on the ledger) shows within a second.
    await wallets.transfer({
      from: 'treasurer',
      to: 'agent_beta',
      amount: '7.5',
      reason: 'cli',
      reference: 'outside-1',
    });
    await h.screen.waitFor((f) => /treasurer\s+980\b/.test(f));
    // The latest payments, and the chain's state on top.
    const shown = await h.screen.waitFor((f) => /treasurer → agent_beta 7\.5\s+cli/.test(f));
    expect(shown).toMatch(/chain ok · new links checked \(v: all\) · \d+ updates/);
    // a: the audit trail, newest link first (each link names the hash before it); v: every link verified again.
    await h.screen.press('5', 'a');
    await h.screen.waitFor(
      (f) => f.includes('Wallets · audit trail') && /[0-9a-f]{12} ← [0-9a-f]{8} \d\d:\d\d:\d\d xfer:outside-1:/.test(f),
    );
    await h.screen.press('v');
    await h.screen.waitFor('every link verified');
  });

  it('asks for approval of a payment above the treasurer’s threshold in the input bar, and pays once approved', async () => {
    const h = await open({ columns: 200, rows: 40 });
    const wallets = h.app.wallets;
    await wallets.createWallet('treasurer', '1000');
    await wallets.createWallet('agent_beta');
    await startSession(h, 3, 'transfer 150 to agent_beta');
    await h.screen.waitFor(
      'treasurer asks: approve transfer_funds? treasurer pays 150 to agent_beta: above the approval threshold of 100',
    );
    expect((await wallets.balance('agent_beta')).balance).toBe('0');
    // The session opened in navigation mode: i opens the input for the answer.
    await h.screen.press('i', 'yes', KEYS.enter);
    await h.screen.waitFor('Paid: paid 150');
    expect((await wallets.balance('agent_beta')).balance).toBe('150');
  });

  it('shows a rollout as a live grid: variants by scenarios with scores and statuses, mean ± CI, sortable, Enter opens a cell’s session', async () => {
    const h = await open({ columns: 140, rows: 40 });
    const spec = parseRolloutSpec(
      'teams:\n  c:\n    base: { agent_id: agent_helper }\n    variants: [{ id: cold, temperature: 0 }, { id: hot, temperature: 1.8 }]\n    scenarios: ["What\'s the weather in Paris?", "What\'s the weather in Oslo?"]\n    eval: { evaluator_id: gpt4_judge, metric: score, rubric: helpfulness }\nrepeats: 3\njudge: { workspace: false }\n',
      'rollouts/grid.yaml',
      h.app.workspace,
    );
    const outcome = await new RolloutRunner(h.app).start(spec);
    // Every cell is a session; the list hides them behind one line until C shows them.
    await h.screen.waitFor('12 rollout cell sessions hidden (C shows them; R lists the rollouts)');
    await h.screen.press('C');
    await h.screen.waitFor('grid · c/cold/s1 · seed 1');
    await h.screen.press('R');
    await h.screen.waitFor('Rollouts: Enter opens the grid');
    await h.screen.press(KEYS.enter);
    const grid = await h.screen.waitFor(
      (f) => f.includes(`Rollout grid (${outcome.rollout.id})`) && f.includes('12/12 done'),
    );
    expect(grid).toMatch(/› c\/cold\s+\d\.\d\d ●●●\s+\d\.\d\d ●●●\s+\d\.\d\d ± \d\.\d\d \(n=6\)/);
    expect(grid).toMatch(/ c\/hot\s+\d\.\d\d ●●●/);
    expect(grid).toContain('metric score (m) · columns: scenarios (c) · spec order (s)');
    await h.screen.press('s');
    await h.screen.waitFor('best first (s)');
    await h.screen.press('c');
    await h.screen.waitFor('columns: metrics (c)');
    await h.screen.press(KEYS.enter);
    // The session of that cell, with its conversation.
    await h.screen.waitFor(
      (f) => f.includes('agent_helper') && f.includes('Conversation') && !f.includes('Rollout grid'),
    );
  });

  it('keeps the grid following a running rollout while help is open over it, and after Esc', async () => {
    const h = await open({ columns: 120, rows: 30 });
    const spec = parseRolloutSpec(
      'teams:\n  c:\n    base: { agent_id: agent_helper, model: scripted/slow }\n    variants: [{ id: one }]\n    scenarios: ["What\'s the weather in Paris?", "What\'s the weather in Oslo?"]\nconcurrency: 1\njudge: { workspace: false }\n',
      'rollouts/live-grid.yaml',
      h.app.workspace,
    );
    const runner = new RolloutRunner(h.app);
    const started = runner.start(spec);
    await h.screen.press('R');
    await h.screen.waitFor('Rollouts: Enter opens the grid');
    await h.screen.waitFor('live-grid');
    await h.screen.press(KEYS.enter);
    await h.screen.waitFor((f) => f.includes('Rollout live-grid') && !f.includes('2/2 done'));
    await h.screen.press('?');
    await h.screen.waitFor('Keys (Esc closes)');
    await started;
    await h.screen.press(KEYS.escape);
    const grid = await h.screen.waitFor((f) => f.includes('Rollout live-grid') && f.includes('2/2 done'));
    expect(grid).not.toContain('Keys (Esc closes)');
  });

  it('marks the grid rows whose cells ran under a dry-run policy, next to the variant', async () => {
    const h = await open({ columns: 120, rows: 30 });
    const { grid } = await runToGrid(
      h,
      'effects-grid',
      'teams:\n  c:\n    base: { agent_id: agent_helper }\n    variants: [{ id: real }, { id: dry, effects: dry-run }]\n    scenarios: ["What\'s the weather in Paris?"]\njudge: { workspace: false }\n',
      (f) => f.includes('2/2 done'),
    );
    expect(grid).toMatch(/ c\/dry \[dry-run\]/);
    expect(grid).toMatch(/› c\/real\s/);
    expect(grid).not.toContain('c/real [');
  });

  it('answers an agent question in place', async () => {
    const h = await open();
    await startSession(h, 2, 'What is the weather like?');
    // The session opened in navigation mode: the question shows, i opens the input to answer it.
    await h.screen.waitFor('agent_helper asks: Which location should I use for get weather?');
    await h.screen.press('i');
    await h.screen.waitFor('answer agent_helper ›');
    await h.screen.press('Oslo', KEYS.enter);
    const frame = await h.screen.waitFor('Oslo: 4 °C, snow showers.');
    expect(frame).toContain('← answer: Oslo');
  });

  it('shows help built from the key registry, and closes it with Esc', async () => {
    const h = await open();
    await h.screen.waitFor('No sessions yet');
    await h.screen.press('?');
    const frame = await h.screen.waitFor('Keys (Esc closes)');
    expect(frame).toContain('Sessions list');
    expect(frame).toMatch(/n\s+new session/);
    await h.screen.press(KEYS.escape);
    await h.screen.waitFor('No sessions yet');
  });

  it('runs the CLI commands in the : palette, with completion', async () => {
    const h = await open();
    await h.screen.waitFor('No sessions yet');
    await h.screen.press(':');
    await h.screen.waitFor('Command palette');
    await h.screen.press('agents l', KEYS.tab);
    expect(h.screen.frame()).toContain(': agents list');
    await h.screen.press(KEYS.enter);
    // A wide table is cut at the edge, not wrapped: Ctrl-F scrolls it sideways to its last column.
    const frame = await h.screen.waitFor('C-f/C-b scroll sideways');
    expect(frame).toMatch(/agent_alpha\s+scripted\/default/);
    await h.screen.press('\u0006', '\u0006', '\u0006');
    await h.screen.waitFor('DELEGATES TO');
    await h.screen.press(KEYS.escape);
    await h.screen.waitFor('No sessions yet');
  });

  it('rollout start --rerun in the palette says the TUI is open already (R shows the grid), and runs the rollout', async () => {
    const h = await open();
    await h.screen.waitFor('No sessions yet');
    await h.screen.press(':');
    await h.screen.waitFor('Command palette');
    await h.screen.press('rollout start rollouts/demo_rollout.yaml --rerun', KEYS.enter);
    const frame = await h.screen.waitFor('Teams');
    expect(frame).toContain('--rerun: this is the TUI already; the rollout runs, and R shows its grid.');
    expect(frame).not.toContain('not a terminal');
    await h.screen.press(KEYS.escape);
  });

  it('handles several keys that arrive in one chunk, each of them', async () => {
    const h = await open();
    for (let i = 0; i < 4; i++) {
      const runtime = h.engine.start({
        agent: 'agent_beta',
        message: `Calculate ${i} + 1`,
        source: 'api',
        options: h.engine.sessionOptions({ temperature: 0 }),
      });
      await runtime.idle();
    }
    h.tui.bridge.refreshSessions();
    await h.screen.waitFor(/Calculate 0 \+ 1/);
    await h.screen.press('jjj');
    expect(h.tui.store.get().sessionsCursor).toBe(3);
  });

  it('follows a session another process drives, live, and lists it as driven elsewhere', async () => {
    const { h, other } = await openBesideAnotherProcess();
    const runtime = other.start({
      agent: 'agent_alpha',
      message: DEMO,
      source: 'run',
      options: other.sessionOptions({ model: 'scripted/slow', temperature: 0 }),
    });
    await h.screen.waitFor(runtime.id);
    await h.screen.press(KEYS.enter);
    await h.screen.waitFor('driven by another process');
    const frame = await h.screen.waitFor('In short:', 8000);
    expect(frame).toContain('agent_alpha ⇠ agent_beta: Manchester City leads the Premier League.');
  });

  it('sends a message to a session another process drives through that process, and keeps it while that one works', async () => {
    const { h, other } = await openBesideAnotherProcess();
    const runtime = other.start({
      agent: 'agent_beta',
      message: 'Calculate 2 + 2',
      source: 'run',
      options: other.sessionOptions({ model: 'scripted/slow', temperature: 0 }),
    });
    await h.screen.waitFor(runtime.id);
    await h.screen.press(KEYS.enter);
    await h.screen.waitFor('driven by another process');
    // While the other process works, the message cannot be taken: it stays in the input, with the reason.
    await h.screen.press('i', 'Calculate 3 * 3', KEYS.enter);
    let frame = await h.screen.waitFor('not sent: the session is running in another process');
    expect(frame).toContain('› Calculate 3 * 3');
    await h.screen.waitFor('2 + 2 = 4.', 8000);
    await h.screen.waitFor((f) => f.split('\n')[0]!.includes('finished'), 8000);
    // Finished: the same Enter sends it through the process that drives the session, which answers.
    await h.screen.press(KEYS.enter);
    await h.screen.waitFor(`sent the message through the process driving ${runtime.id}`);
    frame = await h.screen.waitFor('3 * 3 = 9.', 8000);
    expect(frame).toContain('you Calculate 3 * 3');
    expect(h.tui.store.get().input.text).toBe('');
  });

  it('selects a row of a list overlay with a click: the third agent, then Enter', async () => {
    const h = await open({ columns: 100, rows: 30 });
    await h.screen.waitFor('No sessions yet');
    await h.screen.press('n');
    const list = (await h.screen.waitFor('choose an agent')).split('\n');
    const third = h.tui.store.get().workspace.agents[2]!.id;
    const row = list.findIndex((l) => l.includes(` ${third} `));
    expect(row).toBe(4);
    await h.screen.press(`\u001b[<0;5;${row + 1}M\u001b[<0;5;${row + 1}m`, KEYS.enter);
    await h.screen.waitFor(`message to ${third} ›`);
  });

  it('selects a session of the list with a click, and moves along it with the wheel', async () => {
    const h = await open({ columns: 100, rows: 30 });
    for (const sum of ['2 + 2', '3 * 3']) {
      await startSession(h, 1, `Calculate ${sum}`);
      await h.screen.waitFor(`${sum} = `);
      await h.screen.press(KEYS.escape);
      await h.screen.waitFor(/SESSION\s+STATUS\s+AGENT/);
    }
    const click = (row: number): string => `\u001b[<0;5;${row + 1}M\u001b[<0;5;${row + 1}m`;
    const rows = h.screen.frame().split('\n');
    const second = rows.findIndex((l, i) => i > 2 && /^\s*s_\w+/.test(l));
    await h.screen.press(KEYS.up, KEYS.up);
    expect(h.tui.store.get().sessionsCursor).toBe(0);
    await h.screen.press(click(second));
    expect(h.tui.store.get().sessionsCursor).toBe(1);
    await h.screen.press('\u001b[<64;5;4M');
    expect(h.tui.store.get().sessionsCursor).toBe(0);
    await h.screen.press('\u001b[<65;5;4M');
    expect(h.tui.store.get().sessionsCursor).toBe(1);
  });

  it('re-lays out on resize, from wide to the 80×24 minimum and below', async () => {
    const h = await open({ columns: 120, rows: 32 });
    await startSession(h, 1, 'Calculate 2 + 2');
    await h.screen.waitFor('2 + 2 = 4.');
    const wide = h.screen.frame().split('\n');
    expect(wide[1]).toMatch(/Conversation.*│.*Frames/);
    await h.screen.resize(80, 24);
    const narrow = await h.screen.waitFor((f) => f.split('\n').length === 24);
    expect(narrow.split('\n')[1]).toMatch(/Conversation/);
    expect(narrow.split('\n')[1]).not.toContain('Frames');
    expect(narrow).toMatch(/Frames.*│.*Judge/);
    expect(narrow).toMatch(/│.*Events/);
    await h.screen.resize(60, 20);
    await h.screen.waitFor('needs a terminal of at least 80×24; this one is 60×20');
  });

  it('without colour (NO_COLOR) draws no colour codes, but keeps the focus marker', async () => {
    const h = await open({ columns: 100, rows: 30 }, { color: false });
    await startSession(h, 1, 'Calculate 1 + 1');
    await h.screen.waitFor('1 + 1 = 2.');
    expect(h.screen.rawFrame()).not.toMatch(COLOUR_CODE);
    const colored = await open({ columns: 100, rows: 30 }, { color: true });
    await startSession(colored, 1, 'Calculate 1 + 1');
    await colored.screen.waitFor('1 + 1 = 2.');
    expect(colored.screen.rawFrame()).toMatch(COLOUR_CODE);
  });

  it('shows a reply while it streams, then the committed message in its place', async () => {
    const h = await open({ columns: 120, rows: 32 }, { providers: [new DripProvider()] });
    await h.screen.waitFor('No sessions yet');
    const runtime = h.engine.start({
      agent: 'agent_beta',
      message: 'tell me',
      source: 'api',
      options: h.engine.sessionOptions({ model: 'drip/x' }),
    });
    h.tui.bridge.open(runtime.id);
    const partial = await h.screen.waitFor(/agent_beta the reply arrives .*▍/);
    expect(partial).not.toContain('while you watch');
    // The header says finished; the committed text has replaced the streaming one.
    const done = await h.screen.waitFor((f) => f.split('\n')[0]!.includes('finished') && f.includes('while you watch'));
    expect(done).toContain('agent_beta the reply arrives one word at a time while you watch');
    expect(done).not.toContain('▍');
  });

  it('shows a dry-run session’s payment as simulated, and the real wallets do not move', async () => {
    const h = await open({ columns: 160, rows: 32 });
    await h.app.wallets.createWallet('treasurer', '1000');
    await h.app.wallets.createWallet('agent_beta');
    const runtime = h.engine.start({
      agent: 'treasurer',
      message: 'transfer 50 to agent_beta',
      source: 'api',
      options: h.engine.sessionOptions({ effects: 'dry-run' }),
    });
    h.tui.bridge.open(runtime.id);
    const frame = await h.screen.waitFor('← transfer_funds (ok, simulated');
    expect(frame).toContain('effects dry-run');
    expect((await h.app.wallets.balance('agent_beta')).balance).toBe('0');
    expect((await h.app.wallets.balance('treasurer')).balance).toBe('1000');
  });

  it('cancels the open session after a confirmation', async () => {
    const h = await open();
    await h.screen.waitFor('No sessions yet');
    const runtime = h.engine.start({
      agent: 'agent_alpha',
      message: DEMO,
      source: 'api',
      options: h.engine.sessionOptions({ model: 'scripted/slow' }),
    });
    h.tui.bridge.open(runtime.id);
    await h.screen.waitFor('delegate to');
    await h.screen.press('c');
    await h.screen.waitFor('Cancel session');
    await h.screen.press('y');
    const frame = await h.screen.waitFor('session cancelled');
    expect(frame).toContain('E_CANCELLED');
  });

  it('quits on a second Ctrl-C, and says so after the first', async () => {
    const h = await open();
    await h.screen.waitFor('No sessions yet');
    await h.screen.press(KEYS.ctrlC);
    expect(h.screen.frame()).toContain('press Ctrl-C again to quit');
    expect(h.quits).toBe(0);
    await h.screen.press(KEYS.ctrlC);
    expect(h.quits).toBe(1);
  });

  it('goes back to the sessions with Esc and reopens a session with Enter', async () => {
    const h = await open();
    await startSession(h, 1, 'Calculate 3 * 3');
    await h.screen.waitFor('3 * 3 = 9.');
    await h.screen.press(KEYS.escape);
    await h.screen.waitFor(/SESSION\s+STATUS\s+AGENT/);
    expect(h.screen.frame()).toMatch(/finished\s+agent_beta\s+here/);
    await h.screen.press(KEYS.enter);
    await h.screen.waitFor('3 * 3 = 9.');
  });

  it('rewinds to a step by keys: the panels follow the new branch, p continues it, and b switches back', async () => {
    const h = await open();
    await startSession(h, 1, 'Calculate 3 * 3');
    await h.screen.waitFor('3 * 3 = 9.');
    await h.screen.waitFor('session finished');
    await h.screen.press('r');
    let frame = await h.screen.waitFor('Rewind agent_beta');
    expect(frame).toMatch(/#0\s+seq \d+\s+user_message\s+Calculate 3 \* 3/);
    // Up to the first step, then rewind there.
    await h.screen.press('g', KEYS.enter);
    await h.screen.waitFor('rewound to agent_beta #0');
    await h.screen.waitFor('session paused');
    expect(h.screen.frame()).not.toContain('3 * 3 = 9.');
    // Continue the new branch: it answers again.
    await h.screen.press('p');
    await h.screen.waitFor('3 * 3 = 9.');
    await h.screen.waitFor('session finished');
    // Two branches; check the first out again.
    await h.screen.press('b');
    frame = await h.screen.waitFor('Branches (* checked out)');
    expect(frame).toMatch(/b_\w+\s+main\s+root/);
    expect(frame).toMatch(/\* +└ b_\w+\s+rewind to agent_beta #0\s+forked at seq \d+/);
    // Compare main with the checked-out branch: the re-run reproduced it step for step.
    await h.screen.press('d');
    frame = await h.screen.waitFor('side by side (u switches');
    expect(frame).toContain('no differences in the steps');
    await h.screen.press('u');
    await h.screen.waitFor('unified (u switches');
    // Esc goes back where the comparison was opened from: the branch list.
    await h.screen.press(KEYS.escape);
    await h.screen.waitFor('Branches (* checked out)');
    await h.screen.press(KEYS.enter);
    await h.screen.waitFor(/checked out b_\w+ \(main\); session finished/);
  });

  it('compares two results of the session side by side (A, m, d)', async () => {
    const h = await open();
    await startSession(h, 1, 'Calculate 3 * 3');
    await h.screen.waitFor('session finished');
    await h.screen.press('A');
    let frame = await h.screen.waitFor('Artifacts and results');
    expect(frame).toMatch(/agent_beta tool_result/);
    expect(frame).toMatch(/agent_beta assistant_message/);
    await h.screen.press('m', 'j', 'd');
    frame = await h.screen.waitFor('side by side (u switches');
    expect(frame).toContain('they diverge in content');
    expect(frame).toMatch(/3 \* 3 = 9\.?/);
  });

  it('forks at a step with another temperature and system prompt from a small form (r, o)', async () => {
    const h = await open();
    await startSession(h, 1, 'Calculate 3 * 3');
    await h.screen.waitFor('session finished');
    await h.screen.press('r');
    await h.screen.waitFor('Rewind agent_beta');
    await h.screen.press('g', 'o');
    let frame = await h.screen.waitFor('Fork with other settings');
    // The form starts on the step's agent; ← makes the settings every agent's.
    expect(frame).toMatch(/› applies to\s+‹ agent_beta ›/);
    await h.screen.press(KEYS.left);
    await h.screen.waitFor('‹ every agent ›');
    // temperature 0.9 for every agent; then the system prompt for agent_beta alone; label: hot.
    await h.screen.press(KEYS.tab, KEYS.tab, '0.9', KEYS.shiftTab, KEYS.shiftTab, KEYS.right);
    await h.screen.waitFor('‹ agent_beta ›');
    await h.screen.press(KEYS.tab, KEYS.tab, KEYS.tab, 'You are {{id}}, brief.', KEYS.tab, KEYS.tab, KEYS.tab, 'hot');
    frame = await h.screen.waitFor(/label\s+hot/);
    // agent_beta's row shows every agent's temperature beside its own (none).
    expect(frame).toMatch(/temperature\s+—\s+also every agent 0\.9/);
    expect(frame).toContain('This fork: every agent: temperature 0.9 · agent_beta: system prompt');
    await h.screen.press(KEYS.enter);
    frame = await h.screen.waitFor('forked at agent_beta #0 with every agent: temperature 0.9');
    expect(h.tui.store.get().notice?.text).toMatch(
      /^forked at agent_beta #0 with every agent: temperature 0\.9 · agent_beta: system prompt: branch b_\w+ checked out/,
    );
    const session = h.engine.store.sessions.resolve('last');
    // The header follows the checked-out branch.
    expect(frame.split('\n')[0]).toContain(`branch ${session.headBranch}`);
    const branch = h.engine.store.sessions.branch(session.headBranch)!;
    expect(branch).toMatchObject({
      label: 'hot',
      overrides: { temperature: 0.9, personas: { agent_beta: { system: 'You are {{id}}, brief.' } } },
    });
  });

  it('forks with a temperature for one agent only: the writer’s changes, the lead’s does not (r, o, →)', async () => {
    const h = await open();
    await startSession(h, 0, DEMO);
    await h.screen.waitFor('session finished');
    // The lead's conversation is selected: rewind to its first step and open the form there.
    await h.screen.press('r');
    await h.screen.waitFor('Rewind agent_alpha');
    await h.screen.press('g', 'o');
    let frame = await h.screen.waitFor('‹ agent_alpha ›');
    // Every agent, then the session's agents, then the workspace's other personas.
    expect(frame).toMatch(/every agent[\s·]+agent_alpha[\s·]+agent_helper[\s·]+agent_beta[\s·]+treasurer/);
    for (let i = 0; i < 4 && !h.screen.frame().includes('‹ agent_beta ›'); i++) await h.screen.press(KEYS.right);
    await h.screen.waitFor('‹ agent_beta ›');
    await h.screen.press(KEYS.tab, KEYS.tab, 'hot');
    await h.screen.waitFor('temperature for agent_beta: 0 to 2');
    // A value that is no temperature keeps the form open, with what was typed and the reason.
    await h.screen.press(KEYS.enter);
    frame = await h.screen.waitFor("E_USAGE: temperature for agent_beta: 'hot'");
    expect(h.tui.store.get().notice?.text).toContain("temperature for agent_beta: 'hot' is not a number from 0 to 2");
    expect(frame).toContain('Fork with other settings');
    await h.screen.press(KEYS.backspace, KEYS.backspace, KEYS.backspace, '0.9');
    await h.screen.waitFor('This fork: agent_beta: temperature 0.9');
    const before = h.engine.store.sessions.resolve('last').headBranch;
    await h.screen.press(KEYS.enter);
    await h.screen.waitFor('forked at agent_alpha #0 with agent_beta: temperature 0.9');
    const session = h.engine.store.sessions.resolve('last');
    expect(session.headBranch).not.toBe(before);
    // Only agent_beta's temperature is written: no every-agent temperature, nothing for the lead.
    expect(h.engine.store.sessions.branch(session.headBranch)!.overrides).toEqual({
      personas: { agent_beta: { temperature: 0.9 } },
    });
    // The branch tree says whose setting the fork changed.
    await h.screen.press('b');
    frame = await h.screen.waitFor('Branches (* checked out)');
    expect(frame).toMatch(/\* +└ b_\w+\s+fork at agent_alpha #0.*\n\s+agent_beta: temperature 0\.9\s*\n/);
  });

  it('forks with effects dry-run from the form, and the branch tree marks it (r, o)', async () => {
    const h = await open();
    await startSession(h, 1, 'Calculate 3 * 3');
    await h.screen.waitFor('session finished');
    await h.screen.press('r');
    await h.screen.waitFor('Rewind agent_beta');
    await h.screen.press('g', 'o');
    await h.screen.waitFor(/effects\s+‹ live ›\s+the session’s policy/);
    await h.screen.press(KEYS.shiftTab, KEYS.shiftTab);
    let frame = await h.screen.waitFor(/› effects\s+‹ live ›/);
    expect(frame).toContain('live runs them, dry-run does not run them');
    await h.screen.press(KEYS.right);
    frame = await h.screen.waitFor('‹ dry-run ›');
    expect(frame).toContain('This fork: effects dry-run');
    await h.screen.press(KEYS.enter);
    frame = await h.screen.waitFor('with effects dry-run: branch');
    // The header says the checked-out branch does not run effectful calls.
    expect(frame.split('\n')[0]).toMatch(/branch b_\w+ effects dry-run/);
    const session = h.engine.store.sessions.resolve('last');
    expect(h.engine.store.sessions.branch(session.headBranch)!.overrides).toEqual({ effects: 'dry-run' });
    await h.screen.press('b');
    frame = await h.screen.waitFor('Branches (* checked out)');
    const lines = frame.split('\n');
    const forked = lines.findIndex((l) => /\* +└ b_\w+\s+fork at agent_beta #0/.test(l));
    expect(forked).toBeGreaterThan(0);
    expect(lines[forked + 1]).toMatch(/^\s+effects dry-run\s*$/);
    // The root branch runs live: no mark under it.
    expect(frame).not.toMatch(/root · \d+ entries\s*\n\s+effects/);
  });

  it('fits the fork form in 80×24 with every field and its keys visible', async () => {
    const h = await open({ columns: 80, rows: 24 });
    await startSession(h, 1, 'Calculate 3 * 3');
    await h.screen.waitFor('finished (2 steps)');
    await h.screen.press('r');
    await h.screen.waitFor('Rewind agent_beta');
    await h.screen.press('g', 'o');
    const frame = await h.screen.waitFor('Esc cancel');
    const lines = frame.split('\n');
    expect(lines).toHaveLength(24);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80);
    for (const field of ['applies to', 'model', 'temperature', 'system prompt', 'tools', 'effects', 'label'])
      expect(frame).toMatch(new RegExp(`^. {1,3}${field} `, 'm'));
    expect(frame).toContain('‹ agent_beta ›');
    expect(frame).toContain('Tab/↓ next field · S-Tab/↑ previous · ← → choose · Enter fork · Esc cancel');
    expect(frame).toContain('← → whom model, temperature, system prompt and tools apply to');
    // The effects field's hint, wrapped, is whole too.
    await h.screen.press(KEYS.shiftTab, KEYS.shiftTab);
    const effects = await h.screen.waitFor('› effects');
    expect(effects).toMatch(/live runs them, dry-run\s+does not run them, ask waits for approval \(session: live\)/);
  });
});
