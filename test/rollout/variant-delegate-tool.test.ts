import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/*
 * P2Engine listed delegation among an agent's tools, and its own demo_rollout.yml compares `tools: [get_weather]` with
 * `tools: [get_weather, delegate]`. A variant's tools override naming `delegate` (or `ask_user`) runs: those are what
 * the persona's agents and policy give it, not tools to look up.
 */

let ws: TempWorkspace | undefined;
afterEach(() => ws?.cleanup());

/** A lead that may delegate to a clerk, who checks balances. */
function leadAndClerk(): TempWorkspace {
  const dir = tempWorkspace();
  dir.persona({
    id: 'lead',
    description: 'Lead who hands questions about balances to the clerk.',
    model: 'scripted/default',
    agents: ['clerk'],
  });
  dir.persona({
    id: 'clerk',
    description: 'Clerk who checks balances.',
    model: 'scripted/default',
    tools: ['check_balance'],
  });
  return dir;
}

describe('a rollout variant whose tools name delegate', () => {
  it('runs its cells (none fails with "unknown tool \'delegate\'") and the agent still delegates', async () => {
    ws = leadAndClerk();
    ws.write(
      'rollouts/delegate.yaml',
      [
        'teams:',
        '  office:',
        '    initial_message: "Ask clerk to check its balance."',
        '    base: { agent_id: lead }',
        '    variants:',
        '      - tools: [check_balance, delegate]',
        '      - tools: [check_balance, delegate, ask_user]',
        '',
      ].join('\n'),
    );
    const result = await runCli(['rollout', 'run', 'rollouts/delegate.yaml', '--json'], { cwd: ws.dir });
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as {
      cells: { variant: string; status: string; error: string | null; session: string | null }[];
    };
    expect(summary.cells.map((c) => [c.variant, c.status, c.error])).toEqual([
      ['v1', 'done', null],
      ['v2', 'done', null],
    ]);
    const shown = await runCli(['session', 'show', summary.cells[0]!.session!, '--json'], { cwd: ws.dir });
    expect(shown.stdout).toContain('"clerk"');
  });

  it("leaves delegation out of a variant whose tools leave delegate out, as P2Engine's tools list did", async () => {
    ws = leadAndClerk();
    ws.write(
      'rollouts/delegate.yaml',
      [
        'teams:',
        '  office:',
        '    initial_message: "Ask clerk to check its balance."',
        '    base: { agent_id: lead }',
        '    variants:',
        '      tools:',
        '        - [check_balance]',
        '        - [check_balance, delegate]',
        '',
      ].join('\n'),
    );
    const result = await runCli(['rollout', 'run', 'rollouts/delegate.yaml', '--json'], { cwd: ws.dir });
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as { cells: { variant: string; session: string | null }[] };
    const agentsOf = async (variant: string): Promise<string[]> => {
      const cell = summary.cells.find((c) => c.variant === variant)!;
      const shown = await runCli(['session', 'show', cell.session!, '--json'], { cwd: ws!.dir });
      const session = JSON.parse(shown.stdout) as { conversations: { agent: string }[] };
      return session.conversations.map((c) => c.agent).sort();
    };
    expect(await agentsOf('v1')).toEqual(['lead']);
    expect(await agentsOf('v2')).toEqual(['clerk', 'lead']);
  });
});
