import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTuis, requireBuild, startTui } from '../helpers/pty.ts';
import { payerOfWriter, tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/**
 * `rollout start --rerun` (P2Engine's flag opened its Rerun viewer): in a real terminal, the rollout runs, its summary
 * prints, and the TUI opens on the rollout's grid in the same terminal; quitting it ends the command with its own
 * exit code. The built binary in a pseudo-terminal, its output fed to a terminal emulator.
 */
const SPEC = [
  'teams:',
  '  buyers:',
  '    initial_message: Pay the writer for the report.',
  '    base: { agent_id: payer }',
  '    variants: [{ id: careful, temperature: 0 }, { id: quick, temperature: 0, tools: [transfer_funds] }]',
  '    eval: { evaluator_id: gpt4_judge, metric: score, rubric: The payer paid the writer 15 for the report. }',
  'repeats: 2',
  'judge: { workspace: false }',
].join('\n');

let ws: TempWorkspace;
beforeAll(() => {
  requireBuild();
  ws = tempWorkspace({ 'rollouts/pay.yaml': SPEC });
  payerOfWriter(ws, 'Paid the writer 15 for the report.');
});
afterAll(() => ws.cleanup());
afterEach(cleanupTuis);

describe('rollout start --rerun in a terminal', () => {
  it.each([
    { gate: [] as string[], code: 0 },
    // A failed gate still opens the grid (that is where to look), and its exit code stands when the TUI is closed.
    { gate: ['--fail-under', 'score=0.99'], code: 1 },
  ])(
    "opens the TUI on the rollout's grid when the rollout finishes (exit $code)",
    async ({ gate, code }) => {
      const tui = startTui(120, 32, ['rollout', 'start', 'rollouts/pay.yaml', '--rerun', ...gate], {
        workspace: ws.dir,
      });
      const grid = await tui.waitFor((s) => /Rollout pay \(ro_\w+\)/.test(s) && s.includes('4/4 done'), 15_000);
      // The grid: one row per variant, each with its two repeats' scores.
      expect(grid).toMatch(/buyers\/careful\s+\d\.\d\d/);
      expect(grid).toMatch(/buyers\/quick\s+\d\.\d\d/);
      // The summary was printed before the TUI took the screen.
      expect(tui.raw()).toContain('Teams');
      const id = /Rollout pay \((ro_\w+)\)/.exec(grid)![1]!;
      expect(tui.raw()).toContain(`rollout ${id} · details`);
      await tui.press('\u0003');
      await tui.waitFor('press Ctrl-C again to quit');
      await tui.press('\u0003');
      expect(await tui.exit).toBe(code);
    },
    30_000,
  );
});
