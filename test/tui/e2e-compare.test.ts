import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTuis, ESC, requireBuild, startTui, type Tui, startBetaSession } from '../helpers/pty.ts';

/**
 * Comparing two branches, neither of them checked out, the way a person does it: the built `p2tui` binary in a real
 * pseudo-terminal at 80×24, its output fed to a terminal emulator, keys sent one at a time.
 */
afterEach(cleanupTuis);
beforeAll(requireBuild);

/** Rewinds the open session to its first step (r, g, Enter): a new branch, checked out and paused. */
async function rewindToStart(tui: Tui): Promise<void> {
  await tui.press('r');
  await tui.waitFor('Rewind agent_beta');
  await tui.press('g');
  await tui.press('\r');
  await tui.waitFor(/agent_beta paused +branch/);
}

describe('comparing branches in a real terminal', () => {
  it('m marks a branch, d compares it with the one under the cursor, neither checked out; d on itself is refused', async () => {
    const tui = startTui(80, 24);
    await startBetaSession(tui, 'Calculate 3 * 3');
    await tui.waitFor(/agent_beta finished +branch/);
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
    await tui.waitFor(/press i to write a message/);
    await tui.press('q');
    await tui.waitFor(/SESSION\s+STATUS\s+AGENT/);
    await tui.press('q');
    expect(await tui.exit).toBe(0);
  });
});
