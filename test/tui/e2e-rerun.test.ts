import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from '@lydell/node-pty';
import xterm from '@xterm/headless';
import { BIN, requireBuild } from '../helpers/pty.ts';
import { childEnv } from '../helpers/child-env.ts';
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

describe('rollout start --rerun in a terminal', () => {
  it.each([
    { gate: [] as string[], code: 0 },
    // A failed gate still opens the grid (that is where to look), and its exit code stands when the TUI is closed.
    { gate: ['--fail-under', 'score=0.99'], code: 1 },
  ])(
    "opens the TUI on the rollout's grid when the rollout finishes (exit $code)",
    async ({ gate, code }) => {
      const term = new xterm.Terminal({ cols: 120, rows: 32, allowProposedApi: true });
      let raw = '';
      const pty = spawn(process.execPath, [BIN, 'rollout', 'start', 'rollouts/pay.yaml', '--rerun', ...gate], {
        name: 'xterm-256color',
        cols: 120,
        rows: 32,
        cwd: ws.dir,
        // Ink renders nothing live when it believes it runs in CI.
        env: childEnv({ CI: 'false', CONTINUOUS_INTEGRATION: 'false', TERM: 'xterm-256color' }, { color: true }),
      });
      pty.onData((data) => {
        raw += data;
        term.write(data);
      });
      const exit = new Promise<number>((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)));
      const screen = (): string => {
        const buffer = term.buffer.active;
        const lines: string[] = [];
        for (let i = 0; i < term.rows; i++)
          lines.push(buffer.getLine(buffer.viewportY + i)?.translateToString(true) ?? '');
        return lines.join('\n');
      };
      const waitFor = async (test: (s: string) => boolean, what: string): Promise<string> => {
        const deadline = Date.now() + 15_000;
        while (Date.now() < deadline) {
          await new Promise<void>((resolve) => term.write('', resolve));
          if (test(screen())) return screen();
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error(`timed out waiting for ${what}; the screen was:\n${screen()}`);
      };
      try {
        const grid = await waitFor((s) => /Rollout pay \(ro_\w+\)/.test(s) && s.includes('4/4 done'), 'the grid');
        // The grid: one row per variant, each with its two repeats' scores.
        expect(grid).toMatch(/buyers\/careful\s+\d\.\d\d/);
        expect(grid).toMatch(/buyers\/quick\s+\d\.\d\d/);
        // The summary was printed before the TUI took the screen.
        expect(raw).toContain('Teams');
        const id = /Rollout pay \((ro_\w+)\)/.exec(grid)![1]!;
        expect(raw).toContain(`rollout ${id} · details`);
        pty.write('\u0003');
        await waitFor((s) => s.includes('press Ctrl-C again to quit'), 'the quit prompt');
        pty.write('\u0003');
        expect(await exit).toBe(code);
      } finally {
        try {
          pty.kill();
        } catch {
          // already gone
        }
      }
    },
    30_000,
  );
});
