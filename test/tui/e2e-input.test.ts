import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTuis, ESC, requireBuild, startTui, startBetaSession } from '../helpers/pty.ts';

/**
 * Input in a real terminal (the built binary in a pseudo-terminal): bursts of keys in one write, bracketed paste,
 * navigation mode when a session opens, and the mouse.
 */
afterEach(cleanupTuis);
beforeAll(requireBuild);

const PASTE = (text: string): string => `${ESC}[200~${text}${ESC}[201~`;
const mouse = (button: number, x: number, y: number, release = false): string =>
  `${ESC}[<${button};${x + 1};${y + 1}${release ? 'm' : 'M'}`;
const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('input in a real terminal', () => {
  it('handles every key of a burst in order: text+Enter sends, text+Tab+text fills the fork form field by field', async () => {
    const tui = startTui(120, 32);
    await startBetaSession(tui, 'Calculate 6 * 7', true);
    await tui.waitFor((s) => s.includes('6 * 7 = 42.') && s.includes('session finished'));
    // The session opened in navigation mode: r is a command, not text.
    await tui.press('r');
    await tui.waitFor('Rewind agent_beta');
    await tui.press('g');
    await tui.press('o');
    await tui.waitFor('Fork with other settings');
    await tui.press('\t'); // from "applies to" to the model
    await tui.press('scripted/slow\t0.5\t\thot');
    const form = await tui.waitFor(/tools\s+hot\n/);
    expect(form).toMatch(/model\s+scripted\/slow\n/);
    expect(form).toMatch(/temperature\s+0\.5\n/);
    expect(form).not.toContain('scripted/slow0.5');
  });

  it('opens a session in navigation mode: the hint says how to write, b and q are commands', async () => {
    const tui = startTui(100, 30);
    await startBetaSession(tui, 'Calculate 2 + 2');
    // The answer streams in before the session finishes: wait for the resting hint too, not only the text.
    const opened = await tui.waitFor((x) => x.includes('2 + 2 = 4.') && x.includes('press i to write a message'));
    expect(opened).toContain('▌ Conversation');
    expect(opened).toContain('press i to write a message (Enter opens the selected row)');
    await tui.press('b');
    await tui.waitFor('Branches (* checked out)');
    await tui.press(ESC);
    await tui.waitFor('▌ Conversation');
    await tui.press('q');
    await tui.waitFor(/SESSION\s+STATUS\s+AGENT/);
    // Reopened from the list: navigation mode again; i opens the input.
    await tui.press('\r');
    await tui.waitFor('press i to write a message (Enter opens the selected row)');
    await tui.press('i');
    await tui.waitFor((s) => s.split('\n').at(-2)!.startsWith('›'));
  });

  it('takes a bracketed paste as text, never commands; a pasted newline stays in the input and does not send', async () => {
    const tui = startTui(80, 24);
    await startBetaSession(tui, 'Calculate 2 + 2');
    await tui.waitFor('2 + 2 = 4.');
    // In navigation mode a pasted q (back) and Enter (write) do nothing.
    await tui.press(PASTE('q\r'));
    await settle(300);
    expect(tui.screen()).toContain('press i to write a message (Enter opens the selected row)');
    expect(tui.screen()).toContain('▌ Conversation');
    // In the input, a multi-line paste keeps its lines (shown with ⏎) and is not sent until Enter.
    await tui.press('i');
    await tui.press(PASTE('Calculate 3 * 3\nq'));
    const pasted = await tui.waitFor('› Calculate 3 * 3⏎q');
    expect(pasted).not.toContain('3 * 3 = 9.');
    await tui.press('\u007f'); // Backspace: the q
    await tui.press('\r');
    await tui.waitFor('3 * 3 = 9.');
    expect(tui.raw()).toContain(`${ESC}[?2004h`);
    await tui.press(ESC);
    // Esc and the next key apart, as a person types them: written together they are one Alt-q.
    await tui.waitFor(/press i to write a message/);
    await tui.press('q');
    await tui.waitFor(/SESSION\s+STATUS\s+AGENT/);
    await tui.press('q');
    expect(await tui.exit).toBe(0);
    // Bracketed paste and the mouse are off again.
    expect(tui.raw().lastIndexOf(`${ESC}[?2004l`)).toBeGreaterThan(tui.raw().lastIndexOf(`${ESC}[?2004h`));
    expect(tui.raw().lastIndexOf(`${ESC}[?1000l`)).toBeGreaterThan(tui.raw().lastIndexOf(`${ESC}[?1000h`));
  });

  it('scrolls the pane under the pointer with the wheel and focuses a pane on a click; --no-mouse leaves the mouse alone', async () => {
    const tui = startTui(80, 24);
    await startBetaSession(tui, 'Calculate 6 * 7');
    await tui.waitFor('6 * 7 = 42.');
    // All 19 events are in, the pane shows the newest few.
    const lines = (await tui.waitFor(/Events 19\/19/)).split('\n');
    // A click on the Stack pane's title row focuses it.
    const stackRow = lines.findIndex((l) => /^\s*Stack/.test(l));
    expect(stackRow).toBeGreaterThan(0);
    await tui.press(mouse(0, 5, stackRow) + mouse(0, 5, stackRow, true));
    await tui.waitFor('▌ Stack');
    // The wheel over the Events pane scrolls it, though the focus stays on the Stack pane.
    const eventsRow = lines.findIndex((l) => l.includes('Events 19/19'));
    await tui.press(mouse(64, 60, eventsRow + 1).repeat(2));
    const scrolled = await tui.waitFor((s) => /Events \d+\/19/.test(s) && !s.includes('Events 19/19'));
    expect(scrolled).toContain('▌ Stack');
    await tui.press(mouse(65, 60, eventsRow + 1).repeat(10));
    await tui.waitFor('Events 19/19');
    expect(tui.raw()).toContain(`${ESC}[?1000h${ESC}[?1006h`);

    const plain = startTui(80, 24, ['--no-mouse']);
    await plain.waitFor('No sessions yet');
    expect(plain.raw()).not.toContain(`${ESC}[?1000h`);
    expect(plain.raw()).toContain(`${ESC}[?2004h`);
  });
});
