import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../../helpers/cli.ts';
import { payerOfWriter, tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';

/**
 * `rollout start`, P2Engine's name for `rollout run`, with its flags: --follow, --show-config, --strict-tools and
 * --rerun (whose TUI half is in test/tui/e2e-rerun.test.ts). Real CLI processes.
 */
const SPEC = [
  'teams:',
  '  buyers:',
  '    initial_message: Pay the writer for the report.',
  '    base: { agent_id: payer }',
  '    variants: [{ temperature: 0 }, { temperature: 0, tools: [transfer_funds] }]',
  '    eval: { evaluator_id: gpt4_judge, metric: score, rubric: The payer paid the writer 15 for the report. }',
  'repeats: 2',
  'judge: { workspace: false }',
].join('\n');

let ws: TempWorkspace;
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });

beforeAll(() => {
  ws = tempWorkspace({
    'rollouts/pay.yaml': SPEC,
    // A misspelled tool in the second variant.
    'rollouts/typo.yaml': SPEC.replace('tools: [transfer_funds]', 'tools: [transfer_fund]'),
  });
  payerOfWriter(ws, 'Paid the writer 15 for the report.');
});
afterAll(() => ws.cleanup());

describe('rollout start', () => {
  it('refuses a variant naming an unknown tool before any cell runs, with --strict-tools and without (exit 3)', async () => {
    for (const flags of [['--strict-tools'], []]) {
      const r = await p2tui('rollout', 'start', 'rollouts/typo.yaml', ...flags);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain('error E_ROLLOUT_SPEC');
      expect(r.stderr).toContain(
        "teams.buyers.variants[1].tools[0]: unknown tool 'transfer_fund' (did you mean transfer_funds?)",
      );
    }
    // Nothing ran: not even the database was created.
    expect(existsSync(join(ws.dir, '.p2tui', 'p2tui.db'))).toBe(false);
  });

  it('--show-config prints the expanded variants first; --follow prints each cell as it finishes', async () => {
    const r = await p2tui('rollout', 'start', 'rollouts/pay.yaml', '--show-config', '--follow');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const config = lines.indexOf('  team buyers: 2 variants × 1 scenario × 2 repeats (baseline v1)');
    expect(config).toBe(0);
    expect(lines.slice(1, 3)).toEqual([
      '    v1: payer temperature=0',
      '    v2: payer temperature=0 tools=["transfer_funds"]',
    ]);
    expect(lines[3]).toBe('pay: 4 cells (1 team, 2 variants, 2 repeats)');
    const cells = lines.filter((l) => l.startsWith('✓ '));
    expect(cells).toHaveLength(4);
    for (const line of cells)
      expect(line).toMatch(
        /^✓ buyers\/v[12]\/s1 seed [12] · score \d\.\d\d · [\d,]+ tokens · \$0\.0{3,4}[1-9]\d* · \d+\.\d s$/,
      );
    // The summary follows, as rollout run ends.
    expect(r.stdout).toContain('\nTeams\n');
    expect(r.stdout).toMatch(/rollout ro_\w+ · details: p2tui rollout show ro_\w+/);
    // rollout run prints no line per cell.
    const plain = await p2tui('rollout', 'run', 'rollouts/pay.yaml');
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).not.toMatch(/^✓ /m);
    expect(plain.stdout).not.toContain('  team buyers:');
  }, 20_000);

  it("takes every option of rollout run (and -p, P2Engine's --parallel): a failed gate exits 1; --json has the config", async () => {
    const gated = await p2tui('rollout', 'start', 'rollouts/pay.yaml', '--fail-under', 'score=0.99', '-p', '2');
    expect(gated.code, gated.stderr).toBe(1);
    expect(gated.stdout).toMatch(/gate score ≥ 0\.99: buyers\/v1 has 0\.\d+/);
    const none = await p2tui('rollout', 'start', 'rollouts/pay.yaml', '-p', '0');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('error E_USAGE: --parallel must be between 1 and 10000, got 0');
    // A gate on a metric the spec has none of is refused before any cell runs, as rollout run refuses it.
    const typo = await p2tui('rollout', 'start', 'rollouts/pay.yaml', '--fail-under', 'nosuch=0.5');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("error E_UNKNOWN_METRIC: --fail-under nosuch=…: no metric 'nosuch' in this rollout");
    expect(typo.stdout).not.toContain('cells (');
    const json = await p2tui('rollout', 'start', 'rollouts/pay.yaml', '--json', '--show-config');
    expect(json.code, json.stderr).toBe(0);
    const out = JSON.parse(json.stdout) as {
      config: { teams: { id: string; variants: { id: string; agent: string }[] }[] };
    };
    expect(out.config.teams[0]!.variants.map((v) => [v.id, v.agent])).toEqual([
      ['v1', 'payer'],
      ['v2', 'payer'],
    ]);
  }, 20_000);

  it('--rerun without a terminal says why the grid cannot open, and runs the rollout (exit 0)', async () => {
    const r = await p2tui('rollout', 'start', 'rollouts/pay.yaml', '--rerun');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      '--rerun: the grid opens in the full-screen TUI, which needs a terminal, and stdin or stdout is not a terminal here. ' +
        'The rollout runs; see its grid later with: p2tui, then R.',
    );
    expect(r.stdout).toMatch(/rollout ro_\w+ · details/);
  });
});
