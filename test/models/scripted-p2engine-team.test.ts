import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';

/**
 * The offline demo of a P2Engine-style spec (issue 19, point 2, last bullet), through the real CLI: every clause of
 * "X, then Y" is done, "5 units" pays 5, the variants of `rollouts/p2engine-team.yaml` (delegation, tools, payments)
 * differ for reasons their answers show, and two rubrics with opposite criteria rank the same answers in opposite
 * orders under the scripted judge.
 */
const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'p2tui-sim-team-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Cell {
  team: string;
  variant: string;
  session: string;
  metrics: { answer: string; scores: Record<string, number>; netFlow: Record<string, string> };
}
interface Out {
  cells: Cell[];
  variants: { team: string; variant: string; metrics: Record<string, { mean: number }> }[];
}

async function rollout(spec: string, db: string): Promise<Out> {
  const r = await runCli(['rollout', 'run', spec, '--json', '--db', join(dir, db)], { cwd: ROOT });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Out;
}

const mean = (out: Out, team: string, variant: string): number =>
  out.variants.find((v) => v.team === team && v.variant === variant)!.metrics['score']!.mean;
const answers = (out: Out, team: string, variant: string): string[] =>
  out.cells.filter((c) => c.team === team && c.variant === variant).map((c) => c.metrics.answer);

const WEATHER = ['Paris: 22 °C, partly cloudy', 'Tokyo: 10 °C, light rain', 'San Francisco: 17 °C, fog'];

describe('the offline P2Engine team demo', () => {
  it('differs by variant for reasons the answers show: delegation, a missing payment tool, style, temperature', async () => {
    const out = await rollout(join(ROOT, 'rollouts/p2engine-team.yaml'), 'team.db');
    const cells = (team: string, variant: string): Cell[] =>
      out.cells.filter((c) => c.team === team && c.variant === variant);
    // Baseline coordinator: both clauses done: every listed city looked up (through agent_helper), and 5 paid.
    for (const c of cells('coordinator', 'v1')) {
      for (const w of WEATHER) expect(c.metrics.answer).toContain(w);
      expect(c.metrics.answer).toMatch(/paid 5, to agent_helper/);
      expect(c.metrics.netFlow['agent_helper']).toBe('5');
    }
    // One sentence: one line with the same findings, so the rubric's "concise" scores it above the baseline.
    for (const a of answers(out, 'coordinator', 'v2')) {
      expect(a).not.toContain('\n');
      for (const w of WEATHER) expect(a).toContain(w);
    }
    expect(mean(out, 'coordinator', 'v2')).toBeGreaterThan(mean(out, 'coordinator', 'v1'));
    // Formal: signed, longer, a little below the baseline.
    for (const a of answers(out, 'coordinator', 'v3')) expect(a).toMatch(/\nKind regards, agent_alpha\.$/);
    expect(mean(out, 'coordinator', 'v3')).toBeLessThan(mean(out, 'coordinator', 'v1'));
    // Warm: a repeat that skipped a delegation says which clause it did not get to, and scores lower for it.
    const hot = cells('coordinator', 'v4').filter((c) => /I did not get to "/.test(c.metrics.answer));
    expect(hot.length).toBeGreaterThan(0);
    const baseline = cells('coordinator', 'v1')[0]!.metrics.scores['score']!;
    for (const c of hot) expect(c.metrics.scores['score']).toBeLessThan(baseline);
    // Treasurer: checks the balance, then pays 5 units; without transfer_funds it cannot pay and says so.
    for (const c of cells('treasurer', 'v1')) {
      expect(c.metrics.answer).toMatch(/^Balance: agent treasurer, balance 200/);
      expect(c.metrics.answer).toMatch(/paid 5, to agent_helper/);
      expect(c.metrics.netFlow['agent_helper']).toBe('5');
    }
    for (const c of cells('treasurer', 'v2')) {
      expect(c.metrics.answer).toContain(
        'None of my tools covers "transfer 5 units to agent_helper for the weather report".',
      );
      expect(c.metrics.netFlow['agent_helper']).toBe('0');
    }
    expect(mean(out, 'treasurer', 'v2')).toBeLessThan(mean(out, 'treasurer', 'v1') / 2);
  }, 60_000);

  it('two rubrics with opposite criteria rank the same answers in opposite orders, and say why', async () => {
    const team = (name: string, rubric: string): string => `  ${name}:
    initial_message: Get the weather in Paris, Tokyo and San Francisco, then have treasurer transfer 5 units to agent_helper.
    base: { agent_id: agent_alpha }
    variants:
      - { temperature: 0 }
      - { temperature: 0, behavior_template: "You are {{id}}. Answer in one sentence." }
      - { temperature: 0, behavior_template: "You are {{id}}. Answer formally." }
    eval: { evaluator_id: gpt4_judge, metric: score, rubric: "${rubric}" }
`;
    const spec = join(dir, 'opposite.yaml');
    writeFileSync(
      spec,
      `teams:\n${team('brief', 'The answer is brief and to the point.')}` +
        `${team('detailed', 'The answer is detailed and thorough, explaining every step.')}repeats: 1\n` +
        'ledger:\n  balances: { treasurer: 200, agent_helper: 0 }\n',
    );
    const out = await rollout(spec, 'opposite.db');
    // The answers are the same under both rubrics (the variants do not depend on the rubric) …
    for (const v of ['v1', 'v2', 'v3'])
      expect(answers(out, 'brief', v).map(sameRefs)).toEqual(answers(out, 'detailed', v).map(sameRefs));
    const rank = (t: string): string[] => ['v1', 'v2', 'v3'].sort((a, b) => mean(out, t, b) - mean(out, t, a));
    // … and ranked in opposite orders: one sentence, plain, formal (shortest first) against the reverse.
    expect(rank('brief')).toEqual(['v2', 'v1', 'v3']);
    expect(rank('detailed')).toEqual(['v3', 'v1', 'v2']);
    // The criterion's reason says which reading it used.
    const session = out.cells.find((c) => c.team === 'brief' && c.variant === 'v3')!.session;
    const show = await runCli(['eval', 'show', session, '--criteria', '--db', join(dir, 'opposite.db')], { cwd: ROOT });
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/asks for brevity, \d+ words \(scripted judge\)/);
  }, 60_000);
});

/** The same answer in another cell differs only in its payment's ledger reference and offset. */
const sameRefs = (a: string): string => a.replace(/reference e_\w+, offset \d+/g, 'reference …');

describe('"X, then Y" and amounts, through the CLI', () => {
  it('"Check my balance, then transfer 5 units to bob": both done, bob is paid 5', async () => {
    const ws = join(dir, 'ws');
    mkdirSync(join(ws, 'personas'), { recursive: true });
    writeFileSync(
      join(ws, 'personas/payer.yaml'),
      'id: payer\ndescription: Pays people for their work.\ntemperature: 0\ntools: [check_balance, transfer_funds]\nbalance: 100\n',
    );
    writeFileSync(join(ws, 'personas/bob.yaml'), 'id: bob\ndescription: Draws logos.\ntemperature: 0\nbalance: 0\n');
    expect((await runCli(['ledger', 'init'], { cwd: ws })).code).toBe(0);
    const r = await runCli(['run', 'payer', 'Check my balance, then transfer 5 units to bob for the logo', '--json'], {
      cwd: ws,
    });
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout) as {
      answer: string;
      entries: { kind: string; tool?: string; args?: Record<string, unknown> }[];
    };
    const calls = run.entries.filter((e) => e.kind === 'tool_call').map((e) => ({ tool: e.tool, args: e.args }));
    expect(calls).toEqual([
      { tool: 'check_balance', args: {} },
      { tool: 'transfer_funds', args: expect.objectContaining({ to: 'bob', amount: 5 }) },
    ]);
    expect(run.answer).toMatch(/agent payer, balance \d+/);
    expect(run.answer).toMatch(/paid 5, to bob/);
    expect(run.answer).toContain('5 units');
    const balance = await runCli(['ledger', 'balance', '--json'], { cwd: ws });
    expect(balance.code, balance.stderr).toBe(0);
    expect(balance.stdout).toMatch(/"bob"[\s\S]*?"5"/);
  }, 60_000);
});
