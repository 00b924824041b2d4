import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../../helpers/cli.ts';
import { payerOfWriter, tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';

/**
 * The summary a rollout ends with, as P2Engine's showed it: per variant what it is, its tokens, time and its agent's
 * ledger figures; per team an aggregate; costs under a cent that do not print as `$0.0000`; exports without float
 * noise. Real CLI processes on a workspace whose payer pays the writer 15 in every cell.
 */
const SPEC = [
  'teams:',
  '  buyers:',
  '    initial_message: Pay the writer for the report.',
  '    base: { agent_id: payer }',
  '    variants: [{ temperature: 0 }, { temperature: 0, tools: [transfer_funds] }]',
  '    eval: { evaluator_id: gpt4_judge, metric: score, rubric: The payer paid the writer 15 for the report. }',
  '  writers:',
  '    initial_message: Write a two-line report on the weather.',
  '    base: { agent_id: writer }',
  '    eval: { evaluator_id: gpt4_judge, metric: style, rubric: The report is two lines about the weather. }',
  'repeats: 3',
  'judge: { workspace: false }',
].join('\n');

/** What sums of doubles add to a decimal: a run of nines, or of zeros before a stray digit (`0.30000000000000004`). */
const NOISE = /\d\.\d*(?:9{6,}|[1-9]0{6,}[1-9])/;

let ws: TempWorkspace;
let run: CliResult;
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });

/** The summary of an output: from the statistics' header to the line before the rollout's id. */
function summary(stdout: string): string[] {
  const lines = stdout.trimEnd().split('\n');
  const from = lines.findIndex((l) => l.startsWith('team '));
  const to = lines.findIndex((l) => l.startsWith('rollout ro_'));
  return lines.slice(from, to === -1 ? undefined : to);
}

/** The table under a title (`Variants`, `Teams`): its lines up to the next blank line. */
function section(lines: readonly string[], title: string): string[] {
  const from = lines.indexOf(title) + 1;
  const to = lines.findIndex((l, i) => i > from && l === '');
  return lines.slice(from, to === -1 ? undefined : to);
}

beforeAll(async () => {
  ws = tempWorkspace({ 'rollouts/pay.yaml': SPEC });
  payerOfWriter(ws, 'Paid the writer 15 for the report.');
  run = await p2tui('rollout', 'run', 'rollouts/pay.yaml', '--wide');
}, 30_000);
afterAll(() => ws.cleanup());

describe('the rollout summary', () => {
  it('says per variant what it is, its tokens, time, final balance, net flow and transfers', () => {
    expect(run.code, run.stderr).toBe(0);
    const variants = section(summary(run.stdout), 'Variants');
    expect(variants[0]).toMatch(/^team +variant +agent +tokens +elapsed +balance +net flow +transfers +settings$/);
    const row = (team: string, variant: string): string =>
      variants.find((l) => l.startsWith(`${team} `) && l.includes(` ${variant} `))!;
    // 100 to start, 15 paid in each cell: 85 left, a net flow of -15, one transfer; the settings as written.
    expect(row('buyers', 'v1')).toMatch(/^buyers +v1 +payer +[\d,]+ +\d+\.\d s +85\.00 +-15\.00 +1 +temperature=0$/);
    expect(row('buyers', 'v2')).toMatch(
      /^buyers +v2 +payer +[\d,]+ +\d+\.\d s +85\.00 +-15\.00 +1 +temperature=0 tools=\["transfer_funds"\]$/,
    );
    // A team without variants is its base: one variant, the agent as it is.
    expect(row('writers', 'v1')).toMatch(
      /^writers +v1 +writer +[\d,]+ +\d+\.\d s +0\.00 +0\.00 +0 +\(the agent as it is\)$/,
    );
    expect(summary(run.stdout)).toContain(
      "(tokens: the variant's total; elapsed, balance, net flow, transfers: mean per cell)",
    );
  });

  it('aggregates each team: variants, the best, tokens, cost, the longest cell, what was paid and received', () => {
    const teams = section(summary(run.stdout), 'Teams');
    expect(teams[0]).toMatch(/^team +variants +best +tokens +cost +longest cell +paid out +received$/);
    // Six cells paid 15 each. Each team's best by the metric it was scored on (buyers: score, writers: style).
    expect(teams.find((l) => l.startsWith('buyers '))).toMatch(
      /^buyers +2 +v[12] \(score \d\.\d\d\) +[\d,]+ +\$0\.0{3,4}[1-9]\d +\d+\.\d s +90\.00 +0\.00$/,
    );
    expect(teams.find((l) => l.startsWith('writers '))).toMatch(
      /^writers +1 +v1 \(style \d\.\d\d\) +[\d,]+ +\$0\.0{3,4}[1-9]\d +\d+\.\d s +0\.00 +0\.00$/,
    );
  });

  it('prints costs under a cent with their digits, never as $0.0000', () => {
    expect(run.stdout).not.toContain('$0.0000 ');
    const stats = summary(run.stdout).filter((l) => l.startsWith('buyers ') && l.includes('±'));
    for (const line of stats) expect(line).toMatch(/ \$0\.0{3,4}[1-9]\d +\d/);
  });

  it('rollout show prints the same summary as the end of rollout run, and --json has the same figures', async () => {
    const show = await p2tui('rollout', 'show', 'last', '--wide');
    expect(show.code, show.stderr).toBe(0);
    expect(summary(show.stdout)).toEqual(summary(run.stdout));
    const json = await p2tui('rollout', 'show', 'last', '--json');
    expect(json.code, json.stderr).toBe(0);
    const out = JSON.parse(json.stdout) as {
      variants: {
        team: string;
        variant: string;
        agent: string;
        settings: object;
        final_balance: number;
        net_flow: number;
        transfers: number;
      }[];
      teams: { team: string; variants: number; paid_out: number; received: number }[];
    };
    expect(out.variants.find((v) => v.team === 'buyers' && v.variant === 'v2')).toMatchObject({
      agent: 'payer',
      settings: { temperature: 0, tools: ['transfer_funds'] },
      final_balance: 85,
      net_flow: -15,
      transfers: 1,
    });
    expect(out.teams.find((t) => t.team === 'buyers')).toMatchObject({ variants: 2, paid_out: 90, received: 0 });
  });

  it('exports costs and latencies without float noise (CSV and JSON)', async () => {
    const csv = await p2tui('rollout', 'export', 'last');
    expect(csv.code, csv.stderr).toBe(0);
    const [header, ...rows] = csv.stdout.trimEnd().split('\n');
    const cost = header!.split(',').indexOf('cost_usd');
    for (const row of rows) expect(row.split(',')[cost]).toMatch(/^0\.0\d{1,11}$/);
    expect(csv.stdout).not.toMatch(NOISE);
    const json = await p2tui('rollout', 'export', 'last', '--format', 'json');
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout).not.toMatch(NOISE);
  });
});
