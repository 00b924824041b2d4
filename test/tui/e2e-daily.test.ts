import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTuis, ESC, requireBuild, startDemoSession, startTui, startBetaSession } from '../helpers/pty.ts';

/**
 * The daily keys of issue 18 in a real pseudo-terminal (the built binary, its output fed to a terminal emulator):
 * what the in-process tests check, seen the way a person sees it. The pty driver: test/helpers/pty.ts. The `!` log
 * and Esc from a comparison back to the branch list have their pty tests in e2e-chrome and e2e-compare.
 */
afterEach(cleanupTuis);
beforeAll(requireBuild);

describe('daily reading in a real terminal', () => {
  it('shows r, b, A, p in the hint bar at 120 columns, opens a stack row in full with Enter, and Esc closes it', async () => {
    const tui = startTui(120, 32);
    await startDemoSession(tui);
    const done = await tui.waitFor((s) => s.includes('In short:') && s.includes('session finished'));
    expect(done.split('\n').at(-1)).toMatch(/r rewind +b branches +A compare/);
    // agent_helper's stack (the second frame): #0 its task, #1 the get_weather call.
    for (const key of ['2', 'j', '3', 'g', 'j']) await tui.press(key);
    await tui.press('\r');
    const detail = await tui.waitFor('agent_helper #1 · tool_call');
    expect(detail).toMatch(/"location": "Paris",/);
    expect(detail).toMatch(/"unit": "celsius"/);
    await tui.press(ESC);
    const back = await tui.waitFor((s) => !s.includes('agent_helper #1 · tool_call'));
    expect(back).toContain('▌ Stack');
    // Paused (rewound to the start), p joins r, b, A in the hint bar.
    await tui.press('r');
    await tui.waitFor('Rewind agent_helper');
    await tui.press('g');
    await tui.press('\r');
    const paused = await tui.waitFor((s) => s.includes('session paused') && s.split('\n').at(-1)!.includes('p pause'));
    const bar = paused.split('\n').at(-1)!;
    for (const hint of ['r rewind', 'b branches', 'A compare', 'p pause/resume', '? help']) expect(bar).toContain(hint);
    await tui.press('q');
    await tui.waitFor(/SESSION\s+STATUS\s+AGENT/);
    await tui.press('q');
    expect(await tui.exit).toBe(0);
  });

  it('gives the Wallets pane three lines at 80×24, and filters the sessions list with /', async () => {
    const tui = startTui(80, 24);
    await startBetaSession(tui, 'Calculate 3 * 3');
    const lines = (await tui.waitFor(/agent_beta finished +branch/)).split('\n');
    const walletsAt = lines.findIndex((l) => l.includes(' Wallets'));
    const eventsAt = lines.findIndex((l) => l.includes(' Events'));
    expect(walletsAt).toBeGreaterThan(0);
    // The title line and at least three lines under it.
    expect(eventsAt - walletsAt).toBeGreaterThanOrEqual(4);
    await tui.press('q');
    await tui.waitFor(/SESSION\s+STATUS\s+AGENT/);
    await tui.press('/');
    await tui.press('zzz');
    const none = await tui.waitFor('0 of 1 sessions match “zzz” (Esc clears)');
    expect(none).not.toContain('Calculate 3 * 3');
    await tui.press(ESC);
    await tui.press(ESC);
    const all = await tui.waitFor((s) => s.includes('Calculate 3 * 3') && !s.includes('sessions match'));
    expect(all).toMatch(/SESSION\s+STATUS\s+AGENT/);
    await tui.press('/');
    await tui.press('calc');
    await tui.waitFor('1 of 1 sessions match “calc” (Esc clears)');
  });
});
