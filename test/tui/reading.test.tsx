import { afterEach, describe, expect, it } from 'vitest';
import { describeEntry } from '../../src/core/describe-entry.ts';
import { copiedNotice, osc52 } from '../../src/tui/clipboard.ts';
import { pretty } from '../../src/tui/detail.ts';
import { lineText, seg, wrap } from '../../src/tui/lines.ts';
import { highlight, matchingLines, nextMatch } from '../../src/tui/search.ts';
import { KEYS } from './render.ts';
import { closeTuis, openTui, type Harness } from './harness.ts';

/**
 * Reading in the TUI (issue 18): zoom, the detail view, wrapping, search, the sessions filter, copying (OSC 52) and
 * one scrolling model, through keys in a fake terminal (test/tui/render.ts), over the demo workspace.
 */
afterEach(closeTuis);
const open = (size = { columns: 120, rows: 32 }): Promise<Harness> => openTui(size);

const DEMO = "What's the weather in Paris and who leads the Premier League?";

/** The demo session, finished, with the keys in the panes (not the input). */
async function demo(h: Harness, agentIndex = 0, message = DEMO): Promise<void> {
  await h.screen.waitFor('No sessions yet');
  await h.screen.press('n');
  await h.screen.waitFor('choose an agent');
  for (let i = 0; i < agentIndex; i++) await h.screen.press('j');
  await h.screen.press(KEYS.enter);
  await h.screen.waitFor('message to ');
  await h.screen.press(message, KEYS.enter);
  await h.screen.waitFor(() => h.tui.store.get().open?.status === 'finished');
  // The frame too: the panes' geometry (what Enter opens, where a search scrolls) is the drawn one.
  await h.screen.waitFor((f) => f.split('\n')[0]!.includes('finished'));
  if (h.tui.store.get().focus === 'input') await h.screen.press(KEYS.escape);
}

const ESC = String.fromCharCode(27);
const decodeOsc52 = (written: readonly string[]): string[] =>
  written.flatMap((w) => {
    const m = new RegExp(`^${ESC}\\]52;c;([A-Za-z0-9+/=]*)\\u0007$`).exec(w);
    return m === null ? [] : [Buffer.from(m[1]!, 'base64').toString('utf8')];
  });

describe('reading in the TUI', () => {
  it('zooms the focused pane to the whole screen with z, header, input and hints staying, and back with z', async () => {
    const h = await open();
    await demo(h);
    await h.screen.press('6');
    let frame = h.screen.frame();
    expect(frame).toContain('Conversation');
    // Unzoomed at 120 columns, the events pane cuts its lines.
    expect(frame).toMatch(/score\.recorded\s+agent_beta: delivery \d\.\d…/);
    await h.screen.press('z');
    frame = h.screen.frame();
    expect(frame).toContain('▌ Events');
    expect(frame).not.toContain('Conversation');
    expect(frame).not.toContain('Frames');
    expect(frame.split('\n')[0]).toContain('p2tui');
    expect(frame.split('\n').at(-2)).toContain('press i to write a message (Enter opens the selected row)');
    expect(frame.split('\n').at(-1)).toContain('? help');
    expect(frame.split('\n')).toHaveLength(32);
    // The whole width: the line is no longer cut.
    expect(frame).toMatch(/score\.recorded\s+agent_beta: delivery \d\.\d\d/);
    await h.screen.press('z');
    frame = h.screen.frame();
    expect(frame).toContain('Conversation');
    expect(frame).toContain('▌ Events');
  });

  it('opens the selected stack entry, event or score in full with Enter (JSON pretty-printed), and closes it with Esc', async () => {
    const h = await open();
    await demo(h);
    // agent_helper's stack: #0 its task, #1 the get_weather call.
    await h.screen.press('2', 'j', '3', 'g', 'j');
    await h.screen.press(KEYS.enter);
    let frame = await h.screen.waitFor('agent_helper #1 · tool_call');
    expect(frame).toMatch(/\n {2}"args": \{\n {4}"location": "Paris",\n {4}"unit": "celsius"\n {2}\},?\n/);
    await h.screen.press(KEYS.escape);
    frame = h.screen.frame();
    expect(frame).not.toContain('agent_helper #1 · tool_call');
    expect(frame).toContain('▌ Stack');
    // An event: the first one, in full.
    await h.screen.press('6', 'g', KEYS.enter);
    await h.screen.waitFor('event 1 · session.created');
    await h.screen.press(KEYS.escape);
    // A score: its criteria and reasons.
    await h.screen.press('4', 'g', KEYS.enter);
    frame = await h.screen.waitFor(/score · delivery/);
    expect(frame).toMatch(/delivery on agent_alpha\/agent_helper/);
    expect(frame).toMatch(/score 0\.\d\d · values/);
  });

  it('opens the selected payment of the Wallets pane in full with Enter', async () => {
    const h = await open({ columns: 140, rows: 60 });
    await h.app.wallets.createWallet('treasurer', '1000');
    await h.app.wallets.createWallet('agent_beta');
    await demo(h, 3, 'transfer 12.5 to agent_beta');
    await h.screen.waitFor(/treasurer → agent_beta 12\.5/);
    await h.screen.press('5', 'g', KEYS.enter);
    const frame = await h.screen.waitFor(/payment \d+ · treasurer → agent_beta/);
    expect(frame).toContain('"amount": "12.5"');
  });

  it('opens the conversation entry at the bottom of the pane with Enter', async () => {
    const h = await open();
    await demo(h);
    await h.screen.press(KEYS.enter);
    const frame = await h.screen.waitFor('agent_alpha · finished');
    expect(frame).toContain('"steps": 2');
  });

  it('wraps the stack’s and events’ long lines with w instead of cutting them, and cuts them again with w', async () => {
    const h = await open();
    await demo(h);
    const state = h.tui.store.get();
    const entry = state.open!.conversations.get(state.open!.root!)!.entries[2]!;
    const callId = /\((c_[a-z0-9]+)\)/.exec(describeEntry(entry))?.[1] ?? '';
    expect(callId).toMatch(/^c_[a-z0-9]{8,}$/);
    await h.screen.waitFor(/agent_alpha: grounded 1\.…/);
    await h.screen.press('3', 'g', 'j', 'j');
    expect(h.screen.frame()).not.toContain(callId);
    expect(h.screen.frame()).not.toContain('(scripted judge)');
    await h.screen.press('w');
    expect(h.screen.frame()).toContain(callId);
    // The events pane's last line, cut before, is whole.
    expect(h.screen.frame()).toContain('(scripted judge)');
    await h.screen.press('w');
    expect(h.screen.frame()).not.toContain(callId);
  });

  it('searches the conversation with /: the pane scrolls to the match, n/N move between matches, Esc clears', async () => {
    const h = await open({ columns: 80, rows: 24 });
    await demo(h);
    // The first line has scrolled out of the small conversation pane.
    expect(h.screen.frame()).not.toContain("you What's the weather");
    await h.screen.press('/', 'PARIS and who');
    expect(h.screen.frame()).toMatch(/Conversation .*\/PARIS and who▍/);
    await h.screen.press(KEYS.enter);
    const frame = h.screen.frame();
    expect(frame).toContain("you What's the weather");
    expect(frame).toMatch(/Conversation \d+\/\d+ \(scrolled\)/);
    // The match is highlighted (yellow inverse), nothing else in the pane is.
    expect(h.screen.rawFrame()).toMatch(new RegExp(`${ESC}\\[7m(${ESC}\\[[0-9;]*m)*Paris and who`));
    await h.screen.press(KEYS.escape);
    await h.screen.press('/', 'Premier', KEYS.enter);
    const first = h.tui.store.get().search?.at;
    await h.screen.press('n');
    const second = h.tui.store.get().search?.at;
    expect(second).toBeGreaterThan(first!);
    await h.screen.press('N');
    expect(h.tui.store.get().search?.at).toBe(first);
    await h.screen.press(KEYS.escape);
    expect(h.tui.store.get().search).toBeNull();
    expect(h.screen.rawFrame()).not.toMatch(new RegExp(`${ESC}\\[7m(${ESC}\\[[0-9;]*m)*Premier`));
    // Esc again goes back, as before.
    await h.screen.press(KEYS.escape);
    await h.screen.waitFor('SESSION');
  });

  it('searches the stack (selecting the matching row), the events and the help', async () => {
    const h = await open();
    await demo(h);
    await h.screen.press('3', 'g', '/', 'agent_beta ok', KEYS.enter);
    expect(h.tui.store.get().rowCursor.stack).toBe(6);
    await h.screen.press(KEYS.enter);
    await h.screen.waitFor('agent_alpha #6 · agent_result');
    await h.screen.press(KEYS.escape, KEYS.escape, '?');
    await h.screen.waitFor('Keys (Esc closes)');
    expect(h.screen.frame()).not.toContain('show / hide rollout cells');
    await h.screen.press('/', 'hide rollout cells', KEYS.enter);
    expect(h.screen.frame()).toContain('show / hide rollout cells');
  });

  it('filters the sessions list with / and hides rollout cells behind one line until C', async () => {
    const h = await open();
    await demo(h, 1, 'Calculate 6 * 7');
    await h.screen.press(KEYS.escape);
    await h.screen.waitFor('SESSION');
    const engine = h.app.engine;
    engine.start({
      agent: 'agent_helper',
      message: "What's the weather in Oslo?",
      source: 'rollout',
      title: 'grid · c/cold/s1 · seed 1',
      options: engine.sessionOptions({}),
    });
    engine.start({
      agent: 'agent_helper',
      message: "What's the weather in Rome?",
      source: 'tui',
      title: 'the weather in Rome',
      options: engine.sessionOptions({}),
    });
    let frame = await h.screen.waitFor('1 rollout cell session hidden (C shows them; R lists the rollouts)');
    expect(frame).not.toContain('grid · c/cold/s1');
    expect(frame).toContain('Calculate 6 * 7');
    await h.screen.press('C');
    await h.screen.waitFor('grid · c/cold/s1');
    await h.screen.press('C', '/', 'rome');
    frame = h.screen.frame();
    expect(frame).toContain('the weather in Rome');
    expect(frame).not.toContain('Calculate 6 * 7');
    expect(frame).toContain('1 of 2 sessions match “rome” (Esc clears)');
    await h.screen.press(KEYS.enter, KEYS.escape);
    expect(h.screen.frame()).toContain('Calculate 6 * 7');
  });

  it('copies the selected entry, the detail and a comparison with y through OSC 52, with a notice', async () => {
    const h = await open();
    await demo(h);
    await h.screen.press('3', 'g', 'y');
    expect(decodeOsc52(h.written)).toEqual([DEMO]);
    await h.screen.waitFor(`copied ${DEMO.length} characters`);
    await h.screen.press('j', KEYS.enter);
    await h.screen.waitFor('agent_alpha #1 · assistant_message');
    await h.screen.press('y');
    expect(decodeOsc52(h.written)[1]).toBe("I'll ask agent_helper and agent_beta and combine what they find.");
    await h.screen.press(KEYS.escape, 'A');
    await h.screen.waitFor('Artifacts and results');
    await h.screen.press('m', 'j', 'd');
    await h.screen.waitFor('side by side (u switches');
    await h.screen.press('y');
    expect(decodeOsc52(h.written)[2]).toMatch(/^compare /);
    await h.screen.waitFor(/copied [\d,]+ characters/);
  });

  it('scrolls help, lists and panes with the same keys: PgDn a page, G and End to the end, C-d half a page, g and Home back', async () => {
    const h = await open({ columns: 100, rows: 30 });
    await demo(h);
    await h.screen.press('?');
    await h.screen.waitFor('Keys (Esc closes)');
    const scrollOf = (): number => {
      const o = h.tui.store.get().overlay;
      return o?.kind === 'help' ? o.scroll : -1;
    };
    const page = h.tui.actions.geometry.get('help')!.height - 1;
    await h.screen.press(KEYS.pageDown);
    expect(scrollOf()).toBe(page);
    await h.screen.press('g');
    expect(scrollOf()).toBe(0);
    await h.screen.press('\u0004'); // C-d
    expect(scrollOf()).toBe(Math.ceil(page / 2));
    await h.screen.press('G');
    expect(h.screen.frame()).toContain('Everything the keys do can also be typed');
    await h.screen.press('\u001b[H'); // Home
    expect(scrollOf()).toBe(0);
    await h.screen.press('\u001b[F'); // End
    expect(h.screen.frame()).toContain('Everything the keys do can also be typed');
    await h.screen.press(KEYS.escape, 'A');
    await h.screen.waitFor('Artifacts and results');
    const cursorOf = (): number => {
      const o = h.tui.store.get().overlay;
      return o?.kind === 'artifacts' ? o.cursor : -1;
    };
    const count = (h.tui.store.get().overlay as unknown as { items: unknown[] }).items.length;
    await h.screen.press('G');
    expect(cursorOf()).toBe(count - 1);
    await h.screen.press('g');
    expect(cursorOf()).toBe(0);
    await h.screen.press('\u001b[F');
    expect(cursorOf()).toBe(count - 1);
    await h.screen.press('\u001b[H');
    expect(cursorOf()).toBe(0);
    // The comparison: G/End to its end, C-d half a page (it had j/k, pages and g only).
    await h.screen.press('m', 'j', 'd');
    await h.screen.waitFor(() => h.tui.store.get().overlay?.kind === 'diff');
    const diffScroll = (): number => {
      const o = h.tui.store.get().overlay;
      return o?.kind === 'diff' ? o.scroll : -1;
    };
    const diff = h.tui.actions.geometry.get('diff')!;
    await h.screen.press('G');
    expect(diffScroll()).toBe(Math.max(0, diff.total - diff.height));
    await h.screen.press('g', '\u0004');
    expect(diffScroll()).toBe(Math.min(Math.max(0, diff.total - diff.height), Math.ceil((diff.height - 1) / 2)));
    // Esc: back to the artifacts list, Esc again: the session.
    await h.screen.press(KEYS.escape, KEYS.escape);
    // Frames: G the last conversation, g the first.
    await h.screen.press('2', 'G');
    const order = h.tui.store.get().open!.order;
    expect(h.tui.store.get().selectedConversation).toBe(order.at(-1));
    await h.screen.press('g');
    expect(h.tui.store.get().selectedConversation).toBe(order[0]);
    await h.screen.press('6', 'g');
    expect(h.tui.store.get().rowCursor.events).toBe(0);
    expect(h.screen.frame()).toMatch(/\s1 session\.created/);
    await h.screen.press('G');
    expect(h.tui.store.get().rowCursor.events).toBeUndefined();
    expect(h.tui.store.get().scroll.events.follow).toBe(true);
  });
});

describe('reading, the pure parts', () => {
  it('finds matches case-insensitively, wraps around with n/N, and highlights across segments', () => {
    const lines = [[seg('alpha')], [seg('Beta '), seg('gamma', { bold: true })], [seg('beta again')]];
    expect(matchingLines(lines, 'BETA')).toEqual([1, 2]);
    expect(nextMatch([1, 2], 2, 1)).toBe(1);
    expect(nextMatch([1, 2], 1, -1)).toBe(2);
    const marked = highlight(lines[1]!, 'a ga');
    expect(marked.map((s) => [s.text, s.inverse === true])).toEqual([
      ['Bet', false],
      ['a ', true],
      ['ga', true],
      ['mma', false],
    ]);
    expect(marked[2]!.bold).toBe(true);
  });

  it('encodes a copy as OSC 52 and counts characters, not bytes, in the notice', () => {
    expect(osc52('héllo')).toBe(`${ESC}]52;c;${Buffer.from('héllo').toString('base64')}\u0007`);
    expect(copiedNotice('x'.repeat(1234))).toBe('copied 1,234 characters');
    expect(copiedNotice('é')).toBe('copied 1 character');
  });

  it('pretty-prints JSON text and leaves other text alone', () => {
    expect(pretty('{"a":[1,2]}')).toBe('{\n  "a": [\n    1,\n    2\n  ]\n}');
    expect(pretty('{not json')).toBe('{not json');
  });

  it('keeps the spaces between segments on a wrapped line’s first row when its continuation is indented', () => {
    const rows = wrap([seg('   39 '), seg('session.status     '), seg('session finished and more words here')], 40, 25);
    expect(lineText(rows[0]!)).toBe('   39 session.status     session');
    expect(lineText(rows[1]!).startsWith(' '.repeat(25))).toBe(true);
  });
});
