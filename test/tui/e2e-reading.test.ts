import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTuis, ESC, requireBuild, startTui } from '../helpers/pty.ts';

/**
 * Reading, end to end: the built `p2tui` binary in a real pseudo-terminal, its output fed to a terminal emulator —
 * zoom (z), search (/, n), and copy (y) whose OSC 52 sequence must reach the terminal without disturbing the frame.
 */
const BEL = String.fromCharCode(7);

afterEach(cleanupTuis);
beforeAll(requireBuild);

describe('reading in a real terminal', () => {
  it('zooms a pane, searches it, and copies an entry with an OSC 52 sequence the terminal receives', async () => {
    const rows = 32;
    const tui = startTui(120, rows);
    await tui.waitFor('No sessions yet');
    await tui.press('n');
    await tui.waitFor('choose an agent');
    await tui.press('\r');
    await tui.waitFor('message to agent_alpha ›');
    const question = "What's the weather in Paris and who leads the Premier League?";
    await tui.press(question);
    await tui.waitFor('who leads the Premier League?');
    await tui.press('\r');
    await tui.waitFor((s) => s.includes('In short:') && s.includes('session finished'));
    await tui.waitFor('▌ Conversation');

    // Zoom: the stack alone, full width; the header and hints stay.
    await tui.press('3');
    await tui.press('z');
    let s = await tui.waitFor((x) => x.includes('▌ Stack') && !x.includes('Conversation'));
    expect(s.split('\n')[0]).toContain('p2tui');
    expect(s.split('\n').at(-1)).toContain('? help');
    // Full width: the first entry's text is not cut.
    expect(s).toMatch(/#0\s+user_message\s+.*Premier League\?/);

    // Search in the zoomed stack: the matching row is selected; n moves on.
    await tui.press('/');
    await tui.press('agent_beta');
    await tui.waitFor('/agent_beta▍');
    await tui.press('\r');
    await tui.waitFor(/Stack .*\/agent_beta \(\d+ lines; n\/N, Esc clears\)/);
    await tui.press(ESC);
    await tui.waitFor((x) => !x.includes('/agent_beta'));

    // Copy the first entry: the OSC 52 sequence reaches the terminal, the notice says how much, the frame is intact.
    await tui.press('g');
    await tui.press('y');
    await tui.waitFor(`copied ${question.length} characters`);
    const osc = new RegExp(`${ESC}\\]52;c;([A-Za-z0-9+/=]+)${BEL}`).exec(tui.raw());
    expect(osc).not.toBeNull();
    expect(Buffer.from(osc![1]!, 'base64').toString('utf8')).toBe(question);
    s = tui.screen();
    expect(s).toContain('▌ Stack');
    expect(s.split('\n')).toHaveLength(rows);

    // Back from zoom: every pane again.
    await tui.press('z');
    await tui.waitFor((x) => x.includes('Conversation') && x.includes('Frames'));
    await tui.press('q');
  }, 30_000);
});
