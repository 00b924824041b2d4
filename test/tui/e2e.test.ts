import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTuis, ESC, requireBuild, startDemoSession, startTui as start } from '../helpers/pty.ts';

/**
 * End to end, the way a person uses it: the built `p2tui` binary in a real pseudo-terminal of a fixed size, its
 * output fed to a terminal emulator, keys sent one at a time, and after each key a wait for the screen to show what
 * that key should do (helpers: test/helpers/pty.ts).
 */
afterEach(cleanupTuis);
beforeAll(requireBuild);

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
    // A session opens in navigation mode: keys are commands at once.
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
    // A session opens in navigation mode: keys are commands at once.
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
